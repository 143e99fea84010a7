"""A Stage is written once and run two ways: as Beam transforms in a TestPipeline, and in-process (InProcess, what the
streaming job runs); both give the same streams, per-input steps gather each input's elements, and a guarded step
that raises quarantines its input instead of failing the run."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.codes import QuarantineReason
from schemas.elements import QuarantineRecord
from transforms.stage import InProcess, Stage, Step

INPUTS = ["a/1", "a/2", "b/3", "broken", "a/5", "b/4"]


class _ParseFn(beam.DoFn):
    """ "a/1" -> ("a", 1) in the main output, odd numbers also tagged ``odd``; anything else raises."""

    def process(self, spec: str):
        name, number = spec.split("/")
        pair = (name, int(number))
        yield pair
        if pair[1] % 2:
            yield beam.pvalue.TaggedOutput("odd", pair)


class _GatherFn(beam.DoFn):
    """One input's numbers and odd numbers, gathered from two streams."""

    def process(self, keyed):
        name, grouped = keyed
        yield name, sorted(n for _, n in grouped["numbers"]), sorted(n for _, n in grouped["odd"])


class _CountFn(beam.DoFn):
    """How many numbers one input has, gathered from one stream under another name."""

    def process(self, keyed):
        name, grouped = keyed
        yield name, len(grouped["n"])


def _stage() -> Stage:
    return Stage(
        Step("Parse", _ParseFn(), ("in",), "numbers", ("odd",)),
        Step("Gather", _GatherFn(), ("numbers", "odd"), "totals", guarded=False, key=lambda pair: pair[0]),
        Step("Count", _CountFn(), ("n",), "counts", guarded=False, key=lambda pair: pair[0], sources={"n": "numbers"}),
    )


EXPECTED = {
    "numbers": [("a", 1), ("a", 2), ("b", 3), ("a", 5), ("b", 4)],
    "odd": [("a", 1), ("b", 3), ("a", 5)],
    "totals": [("a", [1, 2, 5], [1, 5]), ("b", [3, 4], [3])],
    "counts": [("a", 3), ("b", 2)],
    "quarantine": [
        QuarantineRecord(
            "broken",
            QuarantineReason.PROCESSING_ERROR,
            "Parse failed unexpectedly: ValueError('not enough values to unpack (expected 2, got 1)')",
            None,
            "broken",
        )
    ],
}


def _in_process() -> dict[str, list]:
    chain = InProcess([_stage()])
    chain.each("setup")
    chain.each("start_bundle")
    found = chain.run({"in": INPUTS})
    chain.each("finish_bundle")
    chain.each("teardown")
    return found


def test_a_stage_reads_the_streams_none_of_its_steps_writes():
    assert _stage().reads == ["in"]


def test_in_process_gathers_each_input_and_quarantines_what_a_guarded_step_fails_on():
    found = _in_process()
    assert sorted(found) == sorted(["in", *EXPECTED])
    for stream, expected in EXPECTED.items():
        assert sorted(found[stream], key=repr) == sorted(expected, key=repr), stream


def test_a_stage_in_a_test_pipeline_writes_what_it_writes_in_process(beam_options):
    in_process = _in_process()
    with TestPipeline(options=beam_options) as p:
        out = {"in": p | beam.Create(INPUTS)} | _stage()
        assert sorted(out) == sorted(EXPECTED)
        for stream in EXPECTED:
            assert_that(out[stream], equal_to(in_process[stream]), label=f"Same {stream}")
