"""Box arithmetic and detector tiling."""

import pytest

from transforms.logic.geometry import clip_box, iou, merge_overlapping, pad_box, pad_head, tiles, union, without_faces


@pytest.mark.parametrize(
    "box, pad, expected",
    [
        ((10, 10, 20, 40), (0.0, 0.0), (10, 10, 20, 40)),
        ((10, 10, 20, 40), (0.5, 0.25), (0, 0, 40, 60)),
    ],
)
def test_pad_box_grows_every_side_by_a_share_of_the_size(box, pad, expected):
    assert pad_box(box, *pad) == pytest.approx(expected)


def test_a_profile_face_is_padded_as_wide_as_its_head_a_frontal_one_as_before():
    profile = (100, 100, 20, 30)  # narrower than tall: the back of the head lies beside the box, either side
    assert pad_head(profile, 0.3, 0.4) == pytest.approx((91, 88, 38, 54))
    assert pad_head((100, 100, 30, 20), 0.3, 0.4) == pytest.approx(pad_box((100, 100, 30, 20), 0.3, 0.4))
    assert pad_head((100, 100, 30, 30), 0.3, 0.4) == pytest.approx(pad_box((100, 100, 30, 30), 0.3, 0.4))


@pytest.mark.parametrize(
    "box, expected",
    [
        ((10.2, 10.7, 5.0, 5.0), (10, 10, 16, 16)),
        ((-5, -5, 10, 10), (0, 0, 5, 5)),
        ((95, 45, 20, 20), (95, 45, 100, 50)),
        ((200, 200, 5, 5), None),
    ],
)
def test_clip_box_rounds_outwards_and_stays_in_the_frame(box, expected):
    assert clip_box(box, 100, 50) == expected


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (5, 0, 10, 10), 50 / 150),
        ((0, 0, 10, 10), (20, 20, 5, 5), 0.0),
    ],
)
def test_iou(a, b, expected):
    assert iou(a, b) == pytest.approx(expected)


def test_tiles_cover_the_frame_and_every_face_smaller_than_the_overlap_lies_whole_in_one():
    width, height, size, overlap = 1000, 600, 256, 0.25
    grid = tiles(width, height, size, overlap)
    assert all(w == size and h == size for _, _, w, h in grid)
    assert max(x + w for x, _, w, _ in grid) == width and max(y + h for _, y, _, h in grid) == height
    face = int(size * overlap)
    for fx in range(0, width - face, 7):
        for fy in range(0, height - face, 11):
            assert any(x <= fx and fx + face <= x + w and y <= fy and fy + face <= y + h for x, y, w, h in grid)


def test_a_frame_smaller_than_a_tile_is_one_tile():
    assert tiles(100, 80, 256, 0.25) == [(0, 0, 100, 80)]


def test_tile_overlap_out_of_range_is_refused():
    with pytest.raises(ValueError):
        tiles(100, 100, 64, 1.0)


def test_overlapping_reports_of_one_face_merge_into_their_union_with_the_best_score():
    merged = merge_overlapping([((10, 10, 20, 20), 0.5), ((12, 11, 20, 22), 0.9), ((100, 100, 10, 10), 0.4)], 0.3)
    assert merged == [(union((12, 11, 20, 22), (10, 10, 20, 20)), 0.9), ((100, 100, 10, 10), 0.4)]


def test_a_box_inside_another_merges_with_it():
    assert merge_overlapping([((0, 0, 100, 100), 0.8), ((40, 40, 10, 10), 0.6)], 0.3) == [((0, 0, 100, 100), 0.8)]


def test_a_head_holding_a_found_face_gives_way_to_the_face_and_an_empty_one_stays():
    face = ((110.0, 110.0, 20.0, 20.0), 0.9)
    head_with_face = ((90.0, 90.0, 60.0, 60.0), 0.5)
    turned_away = ((300.0, 90.0, 60.0, 60.0), 0.5)
    assert without_faces([head_with_face, turned_away], [face]) == [turned_away]
    assert without_faces([head_with_face], []) == [head_with_face]
