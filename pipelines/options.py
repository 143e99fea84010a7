"""Pipeline options of Veil's jobs: one PipelineOptions subclass per job, and the strict parsing of a command line."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, _BeamArgumentParser

from schemas.codes import RedactionMode, values
from transforms import storage


class AnonymizeOptions(PipelineOptions):
    """Options of ``veil anonymize``."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        # Not argparse-required: every PipelineOptions view parses all registered subclasses.
        parser.add_argument("--input", help="file, folder, glob or tar/zip archive of footage (local, gs://, s3://)")
        parser.add_argument("--output", help="output root (local, gs://, s3://)")
        parser.add_argument(
            "--redact",
            default=RedactionMode.BLUR.value,
            choices=values(RedactionMode),
            help="how faces are destroyed (default: blur)",
        )
        parser.add_argument("--manifest", help="CSV or JSON Lines of path, camera_id, start_time")
        parser.add_argument(
            "--path_template",
            "--path-template",
            help="e.g. '{camera_id}/{date}/{time}.mp4', matched against the end of each path",
        )
        parser.add_argument(
            "--detect_every",
            "--detect-every",
            type=int,
            default=2,
            help="scan one frame in this many for faces; face tracks cover the frames between "
            "(default 2; 1 scans every frame)",
        )
        parser.add_argument(
            "--face_threshold",
            "--face-threshold",
            type=float,
            default=0.5,
            help="BlazeFace detections scoring at least this are faces (default 0.5)",
        )
        parser.add_argument(
            "--head_threshold",
            "--head-threshold",
            type=float,
            default=0.3,
            help="people the pose detector finds scoring at least this have their head redacted "
            "where no face was found in it: turned away, looking down (default 0.3)",
        )
        parser.add_argument(
            "--head_every",
            "--head-every",
            type=int,
            default=2,
            help="look for heads (the pose detector) on one scanned frame in this many (default 2: "
            "one frame in 4 at --detect-every 2; 1 on every scanned frame)",
        )
        parser.add_argument(
            "--candidate_threshold",
            "--candidate-threshold",
            type=float,
            default=0.2,
            help="BlazeFace detections scoring at least this, but under --face-threshold, are "
            "checked by CenterFace (default 0.2)",
        )
        parser.add_argument(
            "--centerface_threshold",
            "--centerface-threshold",
            type=float,
            default=0.2,
            help="CenterFace detections in the square around a candidate scoring at least this are "
            "faces (default 0.2; 0: CenterFace off, candidates dropped, leaks more)",
        )
        parser.add_argument(
            "--audit_rate",
            "--audit-rate",
            type=float,
            default=0.05,
            help="share of redacted frames the leak audit re-examines with Haar cascades "
            "(default 0.05; 1 audits every one)",
        )
        parser.add_argument("--crf", type=int, default=23, help="x264 constant rate factor (default 23)")
        parser.add_argument("--preset", default="veryfast", help="x264 preset (default veryfast)")
        parser.add_argument(
            "--keep_audio",
            "--keep-audio",
            action="store_true",
            help="copy audio through (dropped by default: voices are personal data too)",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="re-process inputs an earlier run already anonymized with the same settings",
        )
        parser.add_argument(
            "--segment_frames",
            "--segment-frames",
            type=int,
            default=150,
            help="frames per segment, rounded up to the next keyframe (the unit of parallelism)",
        )
        parser.add_argument(
            "--image_fps",
            "--image-fps",
            type=float,
            default=10.0,
            help="frame rate given to folders of still frames (default 10)",
        )
        parser.add_argument(
            "--max_archive_bytes",
            "--max-archive-bytes",
            type=int,
            default=20 << 30,
            help="refuse archives that expand beyond this many bytes (default 20 GiB)",
        )
        parser.add_argument(
            "--cameras",
            help="camera registry (YAML, CSV, JSON Lines or Parquet; see schemas/registries.py); "
            "without it every camera is unregistered and every face redacted",
        )
        parser.add_argument("--sessions", help="service session registry: who was served where and when")
        parser.add_argument("--consents", help="consent registry: consents sessions refer to")
        parser.add_argument(
            "--zone_share",
            "--zone-share",
            type=float,
            default=0.6,
            help="share of a track's detections that must lie in a session's zone during the "
            "session for the face to count as the session's subject (default 0.6)",
        )
        parser.add_argument(
            "--private_categories",
            "--private-categories",
            default="",
            help="comma-separated camera location categories to treat as private (Article 6), "
            "besides hotel_room, bathroom, changing_room and the like",
        )
        parser.add_argument(
            "--keystore",
            help="key store file of the per-account keys of restricted copies (default: "
            "OUTPUT/keys/keystore.json; keep it apart from the data in production)",
        )
        parser.add_argument("--run_id", "--run-id", help="id of this run (default: UTC time and a random suffix)")


class RetentionOptions(PipelineOptions):
    """Options of ``veil retention``; --output, --keystore and --run_id are AnonymizeOptions' (Beam parses every
    options class of the process together, so each flag has one owner), and --dry-run is taken off the command
    line before Beam sees it (Beam's TestOptions owns a --dry_run of its own)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--as_of",
            "--as-of",
            help="the moment to plan for: a date (the start of that day, UTC) or an ISO 8601 timestamp "
            "(no zone means UTC); default now. What is due by then is done",
        )
        parser.add_argument("--events", help="account events (event_id, account_id, event, time): cancellations")
        parser.add_argument("--holds", help="legal holds (hold_id, scope camera|artifact, target, reason)")
        parser.add_argument(
            "--calendar",
            action="append",
            default=[],
            help="working-day calendar file(s) extending or overriding the shipped Chinese one",
        )
        parser.add_argument(
            "--plan",
            action="store_true",
            help="print every pending action with its due date and status, and change nothing",
        )


class LaunchOptions(PipelineOptions):
    """Where ``veil anonymize`` runs its workers. Not template parameters: they name the launching machine's
    processes or a Dask scheduler, which a Dataflow job has no use for."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--workers",
            type=int,
            help="with --runner dask: start a local Dask cluster of this many worker processes (default: one per core)",
        )
        parser.add_argument(
            "--dask_address",
            "--dask-address",
            help="with --runner dask: HOST:PORT of a running Dask scheduler to use instead",
        )
        parser.add_argument(
            "--direct_workers",
            "--direct-workers",
            type=int,
            help="worker processes of the local runner (default: one per core)",
        )


class StreamOptions(PipelineOptions):
    """Options of ``veil anonymize --streaming LANDING OUTPUT``, besides anonymize's own (LANDING is --input) and
    retention's --events, --holds and --calendar (--events names a prefix that account event files land under)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--window",
            default="60s",
            help="event-time window of the per-window aggregates and validation (default 60s)",
        )
        parser.add_argument(
            "--allowed_lateness",
            "--allowed-lateness",
            default="1h",
            help="how late a recording may still land in its window (default 1h)",
        )
        parser.add_argument(
            "--landing_delay",
            "--landing-delay",
            default="5m",
            help="how long after its start a recording is expected to land: the watermark trails "
            "the clock by this much (default 5m)",
        )
        parser.add_argument(
            "--settle",
            default="5s",
            help="a file is taken once its size and time have not changed for this long (default 5s)",
        )
        parser.add_argument(
            "--poll_interval", "--poll-interval", default="2s", help="how often the landing zone is listed (default 2s)"
        )
        parser.add_argument(
            "--stop_after",
            "--stop-after",
            help="stop cleanly after this long (e.g. 10m); by default run until SIGINT/SIGTERM",
        )
        parser.add_argument(
            "--pubsub_subscription",
            "--pubsub-subscription",
            help="projects/P/subscriptions/S receiving Cloud Storage notifications of LANDING's "
            "bucket: read new recordings from it instead of listing LANDING (Dataflow)",
        )


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
GROUPS = {
    AnonymizeOptions: "input, detection, redaction, policy and output",
    LaunchOptions: "workers",
    RetentionOptions: "retention",
    StreamOptions: "streaming",
}
SHARED = frozenset({"output", "keystore", "run_id"})
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


class _Subset:
    """Hands on to ``group`` only the options in ``dests`` (a command's share of a class Veil's commands share)."""

    def __init__(self, group, dests: frozenset[str]):
        self._group, self._dests = group, dests

    def add_argument(self, *names: str, **kwargs) -> None:
        if kwargs.get("dest", names[0].lstrip("-").replace("-", "_")) in self._dests:
            self._group.add_argument(*names, **kwargs)


def command_help(command: str, usage: str, description: str, extra: str = "") -> str:
    """The --help text of a Beam-options command: its usage, what it does, and its own options by group."""
    parser = argparse.ArgumentParser(
        prog=f"veil {command}",
        usage=usage,
        description=description,
        add_help=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"{extra}Any Apache Beam pipeline option (--runner, --project, "
        "--temp_location, ...) is accepted too and passed to the runner.",
    )
    for cls in VEIL_CLASSES:
        cls._add_argparse_args(_Subset(parser.add_argument_group(GROUPS[cls]), COMMANDS[command]))
    return parser.format_help()


class CommandParser(argparse.ArgumentParser):
    """argparse for Veil's plain commands: a refused command line raises UsageError (exit 2) naming the closest
    known option, instead of printing usage to stdout or exiting from inside the job."""

    def error(self, message):
        raise UsageError(f"{message} ('{self.prog} --help' lists the options)")

    def parse_args(self, args=None, namespace=None):
        found, unknown = self.parse_known_args(args, namespace)
        if unknown:
            self.error("; ".join(_refusals(unknown, [s for action in self._actions for s in action.option_strings])))
        return found
