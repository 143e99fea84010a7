"""Tagged outputs that every runner routes right: a DoFn's outputs travel as (tag, value) pairs, one filter per tag.

Beam 2.77's DaskRunner hands every element of a multi-output ParDo to every tag (shared/notes/beam-runtime-facts.md),
and ``with_exception_handling`` is built on tagged outputs too, so Veil uses neither: ``SplitByTag`` runs the DoFn
inside an ordinary single-output ParDo and splits its pairs with one FlatMap per tag.
"""

from __future__ import annotations

from collections.abc import Callable

import apache_beam as beam

OnError = Callable[[object, Exception], tuple[str, object]]
"""Turns the element a DoFn failed on, and the exception, into the (tag, value) to emit instead of its outputs."""


class PairsFn(beam.DoFn):
    """Run ``fn`` per element and emit its outputs as (tag, value) pairs: main outputs under ``main``.

    ``fn`` takes the element alone (no DoFn parameters) and emits nothing from finish_bundle. Its outputs for an
    element are buffered, so one that fails half-way emits only what ``on_error`` makes of it, as
    ``with_exception_handling`` does by default.
    """

    def __init__(self, fn: beam.DoFn, main: str, tags: tuple[str, ...], on_error: OnError | None):
        self._fn = fn
        self._main = main
        self._tags = frozenset(tags)
        self._on_error = on_error
        # Catching nothing when there is no handler: an unexpected error then fails the run, as before.
        self._catch = Exception if on_error else ()

    def setup(self) -> None:
        self._fn.setup()

    def start_bundle(self) -> None:
        self._fn.start_bundle()

    def process(self, element):
        try:
            outputs = list(self._fn.process(element) or ())
        except self._catch as err:
            yield self._on_error(element, err)
            return
        for out in outputs:
            if not isinstance(out, beam.pvalue.TaggedOutput):
                yield self._main, out
            elif out.tag in self._tags:
                yield out.tag, out.value
            else:
                raise ValueError(f"{type(self._fn).__name__} emitted undeclared output tag {out.tag!r}")

    def finish_bundle(self) -> None:
        self._fn.finish_bundle()

    def teardown(self) -> None:
        self._fn.teardown()


def _only(pair: tuple[str, object], tag: str) -> list:
    return [pair[1]] if pair[0] == tag else []


class SplitByTag(beam.PTransform):
    """Apply a DoFn that yields main outputs and ``TaggedOutput``s; returns its outputs by tag (main included)."""

    def __init__(self, fn: beam.DoFn, main: str, tags: tuple[str, ...], on_error: OnError | None = None):
        super().__init__()
        self.pairs = PairsFn(fn, main, tags, on_error)
        self._names = (main, *tags)

    def expand(self, pcoll):
        pairs = pcoll | "Run" >> beam.ParDo(self.pairs)
        return {tag: pairs | f"Only {tag}" >> beam.FlatMap(_only, tag) for tag in self._names}
