"""Pipeline options of Veil's jobs: one PipelineOptions subclass per job, and the strict parsing of a command line."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, _BeamArgumentParser

from schemas.options import ANONYMIZE, GROUPS, LAUNCH, OPTIONS, REPEATED, RETAIN, STREAM, SWITCH, Option, config_fields
from transforms.services import storage


def add_option(parser, option: Option, spellings: int = 2) -> None:
    """Register one option (schemas/options.py) on an argparse parser or group, with its first ``spellings``
    spellings (help shows the dashed one alone).

    Not argparse-required, even INPUT and OUTPUT: every PipelineOptions view parses all registered classes."""
    kwargs: dict = {"dest": option.name, "help": option.described}
    if option.type is SWITCH:
        kwargs["action"] = "store_true"
    elif option.type is REPEATED:
        kwargs.update(action="append", default=list(option.default))
    else:
        kwargs["default"] = option.default
        if option.type is not str:
            kwargs["type"] = option.type
        if option.choices:
            kwargs["choices"] = option.choices
    if option.metavar or option.type in METAVARS:
        kwargs["metavar"] = option.metavar or METAVARS[option.type]
    parser.add_argument(*option.flags[:spellings], **kwargs)


METAVARS = {int: "N", float: "X"}


def add_options(parser, owner: str) -> None:
    """Register the options ``owner`` owns."""
    for option in OPTIONS:
        if option.owner == owner:
            add_option(parser, option)


class AnonymizeOptions(PipelineOptions):
    """Options of ``veil anonymize``."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        add_options(parser, ANONYMIZE)


class RetentionOptions(PipelineOptions):
    """Options of ``veil retention``; --output, --keystore and --run_id are AnonymizeOptions' (Beam parses every
    options class of the process together, so each flag has one owner), and --dry-run is taken off the command
    line before Beam sees it (Beam's TestOptions owns a --dry_run of its own)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        add_options(parser, RETAIN)


class LaunchOptions(PipelineOptions):
    """Where ``veil anonymize`` runs its workers. Not template parameters: they name the launching machine's
    processes or a Dask scheduler, which a Dataflow job has no use for."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        add_options(parser, LAUNCH)


class StreamOptions(PipelineOptions):
    """Options of ``veil anonymize --streaming LANDING OUTPUT``, besides anonymize's own (LANDING is --input) and
    retention's --events, --holds and --calendar (--events names a prefix that account event files land under)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        add_options(parser, STREAM)


def config_of(config: type, name: str, view: PipelineOptions, **fields):
    """A config dataclass built from the options that set its fields (schemas/options.py: ``config="name.field"``),
    with ``fields`` for those no option sets."""
    return config(**{field: getattr(view, option) for field, option in config_fields(name).items()}, **fields)


def make_absolute(view: PipelineOptions, *names: str) -> None:
    """Make the local paths among the named options absolute, as given on the command line, once: every path Veil
    records then names one place, whatever folder a later job (retention) runs from; object-store URIs stay."""
    for name in names:
        if getattr(view, name):
            setattr(view, name, storage.absolute(getattr(view, name)))


class UsageError(ValueError):
    """A command line Veil refuses before anything starts (exit 2)."""


class _RefusingParser(_BeamArgumentParser):
    """Beam's parser, raising UsageError where argparse would print its usage and exit."""

    def error(self, message):
        raise UsageError(message)


def _dests(*classes: type[PipelineOptions]) -> frozenset[str]:
    parser = argparse.ArgumentParser(add_help=False)
    for cls in classes:
        cls._add_argparse_args(parser)
    return frozenset(action.dest for action in parser._actions)


VEIL_CLASSES = (AnonymizeOptions, LaunchOptions, RetentionOptions, StreamOptions)
"""Veil's own options; Beam parses every registered class together, so the commands take subsets of them."""
SHARED = frozenset({"output", "keystore", "run_id", "verbose"})
EVENTS = frozenset({"events", "holds", "calendar"})
COMMANDS = {
    "anonymize": _dests(AnonymizeOptions, LaunchOptions),
    "anonymize --streaming": _dests(AnonymizeOptions, LaunchOptions, StreamOptions) | EVENTS,
    "retention": _dests(RetentionOptions) | SHARED,
}
"""The Veil options each command takes, by destination; every command also takes Beam's runner options."""


def _all_options_parser(runner: str) -> _RefusingParser:
    if "dask" in runner.lower():
        # Registers DaskOptions (--dask_client_address, --dask_npartitions, ...); dask is imported only for Dask runs.
        import apache_beam.runners.dask.dask_runner  # noqa: F401
    parser = _RefusingParser(allow_abbrev=False, add_help=False)
    # Deduplicated by name as Beam's own get_all_options does: a class seen twice would register its flags twice.
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    return parser


def _refusals(unknown: Sequence[str], known: Sequence[str]) -> list[str]:
    """What argparse left over, each named with the closest known option; the value after an unknown option is
    taken for its value, not reported again."""
    problems = []
    after_option = False
    for arg in unknown:
        if not arg.startswith("-"):
            if not after_option:
                problems.append(f"unexpected argument {arg!r}")
            after_option = False
            continue
        name = arg.split("=", 1)[0]
        close = difflib.get_close_matches(name, known, n=1)
        problems.append(f"unknown option {name}" + (f" (did you mean {close[0]}?)" if close else ""))
        after_option = "=" not in arg
    return problems


def parse_command(command: str, args: Sequence[str]) -> PipelineOptions:
    """The PipelineOptions of ``veil COMMAND`` ``args``; raises UsageError naming every argument that neither the
    command nor a registered Beam options class defines, with the closest known option.

    Beam itself only logs "Discarding unparseable args" and runs on with the defaults, so a mistyped --redact would
    run the whole job with blur and exit 0."""
    args = list(args)
    options = PipelineOptions(args)
    parser = _all_options_parser(str(options.view_as(StandardOptions).runner or ""))
    hint = f"'veil {command} --help' lists the options"
    try:
        _, unknown = parser.parse_known_args(args)
    except UsageError as err:
        raise UsageError(f"{err} ({hint})") from None
    owner = {string: action.dest for action in parser._actions for string in action.option_strings}
    ours = _dests(*VEIL_CLASSES)
    accepted = [s for s, dest in owner.items() if dest not in ours or dest in COMMANDS[command]]
    problems = _refusals(unknown, accepted)
    for arg in args:
        name = arg.split("=", 1)[0]
        if owner.get(name) in ours - COMMANDS[command]:
            problems.append(f"{name} is not an option of veil {command}")
    if problems:
        raise UsageError(f"{'; '.join(problems)} ({hint})")
    return options


def help_format(prog: str) -> argparse.HelpFormatter:
    """One layout of --help whatever the terminal: the CLI reference (docs/cli.md) is the same text."""
    return argparse.RawDescriptionHelpFormatter(prog, width=100, max_help_position=32)


def command_help(command: str, usage: str, description: str, extra: str = "") -> str:
    """The --help text of a Beam-options command: its usage, what it does, and its own options by group."""
    parser = argparse.ArgumentParser(
        prog=f"veil {command}",
        usage=usage,
        description=description,
        add_help=False,
        formatter_class=help_format,
        epilog=f"{extra}Every option may be spelled with underscores too (--detect_every).\n"
        "Any Apache Beam pipeline option (--runner, --project, --temp_location, ...) is accepted as well and\n"
        f"passed to the runner: 'veil {command} --help-runner' lists them.",
    )
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    for option in OPTIONS:
        if option.name in COMMANDS[command]:
            add_option(groups[option.group], option, spellings=1)
    return parser.format_help()


def runner_help(command: str) -> str:
    """The --help-runner text: Apache Beam's own pipeline options, by the class that defines them."""
    parser = argparse.ArgumentParser(
        prog=f"veil {command}",
        usage=f"veil {command} ... [Beam pipeline options]",
        description="Apache Beam's pipeline options, passed to the runner (Veil's own: --help).",
        add_help=False,
        formatter_class=help_format,
    )
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        if cls not in VEIL_CLASSES:
            cls._add_argparse_args(parser.add_argument_group(cls.__name__))
    return parser.format_help()


class CommandParser(argparse.ArgumentParser):
    """argparse for Veil's plain commands: a refused command line raises UsageError (exit 2) naming the closest
    known option, instead of printing usage to stdout or exiting from inside the job."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", help_format)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(f"{message} ('{self.prog} --help' lists the options)")

    def parse_args(self, args=None, namespace=None):
        found, unknown = self.parse_known_args(args, namespace)
        if unknown:
            self.error("; ".join(_refusals(unknown, [s for action in self._actions for s in action.option_strings])))
        return found
