"""Archives expand safely: no escaping paths, no links, bounded size."""

import io
import os
import tarfile
import zipfile

import pytest

from schemas.codes import QuarantineReason
from schemas.elements import InputRefused
from transforms.logic.archive import ArchiveLimits, expand, safe_name


@pytest.mark.parametrize(
    "name, expected",
    [
        ("cam1/a.mp4", "cam1/a.mp4"),
        ("./cam1//a.mp4", "cam1/a.mp4"),
        ("../evil.mp4", None),
        ("cam1/../../evil.mp4", None),
        ("/etc/passwd", None),
        ("C:\\evil.mp4", None),
        ("cam1\\..\\..\\evil.mp4", None),
    ],
)
def test_safe_name_refuses_every_escape(name, expected):
    assert safe_name(name) == expected


def _zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)


def test_zip_entries_escaping_the_folder_are_refused_and_the_rest_extracted(tmp_path):
    _zip(tmp_path / "a.zip", [("ok/a.mp4", b"x" * 10), ("../evil.mp4", b"y"), ("/abs.mp4", b"z")])
    members = expand(str(tmp_path / "a.zip"), str(tmp_path / "out"), ArchiveLimits())
    assert [(m.name, m.refused[0] if m.refused else None) for m in members] == [
        ("ok/a.mp4", None),
        ("../evil.mp4", QuarantineReason.UNSAFE_ARCHIVE_PATH),
        ("/abs.mp4", QuarantineReason.UNSAFE_ARCHIVE_PATH),
    ]
    assert open(members[0].path, "rb").read() == b"x" * 10
    assert not (tmp_path / "evil.mp4").exists() and not os.path.exists("/abs.mp4")


def test_tar_symlinks_are_refused(tmp_path):
    with tarfile.open(tmp_path / "a.tar", "w") as tar:
        link = tarfile.TarInfo("cam/link.mp4")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
        data = tarfile.TarInfo("cam/real.mp4")
        data.size = 3
        tar.addfile(data, io.BytesIO(b"abc"))
    members = expand(str(tmp_path / "a.tar"), str(tmp_path / "out"), ArchiveLimits())
    assert [(m.name, m.refused[0] if m.refused else None) for m in members] == [
        ("cam/link.mp4", QuarantineReason.UNSAFE_ARCHIVE_PATH),
        ("cam/real.mp4", None),
    ]


def test_archive_declaring_more_than_the_limit_is_refused_whole_and_leaves_nothing(tmp_path):
    _zip(tmp_path / "bomb.zip", [("a.mp4", b"\0" * 200_000), ("b.mp4", b"\0" * 200_000)])
    with pytest.raises(InputRefused) as caught:
        expand(str(tmp_path / "bomb.zip"), str(tmp_path / "out"), ArchiveLimits(max_total_bytes=300_000))
    assert caught.value.reason is QuarantineReason.ARCHIVE_TOO_LARGE
    assert not (tmp_path / "out").exists()


def test_archive_lying_about_its_sizes_is_stopped_while_extracting(tmp_path):
    path = tmp_path / "liar.zip"
    _zip(path, [("a.mp4", b"\0" * 500_000)])
    data = bytearray(path.read_bytes())
    # Rewrite the declared uncompressed size (central directory) to 1 byte.
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (1).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(InputRefused) as caught:
        expand(str(path), str(tmp_path / "out"), ArchiveLimits(max_total_bytes=100_000))
    assert caught.value.reason in (QuarantineReason.ARCHIVE_TOO_LARGE, QuarantineReason.CORRUPT_ARCHIVE)
    assert not (tmp_path / "out").exists()


def test_garbage_is_a_corrupt_archive(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"not a zip at all")
    with pytest.raises(InputRefused) as caught:
        expand(str(tmp_path / "x.zip"), str(tmp_path / "out"), ArchiveLimits())
    assert caught.value.reason is QuarantineReason.CORRUPT_ARCHIVE
