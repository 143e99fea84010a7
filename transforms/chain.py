"""The anonymize chain: every stage, in order, from an input spec to each input's video and table rows."""

from __future__ import annotations

from collections import defaultdict

import apache_beam as beam

from transforms.detection import DetectFaces
from transforms.encoding import JoinSegments
from transforms.ingest import ExpandInputs, IdentifyMedia
from transforms.policy import ApplyPolicy, ScreenCameras
from transforms.redaction import RedactFrames
from transforms.segments import SplitSegments
from transforms.services import layout
from transforms.services.settings import JobSettings
from transforms.stage import Stage, merged
from transforms.tracking import TrackFaces

SPEC = "spec"
"""The stream the chain starts from: input specs (a file, folder, glob or archive each)."""


def anonymize_stages(s: JobSettings, streaming: bool = False) -> tuple[Stage, ...]:
    """The stages of the chain in order, the one definition the batch graph and the streaming job both run.

    A streaming job looks the ledger's cancellations up again per input: it runs for days while account events
    land, and an account cancelled meanwhile keeps nothing from then on."""
    return (
        ExpandInputs(layout.staging_folder(s.output, s.run_id), s.limits),
        IdentifyMedia(s.manifest, s.template, s.done, s.settings_hash, s.progress),
        ScreenCameras(s.registry, s.policy),
        SplitSegments(s.image_fps, s.segment_frames, s.progress),
        DetectFaces(s.detector, progress=s.progress),
        TrackFaces(s.tracker),
        ApplyPolicy(s.registry, s.policy, s.tracker, (s.output, s.keystore) if streaming else None),
        RedactFrames(s.mode, s.encoder, layout.parts_folder(s.output, s.run_id), s.audit, s.keystore, s.progress),
        JoinSegments(s.output, s.mode.value, s.settings_hash, s.keep_audio, s.keystore, s.progress),
    )


class AnonymizeInputs(beam.PTransform):
    """Take input specs through every stage of the chain; returns every stream the stages wrote, by name (``media``,
    ``face_tracks``, ``restricted``, ``leak_audit``, ``skipped`` and ``quarantine`` among them)."""

    def __init__(self, stages: tuple[Stage, ...]):
        super().__init__()
        self._stages = stages

    def expand(self, specs):
        streams: dict[str, list] = defaultdict(list, {SPEC: [specs]})
        for stage in self._stages:
            taken = {name: merged(streams[name], f"{stage.label} {name}") for name in stage.reads}
            for name, pcoll in (taken | stage).items():
                streams[name].append(pcoll)
        return {name: merged(pcolls, f"Chain {name}") for name, pcolls in streams.items() if name != SPEC}
