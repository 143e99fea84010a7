"""What the Beam tests of the stages share: the runner's options, a small clip, element builders and a scripted
detector that stands in for the models."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
from apache_beam.ml.inference.base import ModelHandler, PredictionResult
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.sample import write_clip
from schemas.codes import IdentitySource
from schemas.elements import MediaInfo, MediaSource, Segment, StreamInfo
from transforms.logic.identity import media_id

STREAM = StreamInfo(frames=40, fps=Fraction(10), width=96, height=72, has_audio=False)
"""The stream of the ``segment_of`` segments: 40 frames of 96x72 at 10 fps."""


class _ScriptedModel:
    """Stands in for the detector model (Shared needs a weak-referenceable object)."""


class ScriptedHandler(ModelHandler):
    """A fake detector: one face at a fixed box in every third frame of the clip (frame i is grey level 6 i)."""

    def load_model(self):
        return _ScriptedModel()

    def run_inference(self, batch, model, inference_args=None):
        face = [((5.0, 6.0, 7.0, 8.0), 0.8)]
        return [
            PredictionResult(frame.shape, (face if round(frame.mean() / 6) % 3 == 0 else [], [], 0))
            for frame, *_ in batch
        ]


def _media(camera="cam1", uri="/in/a.mp4") -> MediaInfo:
    return MediaInfo(MediaSource(uri, uri, "video"), media_id(uri), "sha", camera, None, IdentitySource.MANIFEST)


def _segment(index, start, end, media=None, count=2) -> Segment:
    return Segment(media or _media(), STREAM, index, count, start, end, None, None)


@pytest.fixture
def beam_options() -> PipelineOptions:
    """The options of a TestPipeline on Beam's in-process runner."""
    return PipelineOptions(["--runner=FnApiRunner"])


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> str:
    """A 40-frame 96x72 clip at 10 fps, a keyframe every 10 frames; frame i is grey level 6 i."""
    path = str(tmp_path_factory.mktemp("clips") / "a.mp4")
    write_clip([np.full((72, 96, 3), i * 6, np.uint8) for i in range(40)], path, gop=10)
    return path


@pytest.fixture(scope="session")
def media_info() -> Callable[..., MediaInfo]:
    """``media_info(camera="cam1", uri="/in/a.mp4")``: an identified input (camera from the manifest)."""
    return _media


@pytest.fixture(scope="session")
def segment_of() -> Callable[..., Segment]:
    """``segment_of(index, start, end, media=None, count=2)``: frames [start, end) of an input of 40 frames."""
    return _segment


@pytest.fixture
def scripted_handler() -> ScriptedHandler:
    """A ModelHandler for DetectFaces that finds one face, at a fixed box, in every third frame of ``clip``."""
    return ScriptedHandler()
