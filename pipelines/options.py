"""Pipeline options of Veil's jobs: one PipelineOptions subclass per job."""
from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

from schemas.codes import RedactionMode, SecondDetector, values


class AnonymizeOptions(PipelineOptions):
    """Options of ``veil anonymize``."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        # Not argparse-required: every PipelineOptions view parses all registered subclasses.
        parser.add_argument("--input",
                            help="file, folder, glob or tar/zip archive of footage (local, gs://, s3://)")
        parser.add_argument("--output", help="output root (local, gs://, s3://)")
        parser.add_argument("--redact", default=RedactionMode.BLUR.value, choices=values(RedactionMode),
                            help="how faces are destroyed (default: blur)")
        parser.add_argument("--manifest", help="CSV or JSON Lines of path, camera_id, start_time")
        parser.add_argument("--path_template", "--path-template",
                            help="e.g. '{camera_id}/{date}/{time}.mp4', matched against the end of each path")
        parser.add_argument("--min_confidence", "--min-confidence", type=float, default=0.35,
                            help="face detector score threshold (default 0.35: recall first)")
        parser.add_argument("--tile_scale", "--tile-scale", type=float, default=2.0,
                            help="enlarge frames this much and scan them in tiles for small faces (0: off)")
        parser.add_argument("--tile_size", "--tile-size", type=int, default=256, help="tile side in pixels")
        parser.add_argument("--tile_every", "--tile-every", type=int, default=2,
                            help="scan tiles on every n-th frame only; tracks bridge the frames between (default 2)")
        parser.add_argument("--second_detector", "--second-detector", default=SecondDetector.CENTERFACE.value,
                            choices=values(SecondDetector),
                            help="also run CenterFace, which finds faces turned away from the camera (default)")
        parser.add_argument("--gate_threshold", "--gate-threshold", type=float, default=4.0,
                            help="rescan a tile only when part of it changed by more than this many grey levels "
                                 "since its last scan (default 4; 0 rescans every tile in every frame)")
        parser.add_argument("--gate_refresh", "--gate-refresh", type=int, default=25,
                            help="rescan every tile at least every this many frames (default 25)")
        parser.add_argument("--audit_rate", "--audit-rate", type=float, default=0.05,
                            help="share of redacted frames the leak audit re-examines with Haar cascades "
                                 "(default 0.05; 1 audits every one)")
        parser.add_argument("--crf", type=int, default=23, help="x264 constant rate factor (default 23)")
        parser.add_argument("--preset", default="veryfast", help="x264 preset (default veryfast)")
        parser.add_argument("--keep_audio", "--keep-audio", action="store_true",
                            help="copy audio through (dropped by default: voices are personal data too)")
        parser.add_argument("--force", action="store_true",
                            help="re-process inputs an earlier run already anonymized with the same settings")
        parser.add_argument("--segment_frames", "--segment-frames", type=int, default=150,
                            help="frames per segment, rounded up to the next keyframe (the unit of parallelism)")
        parser.add_argument("--image_fps", "--image-fps", type=float, default=10.0,
                            help="frame rate given to folders of still frames (default 10)")
        parser.add_argument("--max_archive_bytes", "--max-archive-bytes", type=int, default=20 << 30,
                            help="refuse archives that expand beyond this many bytes (default 20 GiB)")
        parser.add_argument("--cameras",
                            help="camera registry (YAML, CSV, JSON Lines or Parquet; see schemas/registries.py); "
                                 "without it every camera is unregistered and every face redacted")
        parser.add_argument("--sessions", help="service session registry: who was served where and when")
        parser.add_argument("--consents", help="consent registry: consents sessions refer to")
        parser.add_argument("--zone_share", "--zone-share", type=float, default=0.6,
                            help="share of a track's detections that must lie in a session's zone during the "
                                 "session for the face to count as the session's subject (default 0.6)")
        parser.add_argument("--private_categories", "--private-categories", default="",
                            help="comma-separated camera location categories to treat as private (Article 6), "
                                 "besides hotel_room, bathroom, changing_room and the like")
        parser.add_argument("--keystore",
                            help="key store file of the per-account keys of restricted copies (default: "
                                 "OUTPUT/keys/keystore.json; keep it apart from the data in production)")
        parser.add_argument("--run_id", "--run-id", help="id of this run (default: UTC time and a random suffix)")


class RetentionOptions(PipelineOptions):
    """Options of ``veil retention``; --output, --keystore and --run_id are AnonymizeOptions' (Beam parses every
    options class of the process together, so each flag has one owner), and --dry-run is taken off the command
    line before Beam sees it (Beam's TestOptions owns a --dry_run of its own)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument("--as_of", "--as-of",
                            help="the moment to plan for, ISO 8601 (default: now); what is due by then is done")
        parser.add_argument("--events", help="account events (event_id, account_id, event, time): cancellations")
        parser.add_argument("--holds", help="legal holds (hold_id, scope camera|artifact, target, reason)")
        parser.add_argument("--calendar", action="append", default=[],
                            help="working-day calendar file(s) extending or overriding the shipped Chinese one")
        parser.add_argument("--plan", action="store_true",
                            help="print every pending action with its due date and status, and change nothing")


class LaunchOptions(PipelineOptions):
    """Where ``veil anonymize`` runs its workers. Not template parameters: they name the launching machine's
    processes or a Dask scheduler, which a Dataflow job has no use for."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument("--workers", type=int,
                            help="with --runner dask: start a local Dask cluster of this many worker processes "
                                 "(default: one per core)")
        parser.add_argument("--dask_address", "--dask-address",
                            help="with --runner dask: HOST:PORT of a running Dask scheduler to use instead")
        parser.add_argument("--direct_workers", "--direct-workers", type=int,
                            help="worker processes of the local runner (default: one per core)")


class StreamOptions(PipelineOptions):
    """Options of ``veil anonymize --streaming LANDING OUTPUT``, besides anonymize's own (LANDING is --input) and
    retention's --events, --holds and --calendar (--events names a prefix that account event files land under)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument("--window", default="60s",
                            help="event-time window of the per-window aggregates and validation (default 60s)")
        parser.add_argument("--allowed_lateness", "--allowed-lateness", default="1h",
                            help="how late a recording may still land in its window (default 1h)")
        parser.add_argument("--landing_delay", "--landing-delay", default="5m",
                            help="how long after its start a recording is expected to land: the watermark trails "
                                 "the clock by this much (default 5m)")
        parser.add_argument("--settle", default="5s",
                            help="a file is taken once its size and time have not changed for this long (default 5s)")
        parser.add_argument("--poll_interval", "--poll-interval", default="2s",
                            help="how often the landing zone is listed (default 2s)")
        parser.add_argument("--stop_after", "--stop-after",
                            help="stop cleanly after this long (e.g. 10m); by default run until SIGINT/SIGTERM")
        parser.add_argument("--pubsub_subscription", "--pubsub-subscription",
                            help="projects/P/subscriptions/S receiving Cloud Storage notifications of LANDING's "
                                 "bucket: read new recordings from it instead of listing LANDING (Dataflow)")
