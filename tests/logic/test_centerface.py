"""CenterFace's output maps decode into boxes in frame pixels."""

import numpy as np
import pytest

from transforms.logic.centerface import decode, input_size


@pytest.mark.parametrize("size, expected", [((384, 216), (384, 224)), ((320, 240), (320, 256)), ((33, 1), (64, 32))])
def test_input_size_rounds_each_side_up_to_32(size, expected):
    assert input_size(*size) == expected


def test_a_hot_cell_decodes_into_a_box_centred_on_it_scaled_to_the_frame():
    heat = np.zeros((8, 8), np.float32)
    heat[2, 3] = 0.7
    scale = np.zeros((2, 8, 8), np.float32)
    scale[:, 2, 3] = np.log(2.0)  # 2 cells = 8 px tall and wide in the network input
    offset = np.zeros((2, 8, 8), np.float32)
    found = decode(heat, scale, offset, 0.5, net_size=(32, 32), frame_size=(64, 64))
    # centre (3.5 * 4, 2.5 * 4) = (14, 10) in the net; box 8x8 from (10, 6); frame is twice the net size.
    assert found == [((20.0, 12.0, 16.0, 16.0), pytest.approx(0.7))]


def test_cells_under_the_threshold_give_nothing():
    heat = np.full((4, 4), 0.05, np.float32)
    assert decode(heat, np.zeros((2, 4, 4)), np.zeros((2, 4, 4)), 0.1, (16, 16), (16, 16)) == []
