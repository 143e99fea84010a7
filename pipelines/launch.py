"""Run a job's pipeline on the local runner or on a Dask cluster, starting and stopping a local cluster if asked."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from pipelines import work_folders
from pipelines.options import LaunchOptions
from transforms.services import storage

DEFAULT_RUNNER = "FnApiRunner"
"""The local engine behind DirectRunner, named directly so nothing tries to download Prism at run time."""
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
DASK_NAMES = {"dask", "daskrunner", DASK_RUNNER.lower()}
LOCAL_RUNNERS = {DEFAULT_RUNNER, "DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner"}
"""Runners that run a job in the launching process and processes it starts (a streaming job in batch mode,
shared/notes)."""
PARTITIONS_PER_WORKER = 2
"""Dask partitions per worker: a partition's elements run one after another in one task, so more than one per worker
lets Dask even out segments of unequal cost; but every later stage runs once per partition, even an empty one
(the sample archive on 2 workers: 64 s with 1 per worker, 75 s with 2, 460 s with 4 added at every Redistribute)."""
WORKER_ENVIRON = {"MALLOC_ARENA_MAX": "2"}
"""Set for the worker processes a run starts. glibc gives every thread that allocates its own malloc arena, and each
arena keeps the frame buffers freed into it: a 1080p worker peaked at 637 MB with the default and 556 MB with two
arenas, no slower (300 frames, 1 worker: 90 s and 86 s)."""


def is_dask(options: PipelineOptions) -> bool:
    return str(options.view_as(StandardOptions).runner).lower() in DASK_NAMES


def ends_with_launcher(options: PipelineOptions) -> bool:
    """Whether a job stops when its launcher does: a local one, and a Dask one (closing the client releases its
    tasks); a Dataflow, Flink or Spark job runs on."""
    return is_dask(options) or str(options.view_as(StandardOptions).runner) in LOCAL_RUNNERS


def configure(options: PipelineOptions, args: Sequence[str]) -> None:
    """Settle the runner of options parsed from ``args``: the local one by default, one worker process per core;
    ``dask`` names Beam's DaskRunner. Raises ValueError for launch options that do not fit the runner."""
    standard, launch = options.view_as(StandardOptions), options.view_as(LaunchOptions)
    if any(n is not None and n < 1 for n in (launch.workers, launch.direct_workers)):
        raise ValueError("--workers and --direct-workers take a number of processes, at least 1")
    if is_dask(options):
        if launch.direct_workers is not None:
            raise ValueError("--direct-workers is for the local runner; with --runner dask use --workers")
        if launch.workers is not None and launch.dask_address:
            raise ValueError(
                "--workers starts a local Dask cluster and --dask-address uses a running one: give one of them"
            )
        from apache_beam.runners.dask.dask_runner import DaskOptions  # imports dask: only for Dask runs

        standard.runner = DASK_RUNNER
        # Set before the graph is built: transforms.redistribute spreads work over this many partitions.
        dask = options.view_as(DaskOptions)
        if not dask.npartitions and not dask.partition_size:
            dask.npartitions = PARTITIONS_PER_WORKER * (launch.workers or os.cpu_count() or 1)
        return
    if launch.workers is not None or launch.dask_address:
        raise ValueError("--workers and --dask-address need --runner dask (the local runner takes --direct-workers)")
    if standard.runner:
        return
    standard.runner = DEFAULT_RUNNER
    if launch.direct_workers or not any(a.startswith(("--direct_running_mode", "--direct_num_workers")) for a in args):
        # Segments are independent: one worker process per core (threads would share one detector lock).
        direct = options.view_as(DirectOptions)
        direct.direct_running_mode = "multi_processing"
        direct.direct_num_workers = launch.direct_workers or os.cpu_count() or 1


def threads_per_worker(options: PipelineOptions) -> int:
    """Threads each worker process may give its models: this machine's cores shared among the processes a local or
    local-Dask run starts; one elsewhere (Dataflow's Python workers run one process per core, and a remote Dask
    worker's cores are not known here)."""
    cores = os.cpu_count() or 1
    if is_dask(options):
        launch = options.view_as(LaunchOptions)
        return 1 if launch.dask_address else max(1, cores // (launch.workers or cores))
    if str(options.view_as(StandardOptions).runner) not in LOCAL_RUNNERS:
        return 1
    direct = options.view_as(DirectOptions)
    processes = direct.direct_num_workers if direct.direct_running_mode == "multi_processing" else 1
    return max(1, cores // max(1, processes or 1))


@contextlib.contextmanager
def dask_cluster(options: PipelineOptions) -> Iterator[None]:
    """Point a Dask run at its scheduler: the given one, or a local cluster started here and closed on the way out."""
    from apache_beam.runners.dask.dask_runner import DaskOptions

    launch, dask_options = options.view_as(LaunchOptions), options.view_as(DaskOptions)
    if launch.dask_address:
        dask_options.address = launch.dask_address
        yield
        return
    import dask.config
    from distributed import LocalCluster

    workers = launch.workers or os.cpu_count() or 1
    # The nanny's default MALLOC_TRIM_THRESHOLD_=65536 hands every freed frame back to the kernel, to fault it in
    # again on the next: face detection on 1080p frames ran 28% slower with it (60 frames: 20.0 s against 15.6 s).
    environ = {
        k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items() if k != "MALLOC_TRIM_THRESHOLD_"
    }
    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ": environ}),
        LocalCluster(
            n_workers=workers,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            worker_dashboard_address=None,
            # No dashboard, but the scheduler's health and metrics server still binds a port:
            # any free one, not 8787, which a second cluster on the machine finds taken.
            scheduler_kwargs={"dashboard_address": ":0"},
        ) as cluster,
    ):
        dask_options.address = cluster.scheduler_address
        yield


@contextlib.contextmanager
def worker_environ() -> Iterator[None]:
    """Give the processes started inside WORKER_ENVIRON (by inheritance), where the user has not set those names."""
    added = {k: v for k, v in WORKER_ENVIRON.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def run(pipeline: beam.Pipeline, work: str | None = None) -> None:
    """Run a pipeline and wait, inside a Dask cluster when its runner is Dask's; if the run fails or is stopped,
    remove its ``work`` folder.

    A job's work folder lies under OUTPUT and holds the archive members it staged, raw footage: a run that
    finishes removes it (the batch job as its last step, the streaming launcher once this returns), and a
    failed or interrupted one must not leave it behind either; but Ctrl-C on the launcher of a cloud job leaves
    it, since that job runs on and still needs it. A killed launcher cannot remove it: a job that ends with its
    launcher records that launcher in the folder, and every such run first removes the folders beside its own
    whose launcher on this machine is gone (pipelines/work_folders.py).

    A Dask run's client is closed before its cluster is: the other order can crash the run (shared/notes).
    """
    # The pipeline's own options: it deep-copied the ones it was built with, and its runner reads these.
    options = pipeline.options
    if work and ends_with_launcher(options):
        work_folders.claim(work)
    try:
        with worker_environ(), dask_cluster(options) if is_dask(options) else contextlib.nullcontext():
            result = pipeline.run()
            try:
                result.wait_until_finish()
            finally:
                client = getattr(result, "client", None)
                if client is not None:
                    client.close()
    except BaseException as err:
        if work and (isinstance(err, Exception) or ends_with_launcher(options)):
            try:
                storage.delete_work(work)
            except Exception as cleanup:  # noqa: BLE001 - the run's own error is the one to raise
                logging.getLogger(__name__).error(
                    "could not remove the work folder %s, which may hold raw footage: %s", work, cleanup
                )
        raise
