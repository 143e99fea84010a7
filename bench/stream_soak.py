"""Steady state of the streaming job (`make bench-stream`): memory over a long run, files/min and lag.

    .venv/bin/python bench/stream_soak.py [--files 60] [--every 4] [--settle 1]

Starts `veil anonymize --streaming bench/out/land bench/out/stream-out` on the local runner, publishes --files
copies of the sample's lobby clip (640x360, 40 frames) into the landing zone, one every --every seconds (by
atomic rename, under camera folders so the path template identifies them), then stops the job with SIGINT once
every file has a run. Every 2 s it records the job's resident memory (RSS of the process and its children, from
psutil). Memory is flat when the median RSS of the last third of the run is within 10 % of the middle third's.
Writes bench/stream_results.md and bench/stream_results.json. A missed target is reported, not an error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
CLIP = "lobby-01/2026-11-20/080000.mp4"


def rss(process: psutil.Process) -> int:
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def busy_cpu() -> float:
    """CPU seconds the whole machine has been busy since boot."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0)


def tree_cpu(process: psutil.Process) -> float:
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            pass
    return total


def runs_written(output: Path, stream_id: str) -> int:
    folder = output / "tables" / "runs"
    return len(list(folder.glob(f"{stream_id}-*.parquet"))) if folder.exists() else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--every", type=float, default=4.0)
    parser.add_argument("--settle", type=float, default=1.0)
    args = parser.parse_args(argv)
    land, output, stream_id = OUT / "land", OUT / "stream-out", "s-soak"
    for folder in (land, output):
        shutil.rmtree(folder, ignore_errors=True)
    land.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run([str(REPO / ".venv" / "bin" / "veil"), "sample", scratch], check=True, capture_output=True)
        with tarfile.open(os.path.join(scratch, "archive.tar.gz")) as tar:
            tar.extractall(scratch, filter="data")
        clip = Path(scratch) / CLIP
        source = OUT / "soak-clip.mp4"
        shutil.copy(clip, source)
    cmd = [
        str(REPO / ".venv" / "bin" / "veil"),
        "anonymize",
        "--streaming",
        str(land),
        str(output),
        "--path-template",
        "{camera_id}/{date}/{time}.mp4",
        "--settle",
        f"{args.settle}s",
        "--poll-interval",
        "0.5s",
        "--run-id",
        stream_id,
        "--stop-after",
        "6h",
    ]
    log = open(OUT / "stream-soak.log", "w")
    job = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    process = psutil.Process(job.pid)
    samples: list[tuple[float, int, int]] = []
    started = time.monotonic()
    busy_start, own_cpu = busy_cpu(), 0.0
    dropped = 0
    next_drop = started + 10
    try:
        while runs_written(output, stream_id) < args.files:
            now = time.monotonic()
            if dropped < args.files and now >= next_drop:
                start = dt.datetime(2026, 11, 20, 8) + dt.timedelta(seconds=10 * dropped)
                target = land / f"cam-{dropped % 4}" / f"{start:%Y-%m-%d}" / f"{start:%H%M%S}.mp4"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, target.with_name("." + target.name + ".tmp"))
                os.replace(target.with_name("." + target.name + ".tmp"), target)
                dropped += 1
                next_drop += args.every
            samples.append((now - started, rss(process), runs_written(output, stream_id)))
            own_cpu = max(own_cpu, tree_cpu(process))
            if job.poll() is not None:
                raise RuntimeError(f"the job ended early with {job.returncode}; see {OUT / 'stream-soak.log'}")
            time.sleep(2)
    finally:
        job.send_signal(signal.SIGINT)
        job.wait(600)
        log.close()
    seconds = time.monotonic() - started
    foreign = busy_cpu() - busy_start - own_cpu
    report = json.loads((output / "reports" / stream_id / "report.json").read_text())
    lags = [w["lag_max_s"] for w in report["windows"]]
    medians = [w["lag_median_s"] for w in report["windows"]]
    third = max(1, len(samples) // 3)
    middle = statistics.median(s[1] for s in samples[third : 2 * third])
    last = statistics.median(s[1] for s in samples[2 * third :])
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}",
        "files": args.files,
        "every_s": args.every,
        "wall_s": round(seconds, 1),
        "files_per_min": round(args.files / (seconds / 60), 2),
        "lag_median_of_windows_s": round(statistics.median(medians), 1) if medians else None,
        "lag_max_s": round(max(lags), 1) if lags else None,
        "rss_peak_mb": round(max(s[1] for s in samples) / 2**20),
        "rss_middle_third_mb": round(middle / 2**20),
        "rss_last_third_mb": round(last / 2**20),
        "flat": last <= middle * 1.10,
        "job_cpu_s": round(own_cpu, 1),
        "foreign_cpu_s": round(foreign, 1),
        "exit_code": job.returncode,
        "samples": [(round(t, 1), round(m / 2**20), n) for t, m, n in samples],
    }
    (REPO / "bench" / "stream_results.json").write_text(json.dumps(result, indent=1))
    rows = "\n".join(f"| {k} | {result[k]} |" for k in result if k != "samples")
    (REPO / "bench" / "stream_results.md").write_text(
        "# Streaming soak (`make bench-stream`)\n\n"
        f"{args.files} copies of a 40-frame 640x360 clip, one every {args.every} s, through "
        "`veil anonymize --streaming` on the local runner.\nMemory is the job's RSS (process and children); "
        "flat = median of the last third within 10 % of the middle third's. "
        "foreign_cpu_s: CPU used by other processes during the run (a busy machine slows lag and files/min).\n\n"
        f"| measure | value |\n|---|---|\n{rows}\n"
    )
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
