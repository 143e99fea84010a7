"""Which landed files are ready: settled, not in progress, not done before (pure logic, no Beam)."""

import pytest

from transforms.logic.landing import Listed, Settle, notification_uri, parse_duration, recording_run_id


def test_a_file_is_ready_only_once_two_listings_far_enough_apart_saw_it_unchanged():
    settle = Settle(seconds=5)
    assert settle.ready([Listed("/l/a.mp4", 100, 1.0)], now=10) == []
    assert settle.ready([Listed("/l/a.mp4", 100, 1.0)], now=12) == []
    assert settle.ready([Listed("/l/a.mp4", 100, 1.0)], now=15) == [Listed("/l/a.mp4", 100, 1.0)]


def test_a_file_still_growing_is_not_ready_until_it_stops():
    settle = Settle(seconds=2)
    for now, size in ((0, 10), (3, 20), (6, 30), (9, 40)):
        assert settle.ready([Listed("/l/a.mp4", size, float(now))], now=now) == []
    assert settle.ready([Listed("/l/a.mp4", 40, 9.0)], now=11) == [Listed("/l/a.mp4", 40, 9.0)]


def test_a_touched_file_of_the_same_size_waits_again():
    settle = Settle(seconds=2)
    settle.ready([Listed("/l/a.mp4", 10, 1.0)], now=0)
    assert settle.ready([Listed("/l/a.mp4", 10, 2.0)], now=3) == []
    assert settle.ready([Listed("/l/a.mp4", 10, 2.0)], now=5) == [Listed("/l/a.mp4", 10, 2.0)]


@pytest.mark.parametrize("name", [".a.mp4", "a.mp4.tmp", "a.mp4.part", "a.MP4.PARTIAL", "a.crdownload"])
def test_files_a_writer_marks_as_in_progress_are_never_taken(name):
    settle = Settle(seconds=0)
    settle.ready([Listed(f"/l/{name}", 1, 1.0)], now=0)
    assert settle.ready([Listed(f"/l/{name}", 1, 1.0)], now=10) == []


def test_a_file_done_before_is_taken_again_only_if_modified_since():
    settle = Settle(seconds=0, done={"/l/a.mp4": 100.0, "/l/b.mp4": 100.0})
    listing = [Listed("/l/a.mp4", 1, 50.0), Listed("/l/b.mp4", 1, 150.0)]
    settle.ready(listing, now=200)
    assert settle.ready(listing, now=201) == [Listed("/l/b.mp4", 1, 150.0)]


def test_memory_follows_the_landing_zone_not_the_age_of_the_job():
    settle = Settle(seconds=1)
    for n in range(1000):
        settle.ready([Listed(f"/l/{n}.mp4", 1, 1.0)], now=n)
    assert len(settle._first_seen) == 1


def test_run_ids_are_stable_for_a_version_and_new_for_a_replaced_file():
    first = recording_run_id("s1", Listed("/l/a.mp4", 10, 1.0))
    assert first == recording_run_id("s1", Listed("/l/a.mp4", 10, 1.0))
    assert first != recording_run_id("s1", Listed("/l/a.mp4", 10, 2.0))
    assert first.startswith("s1-")


@pytest.mark.parametrize(
    "text,seconds", [("90", 90), ("90s", 90), ("10m", 600), ("1.5h", 5400), ("2d", 172800), ("250ms", 0.25)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "-5s", "5w"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_storage_notifications_name_finalized_objects_only():
    attrs = {"eventType": "OBJECT_FINALIZE", "bucketId": "cctv", "objectId": "land/cam-1/a.mp4"}
    assert notification_uri(attrs, b"") == "gs://cctv/land/cam-1/a.mp4"
    assert notification_uri({"eventType": "OBJECT_DELETE", "bucketId": "cctv", "objectId": "a"}, b"") is None
    assert notification_uri({}, b'{"bucket": "cctv", "name": "b.mp4"}') == "gs://cctv/b.mp4"
