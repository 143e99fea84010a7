"""ExpandInputs and IdentifyMedia in a TestPipeline: what an input spec names, and each input's camera and start."""

import hashlib
import os
import zipfile

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.codes import IdentitySource, QuarantineReason
from schemas.elements import MediaSource
from transforms.ingest import ExpandInputs, IdentifyMedia
from transforms.logic.archive import ArchiveLimits
from transforms.logic.identity import compile_template


def test_expand_inputs_finds_videos_frame_folders_and_archive_members_and_refuses_the_rest(
    clip, tmp_path, beam_options
):
    root = tmp_path / "in"
    (root / "cam1").mkdir(parents=True)
    (root / "cam2" / "frames").mkdir(parents=True)
    (root / "cam1" / "a.mp4").write_bytes(open(clip, "rb").read())
    for name in ("002.jpg", "001.jpg"):
        (root / "cam2" / "frames" / name).write_bytes(b"jpeg")
    (root / "notes.txt").write_text("hello")
    with zipfile.ZipFile(root / "more.zip", "w") as archive:
        archive.writestr("cam3/b.mp4", b"video")
        archive.writestr("../escape.mp4", b"video")
    staging = str(tmp_path / "staging")
    with TestPipeline(options=beam_options) as p:
        out = {"spec": p | beam.Create([str(root)])} | ExpandInputs(staging, ArchiveLimits())
        assert_that(
            out["sources"]
            | beam.Map(
                lambda s: (
                    os.path.relpath(s.origin_uri.replace("!", "/"), root),
                    s.kind,
                    [os.path.basename(f) for f in s.frame_uris],
                )
            ),
            equal_to(
                [
                    ("cam1/a.mp4", "video", []),
                    ("cam2/frames", "frames", ["001.jpg", "002.jpg"]),
                    ("more.zip/cam3/b.mp4", "video", []),
                ]
            ),
            label="Sources",
        )
        assert_that(
            out["quarantine"] | beam.Map(lambda q: (os.path.relpath(q.input_uri, root), q.reason)),
            equal_to(
                [
                    ("notes.txt", QuarantineReason.UNSUPPORTED_FILE),
                    ("more.zip!../escape.mp4", QuarantineReason.UNSAFE_ARCHIVE_PATH),
                ]
            ),
            label="Refused",
        )


def test_identify_media_prefers_manifest_then_template_and_skips_done_inputs(clip, tmp_path, beam_options):
    sources = [
        MediaSource(u, clip, "video")
        for u in ("/in/m.mp4", "/in/camX/2026-11-20/080000.mp4", "/in/done.mp4", "/in/other.mp4")
    ]
    sha = hashlib.sha256(open(clip, "rb").read()).hexdigest()
    done = frozenset({("/in/done.mp4", sha, "h1")})
    template = compile_template("{camera_id}/{date}/{time}.mp4")
    with TestPipeline(options=beam_options) as p:
        out = {"sources": p | beam.Create(sources)} | IdentifyMedia({"m.mp4": ("camM", None)}, template, done, "h1")
        assert_that(
            out["identified"] | beam.Map(lambda m: (m.source.origin_uri, m.camera_id, m.identity_source)),
            equal_to(
                [
                    ("/in/m.mp4", "camM", IdentitySource.MANIFEST),
                    ("/in/camX/2026-11-20/080000.mp4", "camX", IdentitySource.PATH_TEMPLATE),
                    ("/in/other.mp4", None, IdentitySource.UNKNOWN),
                ]
            ),
            label="Media",
        )
        assert_that(out["skipped"], equal_to(["/in/done.mp4"]), label="Skipped")
