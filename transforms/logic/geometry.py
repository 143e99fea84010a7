"""Box arithmetic in pixel coordinates: padding, clipping, overlap, detector tiles, polygons."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.elements import Box


def pad_box(box: Box, pad_x: float, pad_y: float) -> Box:
    """Grow a box by a fraction of its size on every side (pad_x=0.25 adds a quarter width left and right)."""
    x, y, w, h = box
    return (x - w * pad_x, y - h * pad_y, w * (1 + 2 * pad_x), h * (1 + 2 * pad_y))


def pad_head(box: Box, pad_x: float, pad_y: float) -> Box:
    """Grow a face box to hold its head: ``pad_x`` of its longer side left and right, ``pad_y`` of its height above
    and below. A face turned towards profile has a box narrower than tall, its head does not: the back of the head
    and the ear lie beside the box, on a side the box does not tell."""
    x, y, w, h = box
    side = max(w, h) * pad_x
    return (x - side, y - h * pad_y, w + 2 * side, h * (1 + 2 * pad_y))


def clip_box(box: Box, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Integer pixel rectangle (x0, y0, x1, y1) of a box inside the frame, rounded outwards; None if outside."""
    x, y, w, h = box
    x0, y0 = max(0, int(x)), max(0, int(y))
    x1, y1 = min(width, int(-(-(x + w) // 1))), min(height, int(-(-(y + h) // 1)))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def centre_distance(a: Box, b: Box) -> float:
    """Distance between box centres, in units of the larger box side of the two."""
    dx = (a[0] + a[2] / 2) - (b[0] + b[2] / 2)
    dy = (a[1] + a[3] / 2) - (b[1] + b[3] / 2)
    return (dx * dx + dy * dy) ** 0.5 / max(a[2], a[3], b[2], b[3], 1e-9)


def interpolate(a: Box, b: Box, t: float) -> Box:
    """Linear interpolation between two boxes, t in [0, 1]."""
    return tuple(p + (q - p) * t for p, q in zip(a, b))  # type: ignore[return-value]


def tiles(width: int, height: int, size: int, overlap: float) -> list[tuple[int, int, int, int]]:
    """Square tiles (x, y, w, h) covering a frame, neighbours overlapping by a share of the tile.

    The overlap must exceed the largest face a tile is meant to find, so every such face lies whole
    inside at least one tile. A side shorter than the tile gets a single, shorter tile.
    """
    if not 0 <= overlap < 1:
        raise ValueError(f"tile overlap must be in [0, 1), got {overlap}")
    step = max(1, int(size * (1 - overlap)))

    def starts(extent: int) -> list[int]:
        if extent <= size:
            return [0]
        points = list(range(0, extent - size + 1, step))
        if points[-1] + size < extent:
            points.append(extent - size)
        return points

    return [(x, y, min(size, width), min(size, height)) for y in starts(height) for x in starts(width)]


def merge_overlapping(boxes: list[tuple[Box, float]], threshold: float) -> list[tuple[Box, float]]:
    """Merge boxes that overlap by more than ``threshold`` IoU (or hold one another's centre) into their union.

    Tiles and scales report one face several times; the union keeps every pixel any of them covered,
    with the best score of the group.
    """
    merged: list[tuple[Box, float]] = []
    for box, score in sorted(boxes, key=lambda item: -item[1]):
        for i, (other, best) in enumerate(merged):
            if iou(box, other) > threshold or contains_centre(other, box) or contains_centre(box, other):
                merged[i] = (union(box, other), best)
                break
        else:
            merged.append((box, score))
    return merged


def union(a: Box, b: Box) -> Box:
    """The smallest box holding both boxes."""
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


def without_faces(heads: list[tuple[Box, float]], faces: list[tuple[Box, float]]) -> list[tuple[Box, float]]:
    """The head boxes that hold no face box's centre: where a face detector saw the face, its tighter box is the one
    redacted; a head with no face found in it (turned away, looking down) is redacted whole."""
    return [(head, score) for head, score in heads if not any(contains_centre(head, face) for face, _ in faces)]


def contains_centre(outer: Box, inner: Box) -> bool:
    """Whether ``outer`` holds the centre of ``inner``."""
    cx, cy = centre(inner)
    return outer[0] <= cx <= outer[0] + outer[2] and outer[1] <= cy <= outer[1] + outer[3]


def square_around(box: Box, grow: float, least: int, width: int, height: int) -> tuple[int, int, int, int]:
    """A square (x, y, w, h) of the frame centred on ``box`` as far as the frame allows, holding the box grown by
    ``grow`` of its longer side on every side, ``least`` pixels at the least. Cut to the frame where the frame is
    smaller than the square."""
    x, y, w, h = box
    side = max(least, round(max(w, h) * (1 + 2 * grow)))
    left = min(max(0, round(x + w / 2 - side / 2)), max(0, width - side))
    top = min(max(0, round(y + h / 2 - side / 2)), max(0, height - side))
    return left, top, min(side, width), min(side, height)


def centre(box: Box) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def inside_polygon(point: tuple[float, float], polygon: Sequence[tuple[float, float]]) -> bool:
    """Whether a point lies inside a simple polygon (even-odd rule; points on an edge may go either way)."""
    x, y = point
    inside = False
    for (x0, y0), (x1, y1) in zip(polygon, [*polygon[1:], polygon[0]]):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside
