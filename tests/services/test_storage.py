"""Paths on any filesystem: containment and atomic publication."""

import os

import pytest

from transforms.services import storage


@pytest.mark.parametrize(
    "folder, path, expected",
    [
        ("/data/in", "/data/in/out", True),
        ("/data/in/", "/data/in", True),
        ("/data/in", "/data/input", False),
        ("/data/in", "/data", False),
        ("gs://b/in", "gs://b/in/out", True),
        ("gs://b/in", "gs://b/inx", False),
        ("gs://b/in", "/b/in/out", False),
    ],
)
def test_contains(folder, path, expected):
    assert storage.contains(folder, path) is expected


def test_publish_replaces_a_file_whole_and_leaves_no_temporary(tmp_path):
    target = str(tmp_path / "a" / "b.bin")
    storage.publish_bytes(b"first", target)
    storage.publish_bytes(b"second", target)
    assert open(target, "rb").read() == b"second"
    assert os.listdir(tmp_path / "a") == ["b.bin"]
