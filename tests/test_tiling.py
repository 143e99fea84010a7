"""Tiles are rescanned only when their content changed; unchanged tiles carry their detections forward."""
import numpy as np
import pytest

from transforms.logic.tiling import CELL, ChangeGate, GateConfig, cell_means

RECTS = [(0, 0, 32, 32), (32, 0, 32, 32)]
FACE = ((40.0, 4.0, 10.0, 10.0), 0.9)


def _frame(value_left=100, value_right=100):
    gray = np.zeros((32, 64), np.uint8)
    gray[:, :32] = value_left
    gray[:, 32:] = value_right
    return cell_means(gray)


def test_every_tile_is_scanned_first_then_only_changed_ones():
    gate = ChangeGate(RECTS, GateConfig(threshold=4, refresh=100))
    cells = _frame()
    assert gate.due(cells) == [0, 1]
    gate.record(0, [], cells)
    gate.record(1, [FACE], cells)
    assert gate.due(_frame(value_left=103)) == []
    assert gate.carried(set()) == [FACE]
    assert gate.due(_frame(value_left=110)) == [0]


def test_slow_drift_is_measured_against_the_last_scan_not_the_last_frame():
    gate = ChangeGate(RECTS[:1], GateConfig(threshold=4, refresh=100))
    gate.due(_frame())
    gate.record(0, [], _frame())
    assert [gate.due(_frame(value_left=100 + step)) for step in (2, 4, 6)] == [[], [], [0]]


def test_a_small_change_inside_one_cell_triggers_the_tile():
    gate = ChangeGate(RECTS[:1], GateConfig(threshold=4, refresh=100))
    base = np.full((32, 64), 100, np.uint8)
    gate.due(cell_means(base))
    gate.record(0, [], cell_means(base))
    face = base.copy()
    face[8:8 + CELL, 8:8 + CELL] = 160
    assert gate.due(cell_means(face)) == [0]


def test_refresh_rescans_an_unchanged_tile():
    gate = ChangeGate(RECTS[:1], GateConfig(threshold=4, refresh=3))
    cells = _frame()
    gate.due(cells)
    gate.record(0, [], cells)
    assert [gate.due(cells) for _ in range(3)] == [[], [], [0]]


def test_threshold_zero_scans_every_tile_every_frame():
    gate = ChangeGate(RECTS, GateConfig(threshold=0, refresh=100))
    cells = _frame()
    gate.due(cells)
    gate.record(0, [], cells)
    gate.record(1, [], cells)
    assert gate.due(cells) == [0, 1]


def test_bad_gate_settings_are_refused():
    with pytest.raises(ValueError):
        GateConfig(threshold=-1)
