"""Which files of a landing zone are ready: complete (size and time unchanged for a while) and not done before."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import posixpath
import re

IN_PROGRESS = re.compile(r"(^\.|\.(tmp|part|partial|crdownload)$)", re.IGNORECASE)
"""Names writers give files they are still writing (hidden, or a temporary suffix): never picked up."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in '90', '90s', '10m', '1.5h' or '2d'; raises ValueError for anything else or a negative span."""
    found = _DURATION.match(str(text))
    if not found:
        raise ValueError(f"not a duration: {text!r} (use e.g. 60s, 10m, 1h)")
    return float(found.group(1)) * _UNIT_SECONDS[found.group(2) or "s"]


@dataclasses.dataclass(frozen=True)
class Listed:
    """A file as one listing of the landing zone saw it."""

    path: str
    size: int
    modified: float


@dataclasses.dataclass
class Settle:
    """Tells complete files from ones still being written, across successive listings.

    A file is ready once two listings at least ``seconds`` apart saw it with the same size and modification time
    (a writer that appends moves one or the other). ``done`` maps paths an earlier
    run finished to when it finished: such a file is ready again only if it was modified after that.
    """

    seconds: float
    done: dict[str, float] = dataclasses.field(default_factory=dict)
    _first_seen: dict[str, tuple[int, float, float]] = dataclasses.field(default_factory=dict)

    def ready(self, listing: list[Listed], now: float) -> list[Listed]:
        found = []
        current = set()
        for item in listing:
            if IN_PROGRESS.search(posixpath.basename(item.path)):
                continue
            current.add(item.path)
            if item.path in self.done and item.modified <= self.done[item.path]:
                continue
            seen = self._first_seen.get(item.path)
            if seen is None or seen[:2] != (item.size, item.modified):
                self._first_seen[item.path] = (item.size, item.modified, now)
                continue
            if now - seen[2] >= self.seconds:
                found.append(item)
        # Forget files that went away, so memory follows the landing zone, not the job's age.
        for gone in set(self._first_seen) - current:
            del self._first_seen[gone]
        return found


def version_key(item: Listed) -> str:
    """Identifies one version of a landed file: a file replaced by a new one at the same path is new."""
    return f"{item.path}\0{item.size}\0{item.modified!r}"


def recording_run_id(stream_id: str, item: Listed) -> str:
    """The run id of one landed file's processing: the same for a retry of it, different for a new version."""
    return f"{stream_id}-{hashlib.sha256(version_key(item).encode()).hexdigest()[:10]}"


def notification_uri(attributes: dict, data: bytes) -> str | None:
    """The object a Cloud Storage Pub/Sub notification announces as finalized, as a gs:// URI; None for other
    events (deletes, metadata updates), which are not new recordings."""
    if attributes.get("eventType", "OBJECT_FINALIZE") != "OBJECT_FINALIZE":
        return None
    bucket, name = attributes.get("bucketId"), attributes.get("objectId")
    if not (bucket and name):
        body = json.loads(data or b"{}")
        bucket, name = body.get("bucket"), body.get("name")
    return f"gs://{bucket}/{name}" if bucket and name else None
