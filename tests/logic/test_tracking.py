"""Tracks link detections across frames and cover a face where the detector missed it."""

import pytest

from schemas.elements import Detection
from transforms.logic.tracking import TrackerConfig, link_tracks, track_regions

NO_PAD = TrackerConfig(pad_x=0, pad_y=0)


def det(frame, x, y=0, w=10, h=10, score=0.9):
    return Detection(frame, (x, y, w, h), score)


def test_two_faces_moving_side_by_side_keep_their_own_tracks():
    dets = [det(f, 10 + f) for f in range(5)] + [det(f, 100 - f) for f in range(5)]
    tracks = link_tracks(dets, NO_PAD)
    assert [[d.box[0] for d in t.detections] for t in tracks] == [[10, 11, 12, 13, 14], [100, 99, 98, 97, 96]]
    assert [t.track_id for t in tracks] == [0, 1]


def test_a_track_survives_a_gap_up_to_max_gap_and_splits_beyond():
    config = TrackerConfig(max_gap=3, pad_x=0, pad_y=0)
    assert len(link_tracks([det(0, 10), det(4, 10)], config)) == 1
    assert len(link_tracks([det(0, 10), det(5, 10)], config)) == 2


def test_a_far_jump_starts_a_new_track():
    assert len(link_tracks([det(0, 0), det(1, 200)], NO_PAD)) == 2


def test_track_ids_follow_first_appearance():
    tracks = link_tracks([det(3, 50), det(0, 0), det(1, 1)], NO_PAD)
    assert [(t.track_id, t.first_frame) for t in tracks] == [(0, 0), (1, 3)]


def test_missed_frames_between_detections_are_covered_by_interpolated_boxes():
    (track,) = link_tracks([det(0, 0, w=40, h=40), det(4, 40, w=40, h=40)], NO_PAD)
    regions = track_regions(track, TrackerConfig(hold=0, lead=0, pad_x=0, pad_y=0), frame_count=10)
    assert sorted(regions) == [0, 1, 2, 3, 4]
    assert regions[2] == pytest.approx((20, 0, 40, 40))


def test_interpolated_boxes_never_shrink_below_the_nearer_detection():
    (track,) = link_tracks([det(0, 0, w=10, h=10), det(2, 0, w=30, h=30)], NO_PAD)
    regions = track_regions(track, TrackerConfig(hold=0, lead=0, pad_x=0, pad_y=0), frame_count=3)
    assert regions[1][2] >= 20 and regions[1][3] >= 20


def test_cover_holds_after_the_last_detection_and_leads_before_the_first_within_the_video():
    (track,) = link_tracks([det(2, 0), det(3, 0)], NO_PAD)
    regions = track_regions(track, TrackerConfig(hold=4, lead=5, pad_x=0, pad_y=0), frame_count=6)
    assert sorted(regions) == [0, 1, 2, 3, 4, 5]


def test_cover_is_padded():
    (track,) = link_tracks([det(0, 100, 100, 10, 20)], NO_PAD)
    regions = track_regions(track, TrackerConfig(hold=0, lead=0, pad_x=0.5, pad_y=0.25), frame_count=1)
    assert regions[0] == pytest.approx((90, 95, 30, 30))  # a narrow box: pad_x is of its longer side


def test_negative_settings_are_refused():
    with pytest.raises(ValueError):
        TrackerConfig(hold=-1)
