"""Watch a landing zone (and an events prefix) for new complete files, each version of a file emitted once."""

from __future__ import annotations

import threading
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.watch import PollFn, PollResult, Watch, after_total_of
from apache_beam.utils.timestamp import Timestamp

from schemas.codes import ArtifactKind
from transforms.logic.landing import Listed, Settle, notification_uri, version_key
from transforms.services import storage
from transforms.services.table_files import read_table

RECORDING = "recording"
EVENTS = "events"

STOP = threading.Event()
"""Set (by the launching process's SIGINT/SIGTERM handler) to end the watch: the job then drains and exits."""


def done_before(output: str) -> dict[str, float]:
    """Raw inputs earlier runs finished, with when their run started: what a restarted job must not redo."""
    catalog = read_table(output, "catalog")
    if catalog is None:
        return {}
    done: dict[str, float] = {}
    for row in catalog.select(["kind", "uri", "created_at"]).to_pylist():
        if row["kind"] == ArtifactKind.RAW_INPUT.value:
            done[row["uri"]] = max(done.get(row["uri"], 0.0), row["created_at"].timestamp())
    return done


def is_glob(prefix: str) -> bool:
    return any(c in prefix for c in "*?[")


def pattern_of(prefix: str) -> str:
    """Everything below a landing prefix, sub-folders included; a glob is taken as given."""
    return prefix if is_glob(prefix) else storage.join(prefix, "**")


class PollLanding(PollFn):
    """One poll of one pattern: the files that have settled since the last poll, as (kind, Listed) pairs.

    It sleeps ``interval`` itself because the local runner re-polls at once, ignoring the requested delay
    (shared/notes/beam-runtime-facts.md). The watch ends, and the job drains, when ``STOP`` is set or the deadline
    passes. The watermark trails the poll's wall-clock time by ``delay``, the longest a recording is expected to
    take from its start to landing, so its event time (its start) is usually still on time for its window.
    """

    def __init__(
        self, kinds: dict[str, str], settle: float, interval: float, delay: float, deadline: float | None, output: str
    ):
        self._kinds = kinds
        self._settle = settle
        self._interval = interval
        self._delay = delay
        self._deadline = deadline
        self._output = output
        self._settles: dict[str, Settle] = {}

    def __call__(self, pattern: str) -> PollResult[tuple]:
        if not self._settles:
            # Read where it runs, not pickled into the graph: a catalog of millions of inputs is no graph payload.
            done = done_before(self._output)
            self._settles = {p: Settle(self._settle, dict(done)) for p in self._kinds}
        time.sleep(self._interval)
        now = time.time()
        if STOP.is_set() or (self._deadline is not None and now >= self._deadline):
            return PollResult.complete([], timestamp=Timestamp.of(now))
        listing = [
            Listed(m.path, m.size_in_bytes, m.last_updated_in_seconds)
            for m in FileSystems.match([pattern])[0].metadata_list
        ]
        ready = self._settles[pattern].ready(listing, now)
        kind = self._kinds[pattern]
        return PollResult.incomplete([(kind, item) for item in ready], timestamp=Timestamp.of(now)).with_watermark(
            Timestamp.of(now - self._delay)
        )


def _key(output: tuple) -> str:
    return version_key(output[1])


class WatchLanding(beam.PTransform):
    """New complete files under the landing prefix and the events prefix, as (kind, Listed) pairs.

    Files earlier runs finished (the catalog under ``output`` says which, and when) are not emitted again unless
    they were modified since. ``max_seconds`` bounds the watch on runners where no signal can reach it.
    """

    def __init__(
        self,
        landing: str | None,
        events: str | None,
        settle: float,
        interval: float,
        delay: float,
        deadline: float | None,
        output: str,
        max_seconds: float,
    ):
        super().__init__()
        self._kinds = {pattern_of(prefix): kind for prefix, kind in ((landing, RECORDING), (events, EVENTS)) if prefix}
        self._poll = PollLanding(self._kinds, settle, interval, delay, deadline, output)
        self._interval = interval
        self._max_seconds = max_seconds

    def expand(self, pbegin):
        # One Watch for both prefixes: the local runner runs a second source only after the first one ends.
        return (
            pbegin
            | "Prefixes" >> beam.Create(sorted(self._kinds))
            | "Poll"
            >> Watch(
                self._poll,
                poll_interval=self._interval,
                termination=after_total_of(self._max_seconds),
                output_key_fn=_key,
            )
            | "Files" >> beam.Values()
        )


def _announced(message) -> list[tuple]:
    uri = notification_uri(dict(message.attributes or {}), message.data)
    if uri is None:
        return []
    match = FileSystems.match([uri])[0].metadata_list
    return [(RECORDING, Listed(m.path, m.size_in_bytes, m.last_updated_in_seconds)) for m in match]


class ReadNotifications(beam.PTransform):
    """New recordings announced by Cloud Storage notifications on a Pub/Sub subscription (Dataflow), as
    (kind, Listed) pairs like WatchLanding's. Objects are finalized whole, so there is nothing to settle."""

    def __init__(self, subscription: str):
        super().__init__()
        self._subscription = subscription

    def expand(self, pbegin):
        return (
            pbegin
            | "Read Notifications" >> beam.io.ReadFromPubSub(subscription=self._subscription, with_attributes=True)
            | "Announced Objects" >> beam.FlatMap(_announced)
        )


def of_kind(pairs, kind: str, label: str):
    """The files of one kind; a filter, not a tagged output, so every runner routes them right."""
    return pairs | label >> beam.FlatMap(lambda pair: [pair[1]] if pair[0] == kind else [])
