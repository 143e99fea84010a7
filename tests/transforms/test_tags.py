"""SplitByTag in a TestPipeline: a DoFn's tagged outputs reach their own tag only, a failure emits only what the
error handler makes of it (not the element's outputs before it), and an undeclared tag or an unhandled error fails."""

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.tags import SplitByTag


class _SortFn(beam.DoFn):
    """Each number to the main output, its parity under ``even`` or ``odd``; 7 fails after its main output."""

    def process(self, n: int):
        yield n
        if n == 7:
            raise RuntimeError("seven")
        yield beam.pvalue.TaggedOutput("even" if n % 2 == 0 else "odd", n * 10)


class _StrayFn(beam.DoFn):
    def process(self, n: int):
        yield beam.pvalue.TaggedOutput("stray", n)


def _failed(n, error: Exception) -> tuple[str, object]:
    return "failed", (n, str(error))


def test_each_tag_gets_only_its_own_outputs_and_a_failure_only_the_handlers(beam_options):
    with TestPipeline(options=beam_options) as p:
        out = p | beam.Create([1, 2, 3, 4, 7]) | SplitByTag(_SortFn(), "main", ("even", "odd", "failed"), _failed)
        assert sorted(out) == ["even", "failed", "main", "odd"]
        # 7's main output, emitted before it failed, is dropped with the rest of its outputs.
        assert_that(out["main"], equal_to([1, 2, 3, 4]), label="Main")
        assert_that(out["even"], equal_to([20, 40]), label="Even")
        assert_that(out["odd"], equal_to([10, 30]), label="Odd")
        assert_that(out["failed"], equal_to([(7, "seven")]), label="Failed")


def test_without_a_handler_an_error_fails_the_run(beam_options):
    with pytest.raises(Exception, match="seven"):
        with TestPipeline(options=beam_options) as p:
            _ = p | beam.Create([7]) | SplitByTag(_SortFn(), "main", ("even", "odd"))


def test_an_undeclared_tag_fails_the_run(beam_options):
    with pytest.raises(Exception, match="_StrayFn emitted undeclared output tag 'stray'"):
        with TestPipeline(options=beam_options) as p:
            _ = p | beam.Create([1]) | SplitByTag(_StrayFn(), "main", ("other",))
