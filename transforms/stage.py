"""A stage of the anonymize chain, written once and run two ways: as Beam transforms in the batch graph, and
in-process, one landed recording at a time, in the streaming job.

A stage is a list of steps. Each step reads named streams and writes named ones: its DoFn's main outputs go to
``main``, each tagged output to the stream of its tag, so the quarantine records of every step meet in one
``quarantine`` stream. A per-element step runs its DoFn on each element of one stream; a per-input step (``key``
set) gathers every element of one input from the streams it reads and hands the DoFn ``(input, {stream: [...]})``,
which in a graph is a GroupByKey (CoGroupByKey for several streams). On the local runner anything below a GroupByKey
waits for the source to end (shared/notes/beam-runtime-facts.md), which is why streaming runs the steps in-process.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

import apache_beam as beam

from transforms.quarantine import QUARANTINE, guarded
from transforms.redistribute import Redistribute
from transforms.tags import PairsFn, SplitByTag


@dataclasses.dataclass(frozen=True)
class Step:
    """One DoFn of a stage and the streams it reads and writes.

    reads: the stream a per-element step reads, or the streams a per-input step gathers (named as the DoFn sees
        them, each from the stream of the same name unless ``sources`` says otherwise).
    guarded: an unexpected exception quarantines the input instead of failing the run (steps that report their own
        failures downstream, as a Failure on their element, are not guarded).
    spread: in a graph, the step's input is first spread over workers (one process lists; many detect).
    key: for a per-input step, the input (media id) an element belongs to.
    """

    label: str
    fn: beam.DoFn
    reads: tuple[str, ...]
    main: str
    tags: tuple[str, ...] = ()
    guarded: bool = True
    spread: bool = False
    key: Callable[[object], str] | None = None
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def source(self, name: str) -> str:
        return self.sources.get(name, name)

    def pairs(self) -> PairsFn:
        """The step's DoFn emitting (stream, value) pairs, behind its guard when guarded."""
        if self.guarded:
            return guarded(self.fn, self.label, self.main, *self.tags).pairs
        return PairsFn(self.fn, self.main, self.tags, None)

    def apply(self, streams: Mapping[str, list]) -> dict[str, beam.PCollection]:
        """The step in a graph: reads ``streams`` (each a list of PCollections), returns its outputs by stream."""
        read = {name: merged(streams[self.source(name)], f"{self.label} {name}") for name in self.reads}
        if self.key is None:
            (source,) = read.values()
            if self.spread:
                source = source | f"Spread {self.label}" >> Redistribute()
            if self.guarded:
                return source | self.label >> guarded(self.fn, self.label, self.main, *self.tags)
            if self.tags:
                return source | self.label >> SplitByTag(self.fn, self.main, self.tags)
            return {self.main: source | self.label >> beam.ParDo(self.fn)}
        key = self.key
        keyed = {
            name: pcoll | f"Key {self.label} {name}" >> beam.Map(lambda e: (key(e), e)) for name, pcoll in read.items()
        }
        if len(keyed) == 1:
            ((name, pcoll),) = keyed.items()
            grouped = (
                pcoll
                | f"Gather {self.label}" >> beam.GroupByKey()
                | f"Name {self.label}" >> beam.MapTuple(lambda k, values, name=name: (k, {name: list(values)}))
            )
        else:
            grouped = keyed | f"Gather {self.label}" >> beam.CoGroupByKey()
        return Step(self.label, self.fn, ("grouped",), self.main, self.tags, self.guarded).apply({"grouped": [grouped]})


def merged(pcolls: list, label: str):
    return pcolls[0] if len(pcolls) == 1 else tuple(pcolls) | f"All {label}" >> beam.Flatten()


class Stage(beam.PTransform):
    """Steps applied in order to a dict of named PCollections; returns every stream its steps wrote."""

    def __init__(self, *steps: Step):
        super().__init__()
        self.steps = steps

    def default_label(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", " ", type(self).__name__)

    @property
    def reads(self) -> list[str]:
        """The streams the stage takes: those its steps read that none of its own steps writes before."""
        taken, written = [], set()
        for step in self.steps:
            taken += [s for s in map(step.source, step.reads) if s not in written and s not in taken]
            written |= {step.main, *step.tags} | ({QUARANTINE} if step.guarded else set())
        return taken

    def expand(self, streams):
        found: dict[str, list] = defaultdict(list)
        for name, pcoll in streams.items():
            found[name].append(pcoll)
        written: dict[str, list] = defaultdict(list)
        for step in self.steps:
            for name, pcoll in step.apply(found).items():
                found[name].append(pcoll)
                written[name].append(pcoll)
        return {name: merged(pcolls, f"{self.label} {name}") for name, pcolls in written.items()}


class InProcess:
    """The steps of some stages run in this process on the elements of one input spec (one landed file)."""

    def __init__(self, stages: Iterable[Stage]):
        self.steps = [(step, step.pairs()) for stage in stages for step in stage.steps]

    def each(self, method: str) -> None:
        """Call a DoFn lifecycle method (setup, start_bundle, finish_bundle, teardown) of every step."""
        for _, pairs in self.steps:
            getattr(pairs, method)()

    def run(self, streams: Mapping[str, list]) -> dict[str, list]:
        """Every stream the steps wrote, given the elements of the streams they start from."""
        found: dict[str, list] = defaultdict(list, {name: list(values) for name, values in streams.items()})
        for step, pairs in self.steps:
            if step.key is None:
                (name,) = step.reads
                elements = list(found[step.source(name)])
            else:
                inputs: dict[str, dict[str, list]] = {}
                for name in step.reads:
                    for element in found[step.source(name)]:
                        grouped = inputs.setdefault(step.key(element), {n: [] for n in step.reads})
                        grouped[name].append(element)
                elements = list(inputs.items())
            for element in elements:
                for stream, value in pairs.process(element):
                    found[stream].append(value)
        return found
