"""Throughput, scaling and peak memory of Veil against a plain ffmpeg transcode (`make bench`).

    .venv/bin/python bench/bench.py [--minutes 10] [--clips 200] [--clip-seconds 3] [--fps 10] [--workers 1,2]
        [--runs N] [--only footage,long,short,archive] [--runners direct,dask] [--results NAME] [--quiet-wait S]
        [--foreign-limit C] [-- EXTRA VEIL ARGS]

Inputs (generated ones are kept in bench/out/ and reused):
  footage  one-by-one-person-detection.mp4 from $VEIL_FOOTAGE (a folder or the file) or ../shared/footage,
           skipped when absent;
  long     a generated CCTV-like 1920x1080 clip (static scene, moving shapes with head-like patches, a keyframe
           every second, no B-frames) of --minutes minutes at --fps;
  short    the same scene, a fifth as long: does throughput fall with length?
  archive  a tar of --clips generated 1080p clips of --clip-seconds each: what each file costs.

Runs, each a whole command timed from start to exit (frames/s = input frames / wall seconds):
  plain ffmpeg  the imageio-ffmpeg binary transcoding footage and long with libx264 at Veil's preset and crf;
  veil          `veil anonymize INPUT bench/out/veil-out --force`: footage with the default runner; long with
                `--direct-workers N` and `--runner dask --workers N` (--runners) for each N in --workers; short
                and archive with `--direct-workers` = the largest N.
Memory: the sum of RSS over the command's process tree, polled from /proc every 0.25 s (PSS every second).
Foreign load: the machine's busy CPU (/proc/stat) minus that of the command's processes and of the bench itself,
averaged over the run, in cores; steal (the hypervisor running another guest while this machine's vCPU was ready)
counts as busy and is also shown on its own. A run above --foreign-limit cores is flagged as contaminated; before
each run the bench waits up to --quiet-wait seconds for the machine to be idle.
Targets (issue 7): N=2 workers >= 1.6x one worker; the archive >= 80% of the long clip's frames/s; peak memory
of the long clip < 1.5 GB; the long clip's frames/s not below the short one's (within 10%). Missed targets are
reported, not errors; a failing command exits non-zero.
Writes bench/results.md, bench/results.json and bench/throughput-vs-workers.png (--results NAME: NAME.md,
NAME.json, NAME.png, so that a run of one part does not overwrite the full table).
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
OUT = BENCH / "out"
CLIP_NAME = "one-by-one-person-detection.mp4"
GEN_SIZE = (1920, 1080)

TARGET_SPEEDUP = 1.6
TARGET_ARCHIVE_SHARE = 0.8
TARGET_LENGTH_SHARE = 0.9
TARGET_PEAK_BYTES = 1.5e9
POLL_SECONDS = 0.25
PSS_EVERY = 4
"""Polls between PSS readings: reading every process's smaps_rollup costs the bench itself CPU the run then lacks."""
PAGE = os.sysconf("SC_PAGE_SIZE")
CLK_TCK = os.sysconf("SC_CLK_TCK")
INPUTS = ("footage", "long", "short", "archive")
RUNNERS = ("direct", "dask")


# ---------------------------------------------------------------- arguments


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Bench options; everything after `--` (and any option the bench does not know) goes to veil."""
    if "--" in argv:
        cut = argv.index("--")
        own, extra = argv[:cut], argv[cut + 1 :]
    else:
        own, extra = argv, []
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument("--minutes", type=float, default=10, help="length of the long clip (default 10)")
    parser.add_argument("--clips", type=int, default=200, help="clips in the archive (default 200)")
    parser.add_argument("--clip-seconds", type=int, default=3, help="length of each archive clip (default 3)")
    parser.add_argument("--fps", type=int, default=10, help="frame rate of generated clips (default 10, as CCTV)")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (default 1,2)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each command (default 1); medians reported")
    parser.add_argument("--only", default=",".join(INPUTS), help=f"inputs to run (default {','.join(INPUTS)})")
    parser.add_argument("--runners", default="direct,dask", help="runners for the long clip (default direct,dask)")
    parser.add_argument(
        "--results",
        default="results",
        help="name of the result files in bench/ (default results: results.md, results.json and "
        "throughput-vs-workers.png)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=300,
        help="seconds to wait at most for an idle machine before each run (default 300)",
    )
    parser.add_argument(
        "--foreign-limit",
        type=float,
        default=0.1,
        help="foreign CPU load, in cores, above which a run is flagged contaminated (default 0.1)",
    )
    args, unknown = parser.parse_known_args(own)
    args.workers = sorted({int(n) for n in args.workers.split(",")})
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    args.runners = [name.strip() for name in args.runners.split(",") if name.strip()]
    if args.runs < 1 or args.minutes <= 0 or args.clips < 1 or args.clip_seconds < 1 or args.fps < 1:
        parser.error("--runs, --minutes, --clips, --clip-seconds and --fps must be positive")
    if min(args.workers) < 1 or set(args.only) - set(INPUTS) or not args.runners or set(args.runners) - set(RUNNERS):
        parser.error(
            f"--workers takes positive numbers, --only a subset of {','.join(INPUTS)}, --runners of {','.join(RUNNERS)}"
        )
    if not args.results or "/" in args.results:
        parser.error("--results takes a file name without a folder")
    return args, unknown + extra


def option_value(args: list[str], name: str, default: str) -> str:
    """The last value of a veil option given as `--name V` or `--name=V` (dash or underscore spelling)."""
    names = {f"--{name}", f"--{name.replace('_', '-')}"}
    value = default
    for i, arg in enumerate(args):
        key, eq, val = arg.partition("=")
        if key in names:
            if eq:
                value = val
            elif i + 1 < len(args):
                value = args[i + 1]
    return value


# ---------------------------------------------------------------- inputs


def find_footage() -> Path | None:
    """The shared footage clip, if present."""
    env = os.environ.get("VEIL_FOOTAGE")
    candidates = [REPO.parent / "shared" / "footage" / CLIP_NAME]
    if env:
        env_path = Path(env).expanduser()
        candidates.insert(0, env_path if env_path.is_file() else env_path / CLIP_NAME)
    return next((p.resolve() for p in candidates if p.is_file()), None)


class Scene:
    """A CCTV-like 1080p scene: static textured background, shapes with head-like patches moving across it."""

    def __init__(self):
        w, h = GEN_SIZE
        rng = np.random.default_rng(7)
        yy, xx = np.mgrid[0:h, 0:w]
        background = np.empty((h, w, 3), np.uint8)
        background[..., 0] = 60 + 80 * xx / w
        background[..., 1] = 70 + 60 * yy / h
        background[..., 2] = 90 + 40 * (xx + yy) / (w + h)
        for _ in range(40):  # furniture, doors, posters
            x0, y0 = rng.integers(0, w - 200), rng.integers(0, h - 200)
            bw, bh = rng.integers(40, 300), rng.integers(40, 300)
            background[y0 : y0 + bh, x0 : x0 + bw] = rng.integers(20, 235, 3)
        noise = rng.integers(-6, 7, (h, w, 1))
        self.background = np.clip(background.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        self.movers = [  # x, y, vx, vy, width, height, colour
            (0, 500, 9, 0, 120, 340, (200, 160, 140)),
            (1800, 300, -6, 1, 100, 300, (90, 60, 50)),
            (600, 900, 4, -2, 160, 160, (230, 230, 230)),
            (300, 100, 3, 2, 80, 240, (150, 120, 200)),
        ]

    def frame(self, i: int) -> np.ndarray:
        w, h = GEN_SIZE
        img = self.background.copy()
        for x, y, vx, vy, bw, bh, colour in self.movers:
            px = int(x + vx * i) % (w - bw)
            py = int(y + vy * i) % (h - bh)
            img[py : py + bh, px : px + bw] = colour
            img[py + 10 : py + 50, px + bw // 4 : px + 3 * bw // 4] = (210, 170, 150)  # a "head"
        return img


def write_scene(scene: Scene, path: Path, first: int, frames: int, fps: int) -> Path:
    """Frames [first, first + frames) of the scene as H.264, a keyframe every second; reused when already there."""
    if path.is_file():
        try:
            if count_frames(path) == frames:
                return path
        except av.FFmpegError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    w, h = GEN_SIZE
    with av.open(str(tmp), mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = fps
        stream.options = {
            "preset": "veryfast",
            "crf": "20",
            "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0:bframes=0",
        }
        for i in range(first, first + frames):
            frame = av.VideoFrame.from_ndarray(scene.frame(i), format="rgb24")
            frame.pts = i - first
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    tmp.replace(path)
    return path


def write_archive(scene: Scene, path: Path, clips: int, frames: int, fps: int) -> Path:
    """A tar of ``clips`` clips of ``frames`` frames, each a different stretch of the scene; reused when there."""
    if path.is_file():
        return path
    folder = OUT / f"{path.stem}-clips"
    tmp = path.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tar:
        for n in range(clips):
            clip = write_scene(scene, folder / f"cam-{n % 8:02d}" / f"clip-{n:04d}.mp4", n * frames, frames, fps)
            tar.add(clip, arcname=str(clip.relative_to(folder)))
    tmp.replace(path)
    shutil.rmtree(folder)
    return path


def count_frames(path: Path) -> int:
    """Video frames in a file, by demuxing (no decode)."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return sum(1 for p in c.demux(stream) if p.size)


def describe(path: Path) -> dict:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate = s.average_rate or s.guessed_rate
        return {
            "path": str(path),
            "codec": s.codec_context.name,
            "width": s.width,
            "height": s.height,
            "fps": float(Fraction(rate)) if rate else None,
            "frames": count_frames(path),
            "bytes": path.stat().st_size,
            "files": 1,
        }


def describe_archive(path: Path, clips: int, frames: int, fps: int) -> dict:
    w, h = GEN_SIZE
    return {
        "path": str(path),
        "codec": "h264",
        "width": w,
        "height": h,
        "fps": float(fps),
        "frames": clips * frames,
        "bytes": path.stat().st_size,
        "files": clips,
    }


# ---------------------------------------------------------------- process tree measurement


def become_subreaper() -> None:
    """Orphaned grandchildren (e.g. a runner's workers outliving it) re-parent to us, so we still see them."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, rss pages, CPU ticks used so far) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[1]), int(fields[21]), int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:160]
    except OSError:
        return "?"


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def descendants(root: int) -> dict[int, tuple[int, int]]:
    """{pid: (rss bytes, CPU ticks)} of every live descendant of root (not root itself)."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st:
                table[int(name)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = (table[pid][1] * PAGE, table[pid][2])
        todo.extend(children.get(pid, []))
    return found


class TreeSampler(threading.Thread):
    """Polls the bench process's descendants (the command under test and anything it spawned)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.peak_rss = self.peak_pss = self.peak_procs = 0
        self.samples = 0
        self.pids: dict[int, str] = {}
        self.ticks: dict[int, int] = {}

    def run(self) -> None:
        me = os.getpid()
        while not self.stop.is_set():
            tree = descendants(me)
            if tree:
                self.samples += 1
                for pid in tree.keys() - self.pids.keys():
                    self.pids[pid] = _comm(pid)
                for pid, (_, ticks) in tree.items():
                    self.ticks[pid] = ticks
                self.peak_rss = max(self.peak_rss, sum(rss for rss, _ in tree.values()))
                self.peak_procs = max(self.peak_procs, len(tree))
                if self.samples % PSS_EVERY == 1:
                    self.peak_pss = max(self.peak_pss, sum(_pss(p) for p in tree))
            self.stop.wait(POLL_SECONDS)

    @property
    def cpu_s(self) -> float:
        """CPU seconds of the tree's processes, as last seen (a process's last 0.1 s may be missed)."""
        return sum(self.ticks.values()) / CLK_TCK


def cpu_busy_seconds() -> tuple[float, float]:
    """Busy CPU seconds of the whole machine so far (all cores), and the part of them that was steal, from
    /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / CLK_TCK, v[7] / CLK_TCK


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def wait_for_quiet(limit_cores: float, max_wait: float) -> tuple[float, float]:
    """Wait until the machine's busy CPU over 3 s is at most ``limit_cores`` (we run nothing meanwhile), or
    ``max_wait`` seconds have passed; returns (the last load seen in cores, seconds waited)."""
    start = time.monotonic()
    while True:
        (busy0, _), self0 = cpu_busy_seconds(), own_cpu_seconds()
        time.sleep(3)
        load = max(0.0, cpu_busy_seconds()[0] - busy0 - (own_cpu_seconds() - self0)) / 3
        waited = time.monotonic() - start
        if load <= limit_cores or waited >= max_wait:
            return load, waited
        time.sleep(5)


def timed(cmd: list[str], log: Path) -> dict:
    """Run a command to completion; wall time, exit status, CPU and memory of its tree, and the foreign load."""
    sampler = TreeSampler()
    (busy0, steal0), self0 = cpu_busy_seconds(), own_cpu_seconds()
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    (busy, steal), bench_cpu = cpu_busy_seconds(), own_cpu_seconds() - self0
    busy, steal = busy - busy0, steal - steal0
    leftovers = lingering(os.getpid())
    sampler.stop.set()
    sampler.join()
    # rusage covers the child and every descendant reaped under it; the sampler also sees processes never reaped.
    cpu = max(usage.ru_utime + usage.ru_stime, sampler.cpu_s)
    foreign = max(0.0, busy - cpu - bench_cpu)
    return {
        "cmd": cmd,
        "returncode": proc.returncode,
        "wall_s": wall,
        "cpu_s": cpu,
        "bench_cpu_s": bench_cpu,
        "foreign_cpu_s": foreign,
        "foreign_cores": foreign / wall,
        "steal_cores": steal / wall,
        "max_single_rss_bytes": usage.ru_maxrss * 1024,
        "log": str(log),
        "leftover_pids": sorted(leftovers),
        "peak_tree_rss_bytes": sampler.peak_rss,
        "peak_tree_pss_bytes": sampler.peak_pss,
        "peak_processes": sampler.peak_procs,
        "processes_seen": len(sampler.pids),
        "process_commands": [sampler.pids[p] for p in sorted(sampler.pids)],
        "samples": sampler.samples,
    }


def lingering(root: int, grace: float = 5.0) -> dict[int, tuple[int, int]]:
    """Processes the command left running (re-parented to us) that are still alive ``grace`` seconds on: a Dask
    run's multiprocessing resource tracker outlives the command by a moment, and is no leftover."""
    deadline = time.monotonic() + grace
    found = descendants(root)
    while found and time.monotonic() < deadline:
        time.sleep(0.2)
        reap()
        found = descendants(root)
    return found


def reap() -> None:
    """Collect re-parented orphans that have exited."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# ---------------------------------------------------------------- cases and reporting


@dataclasses.dataclass(frozen=True)
class Case:
    """One command to time: the plain transcode of an input, or Veil on it with a runner and worker count."""

    input: str
    runner: str  # "plain", "default", "direct" or "dask"
    workers: int | None = None

    @property
    def label(self) -> str:
        if self.runner == "plain":
            return "plain ffmpeg"
        if self.runner == "default":
            return "veil, default runner"
        flag = "--direct-workers" if self.runner == "direct" else "--runner dask --workers"
        return f"veil {flag} {self.workers}"

    def veil_args(self) -> list[str]:
        if self.runner == "direct":
            return ["--direct-workers", str(self.workers)]
        if self.runner == "dask":
            return ["--runner", "dask", "--workers", str(self.workers)]
        return []


def cases(inputs: dict, workers: list[int], runners: list[str]) -> list[Case]:
    most = max(workers)
    found = []
    if "footage" in inputs:
        found += [Case("footage", "plain"), Case("footage", "default")]
    if "long" in inputs:
        found += [Case("long", "plain")]
        found += [Case("long", runner, n) for runner in RUNNERS if runner in runners for n in workers]
    found += [Case(name, "direct", most) for name in ("short", "archive") if name in inputs]
    return found


def machine() -> dict:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def version(pkg: str) -> str:
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    import imageio_ffmpeg

    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_total_gb": round(os.sysconf("SC_PHYS_PAGES") * PAGE / 1e9, 1),
        "python": platform.python_version(),
        "apache-beam": version("apache-beam"),
        "mediapipe": version("mediapipe"),
        "av": version("av"),
        "dask": version("dask"),
        "imageio-ffmpeg": version("imageio-ffmpeg"),
        "ffmpeg": imageio_ffmpeg.get_ffmpeg_version(),
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
    }


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def tail(path: str, lines: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def fail(what: str, run: dict) -> None:
    print(f"\nbench: {what} failed (exit {run['returncode']}): {' '.join(run['cmd'])}", file=sys.stderr)
    print(tail(run["log"]), file=sys.stderr)
    sys.exit(1)


def summarize(res: dict, args: argparse.Namespace) -> dict:
    """Median frames/s per case, ratios to the plain transcode, and each target's verdict."""
    runs, limit = res["runs"], args.foreign_limit
    by_case: dict[str, list[dict]] = {}
    for run in runs:
        by_case.setdefault(run["case"], []).append(run)
    fps = {case: statistics.median(r["fps"] for r in found) for case, found in by_case.items()}
    dirty = {case: any(r["foreign_cores"] > limit for r in found) for case, found in by_case.items()}

    def key(name: str, runner: str, workers: int | None = None) -> str:
        return Case(name, runner, workers).label + " | " + name

    targets = []

    def target(what: str, value: float | None, wanted: str, met: bool | None, cases_used: list[str]) -> None:
        contaminated = any(dirty.get(c, False) for c in cases_used)
        targets.append(
            {
                "target": what,
                "value": value,
                "wanted": wanted,
                "met": met,
                "contaminated": contaminated,
                "cases": cases_used,
            }
        )

    lo, hi = min(args.workers), max(args.workers)
    for runner in ("direct", "dask"):
        one, many = key("long", runner, lo), key("long", runner, hi)
        if one in fps and many in fps and hi > lo:
            speedup = fps[many] / fps[one]
            target(
                f"long clip, {runner}: {hi} workers / {lo} worker frames/s",
                speedup,
                f">= {TARGET_SPEEDUP}",
                speedup >= TARGET_SPEEDUP,
                [one, many],
            )
    long_best = key("long", "direct", hi)
    if key("archive", "direct", hi) in fps and long_best in fps:
        share = fps[key("archive", "direct", hi)] / fps[long_best]
        target(
            f"archive / long clip frames/s (--direct-workers {hi})",
            share,
            f">= {TARGET_ARCHIVE_SHARE}",
            share >= TARGET_ARCHIVE_SHARE,
            [key("archive", "direct", hi), long_best],
        )
    if key("short", "direct", hi) in fps and long_best in fps:
        share = fps[long_best] / fps[key("short", "direct", hi)]
        target(
            f"long / short clip frames/s (--direct-workers {hi})",
            share,
            f">= {TARGET_LENGTH_SHARE}",
            share >= TARGET_LENGTH_SHARE,
            [long_best, key("short", "direct", hi)],
        )
    for case, found in by_case.items():
        if case.endswith("| long") and not case.startswith("plain"):
            peak = max(r["peak_tree_rss_bytes"] for r in found)
            target(
                f"peak memory, {case.split(' | ')[0]} on the long clip (process tree RSS)",
                peak,
                f"< {gb(TARGET_PEAK_BYTES)}",
                peak < TARGET_PEAK_BYTES,
                [case],
            )
            # RSS counts the pages of shared libraries once per process; PSS shares them out.
            pss = max((r.get("peak_tree_pss_bytes") or 0) for r in found)
            if pss:
                target(
                    f"peak memory, {case.split(' | ')[0]} on the long clip (process tree PSS)",
                    pss,
                    f"< {gb(TARGET_PEAK_BYTES)}",
                    pss < TARGET_PEAK_BYTES,
                    [case],
                )
    plain = {case.split(" | ")[1]: v for case, v in fps.items() if case.startswith("plain")}
    ratios = {}
    for case, value in fps.items():
        name = case.split(" | ")[1]
        base = plain.get(name, plain.get("long"))  # short and archive: the long clip's transcode, same resolution
        ratios[case] = value / base if base and not case.startswith("plain") else None
    return {"fps": fps, "ratio_to_plain": ratios, "contaminated": dirty, "targets": targets}


def scale_note(res: dict) -> str:
    a = res["args"]
    full = a["minutes"] >= 10 and a["clips"] >= 200
    what = (
        f"long clip {a['minutes']:g} min at {a['fps']} fps, archive of {a['clips']} clips of "
        f"{a['clip_seconds']} s, workers {','.join(map(str, a['workers']))}, {a['runs']} run(s) each"
    )
    if full:
        return f"**Full scale** (issue 7): {what}."
    return (
        f"**REDUCED SCALE** — not the issue's 10-minute clip and 200-file archive: {what}. "
        f"`make bench` (no flags) runs the full scale."
    )


def steal_note(run: dict) -> str:
    """The run's steal in cores, in brackets (runs recorded before steal was measured have none)."""
    return f" (steal {run['steal_cores']:.2f})" if "steal_cores" in run else ""


def write_markdown(path: Path, res: dict) -> None:
    m, s = res["machine"], res["summary"]
    rows = [
        "# Veil benchmark",
        "",
        f"{res['when']}, `{res['command']}`",
        "",
        scale_note(res),
        "",
        "| machine | |",
        "|---|---|",
        f"| nproc | {m['nproc']} |",
        f"| CPU | {m['cpu_model']} |",
        f"| memory | {m['mem_total_gb']} GB |",
        f"| Python | {m['python']} |",
        f"| apache-beam | {m['apache-beam']} |",
        f"| dask | {m['dask']} |",
        f"| mediapipe | {m['mediapipe']} |",
        f"| av | {m['av']} |",
        f"| imageio-ffmpeg (ffmpeg) | {m['imageio-ffmpeg']} ({m['ffmpeg']}) |",
        f"| load average at start | {' '.join(m['loadavg_at_start'])} |",
        "",
        "| input | file | size | frames | fps | files |",
        "|---|---|---|---|---|---|",
    ]
    for name, info in res["inputs"].items():
        rows.append(
            f"| {name} | `{info['path']}` | {info['width']}x{info['height']} | {info['frames']} | "
            f"{info['fps']:.3g} | {info['files']} |"
        )
    rows += [
        "",
        f"Veil args besides the runner's: `{' '.join(res['veil_args']) or '(defaults)'}`; x264 preset "
        f"{res['preset']}, crf {res['crf']} for Veil and the plain transcode. Frames/s = input frames / wall "
        "seconds of the whole command (start-up, and for Veil validation, included). Ratio: to the plain transcode "
        "of the same input (short and archive: of the long clip, same resolution).",
        "",
        f"Foreign load = the machine's busy CPU minus the command's own processes and the bench's, averaged over "
        f"the run, in cores. **Contaminated** = above {res['args']['foreign_limit']} cores: another job shared "
        "the cores, so that run's frames/s is too low by an unknown amount. Steal, in brackets, is the part of it "
        "the hypervisor took for other guests while this machine's vCPUs were ready to run.",
        "",
        "| run | input | command | wall s | frames/s | ratio to plain | CPU s (tree) | peak RSS (tree sum) "
        "| peak PSS (tree sum) | largest process RSS | processes | foreign load, cores | waited for quiet, s "
        "| contaminated |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["runs"]:
        ratio = s["ratio_to_plain"].get(r["case"])
        veil = not r["case"].startswith("plain")
        rows.append(
            f"| {r['run']} | {r['input']} | {r['case'].split(' | ')[0]} | {r['wall_s']:.1f} | {r['fps']:.2f} | "
            f"{'' if ratio is None else f'{ratio:.3f}'} | {r['cpu_s']:.1f} | "
            f"{gb(r['peak_tree_rss_bytes']) if veil else ''} | {gb(r['peak_tree_pss_bytes']) if veil else ''} | "
            f"{gb(r['max_single_rss_bytes'])} | {r['peak_processes']} at once, {r['processes_seen']} seen | "
            f"{r['foreign_cores']:.2f}{steal_note(r)} | {r['waited_s']:.0f} | "
            f"{'**yes**' if r['foreign_cores'] > res['args']['foreign_limit'] else 'no'} |"
        )
    rows += ["", "| target | value | wanted | met | measured on contaminated runs |", "|---|---|---|---|---|"]
    for t in s["targets"]:
        value = gb(t["value"]) if "memory" in t["target"] else f"{t['value']:.2f}"
        rows.append(
            f"| {t['target']} | {value} | {t['wanted']} | {'yes' if t['met'] else '**NO**'} | "
            f"{'**yes**' if t['contaminated'] else 'no'} |"
        )
    if res.get("plot"):
        rows += ["", f"![throughput vs workers]({res['plot']})"]
    path.write_text("\n".join(rows) + "\n")


def plot(path: Path, res: dict) -> str | None:
    """Frames/s of the long clip against workers, per runner, beside linear scaling from one worker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s, limit = res["summary"], res["args"]["foreign_limit"]
    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = False
    for runner, colour in (("direct", "tab:blue"), ("dask", "tab:orange")):
        points = sorted(
            (r["workers"], r["fps"], r["foreign_cores"] > limit)
            for r in res["runs"]
            if r["input"] == "long" and r["runner"] == runner
        )
        if not points:
            continue
        workers = sorted({w for w, _, _ in points})
        medians = [statistics.median(f for w2, f, _ in points if w2 == w) for w in workers]
        label = "--direct-workers N" if runner == "direct" else "--runner dask --workers N"
        ax.plot(workers, medians, "o-", color=colour, label=label)
        ax.plot(workers, [medians[0] * w / workers[0] for w in workers], ":", color=colour, label=f"{label}, linear")
        for w, f, dirty in points:
            if dirty:
                ax.plot([w], [f], "x", color="red", markersize=10)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    plain = s["fps"].get("plain ffmpeg | long")
    ax.set_xlabel("worker processes")
    ax.set_ylabel("frames/s (whole command)")
    ax.set_xticks(res["args"]["workers"])
    ax.set_ylim(bottom=0)
    title = f"Veil on the long {res['inputs']['long']['width']}x{res['inputs']['long']['height']} clip"
    ax.set_title(title + (f" (plain ffmpeg: {plain:.0f} frames/s)" if plain else ""), fontsize=9)
    ax.legend(fontsize=8, title="red x: contaminated run", title_fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


# ---------------------------------------------------------------- main


def prepare_inputs(args: argparse.Namespace) -> dict[str, tuple[Path, dict]]:
    inputs = {}
    if "footage" in args.only:
        footage = find_footage()
        if footage is None:
            print("footage: the shared clip is not there, skipped")
        else:
            inputs["footage"] = (footage, describe(footage))
    scene = Scene()
    frames = round(args.minutes * 60 * args.fps)
    tag = f"{args.minutes:g}m-{args.fps}fps"
    for name, count in (("long", frames), ("short", max(args.fps, frames // 5))):
        if name in args.only:
            print(f"{name}: generating {count} frames of 1080p (once; kept in {OUT})", flush=True)
            path = write_scene(scene, OUT / f"{name}-{count}f-{tag}.mp4", 0, count, args.fps)
            inputs[name] = (path, describe(path))
    if "archive" in args.only:
        per_clip = args.clip_seconds * args.fps
        print(f"archive: generating {args.clips} clips of {per_clip} frames (once; kept in {OUT})", flush=True)
        path = write_archive(
            scene, OUT / f"archive-{args.clips}x{args.clip_seconds}s-{args.fps}fps.tar", args.clips, per_clip, args.fps
        )
        inputs["archive"] = (path, describe_archive(path, args.clips, per_clip, args.fps))
    return inputs


def plain_command(path: Path, out: Path, width: int, height: int, preset: str, crf: str) -> list[str]:
    """The plain transcode Veil is measured against: the imageio-ffmpeg binary, libx264 at Veil's preset, crf and
    pixel format, no audio (bench/eval.py uses it too)."""
    import imageio_ffmpeg

    pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"  # as Veil
    return [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-i",
        str(path),
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-crf",
        crf,
        "-pix_fmt",
        pix_fmt,
        str(out),
    ]


def veil_command(path: Path, out: Path, veil_args: list[str]) -> list[str]:
    """`veil anonymize INPUT OUT --force ARGS`, by the venv's console script (or the module when it is absent)."""
    veil_bin = Path(sys.executable).parent / "veil"
    cmd = [str(veil_bin), "anonymize"] if veil_bin.exists() else [sys.executable, "-m", "pipelines.anonymize"]
    return cmd + [str(path), str(out), "--force", *veil_args]


def run_case(
    case: Case, run: int, path: Path, info: dict, veil_args: list[str], preset: str, crf: str, args: argparse.Namespace
) -> dict:
    plain_out, veil_out = OUT / "plain.mp4", OUT / "veil-out"
    if case.runner == "plain":
        cmd = plain_command(path, plain_out, info["width"], info["height"], preset, crf)
        plain_out.unlink(missing_ok=True)
    else:
        cmd = veil_command(path, veil_out, [*case.veil_args(), *veil_args])
        shutil.rmtree(veil_out, ignore_errors=True)
    quiet_load, waited = wait_for_quiet(args.foreign_limit, args.quiet_wait)
    slug = f"{case.input}-{case.runner}{case.workers or ''}-run{run}"
    result = timed(cmd, OUT / f"{slug}.log")
    if result["returncode"] != 0:
        fail(case.label, result)
    outputs = [plain_out] if case.runner == "plain" else sorted((veil_out / "anonymized").rglob("*.mp4"))
    if len(outputs) != info["files"]:
        result["returncode"] = f"0 but {len(outputs)} output videos for {info['files']} inputs"
        fail(case.label, result)
    result.update(
        case=f"{case.label} | {case.input}",
        input=case.input,
        runner=case.runner,
        workers=case.workers,
        run=run,
        fps=info["frames"] / result["wall_s"],
        waited_s=waited,
        load_before_cores=quiet_load,
        output_frames=sum(count_frames(p) for p in outputs),
    )
    if result["output_frames"] != info["frames"]:
        print(f"      WARNING: output has {result['output_frames']} frames, input {info['frames']}")
    if result["leftover_pids"]:
        print(f"      WARNING: the command left processes running: {result['leftover_pids']}")
    flag = "  CONTAMINATED" if result["foreign_cores"] > args.foreign_limit else ""
    print(
        f"run {run} {case.input:8s} {case.label:34s} {result['wall_s']:7.1f} s {result['fps']:8.2f} frames/s  "
        f"peak tree RSS {gb(result['peak_tree_rss_bytes'])}  foreign {result['foreign_cores']:.2f} cores"
        f"{steal_note(result)} (waited {waited:.0f} s){flag}",
        flush=True,
    )
    return result


def main(argv: list[str]) -> int:
    args, veil_args = parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    become_subreaper()
    info = machine()
    print(
        f"machine: {info['nproc']} x {info['cpu_model']}, Python {info['python']}, apache-beam "
        f"{info['apache-beam']}, dask {info['dask']}, load {' '.join(info['loadavg_at_start'])}"
    )
    inputs = prepare_inputs(args)
    preset = option_value(veil_args, "preset", "veryfast")
    crf = option_value(veil_args, "crf", "23")
    runs = []
    for run in range(1, args.runs + 1):
        for case in cases(inputs, args.workers, args.runners):
            path, described = inputs[case.input]
            runs.append(run_case(case, run, path, described, veil_args, preset, crf, args))

    res = {
        "when": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["bench/bench.py", *argv]),
        "machine": info,
        "args": {k: v for k, v in vars(args).items()},
        "inputs": {k: v[1] for k, v in inputs.items()},
        "veil_args": veil_args,
        "preset": preset,
        "crf": crf,
        "runs": runs,
    }
    res["summary"] = summarize(res, args)
    plot_name = "throughput-vs-workers.png" if args.results == "results" else f"{args.results}.png"
    res["plot"] = plot(BENCH / plot_name, res)
    (BENCH / f"{args.results}.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    write_markdown(BENCH / f"{args.results}.md", res)
    print("\ntargets:")
    for t in res["summary"]["targets"]:
        value = gb(t["value"]) if "memory" in t["target"] else f"{t['value']:.2f}"
        print(
            f"  {t['target']}: {value} (wanted {t['wanted']}): {'met' if t['met'] else 'NOT MET'}"
            f"{'  [contaminated runs]' if t['contaminated'] else ''}"
        )
    print(
        f"\nwritten: {BENCH / (args.results + '.md')}, {BENCH / (args.results + '.json')}"
        + (f", {BENCH / res['plot']}" if res["plot"] else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
