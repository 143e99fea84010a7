"""Throughput and peak memory of Veil against a plain ffmpeg transcode of the same clip (`make bench`).

    .venv/bin/python bench/bench.py [--clip PATH] [--runs N] [-- EXTRA VEIL ARGS]

Clip: --clip, else one-by-one-person-detection.mp4 from $VEIL_FOOTAGE (a folder or the file itself) or
../shared/footage next to the repository, else a generated 1920x1080 clip (300 frames, GOP 25) in bench/out/.

For each run it times, as whole commands (wall seconds from start to exit):
  - plain: the imageio-ffmpeg binary transcoding the clip with libx264 at Veil's preset and crf, no audio;
  - veil:  `veil anonymize CLIP bench/out/veil-out --force [EXTRA]`, with its process tree's memory polled
           from /proc (sum of RSS and of PSS over every descendant, worker processes included).
Frames/s = input frames / wall seconds. Targets: Veil >= 0.5x the plain transcode's frames/s, peak memory
< 1.5 GB. A missed target is reported, not an error; a failing command exits non-zero.
Writes bench/results.md and bench/results.json.
"""
from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
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
GENERATED = OUT / "generated-1080p.mp4"
GEN_FRAMES, GEN_SIZE, GEN_FPS, GEN_GOP = 300, (1920, 1080), 25, 25

TARGET_RATIO = 0.5
TARGET_PEAK_BYTES = 1.5e9
POLL_SECONDS = 0.1
PAGE = os.sysconf("SC_PAGE_SIZE")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- arguments


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Bench options; everything after `--` (and any option the bench does not know) goes to veil."""
    if "--" in argv:
        cut = argv.index("--")
        own, extra = argv[:cut], argv[cut + 1:]
    else:
        own, extra = argv, []
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--clip", help="the clip to benchmark (default: the shared footage, else a generated one)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each command (default 1); medians reported")
    args, unknown = parser.parse_known_args(own)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
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


# ---------------------------------------------------------------- the clip


def find_clip(explicit: str | None) -> tuple[Path, str]:
    """(clip, how it was chosen)."""
    if explicit:
        path = Path(explicit).expanduser().resolve()
        if not path.is_file():
            sys.exit(f"bench: --clip {explicit}: no such file")
        return path, "given with --clip"
    candidates = []
    env = os.environ.get("VEIL_FOOTAGE")
    if env:
        env_path = Path(env).expanduser()
        candidates.append((env_path if env_path.is_file() else env_path / CLIP_NAME, "from $VEIL_FOOTAGE"))
    candidates.append((REPO.parent / "shared" / "footage" / CLIP_NAME, "shared footage"))
    for path, how in candidates:
        if path.is_file():
            return path.resolve(), how
    return generate_clip(), "generated (shared footage not found)"


def generate_clip() -> Path:
    """A CCTV-like 1080p clip: static textured scene, objects moving across it; reused when already there."""
    if GENERATED.is_file():
        try:
            with av.open(str(GENERATED)) as c:
                s = c.streams.video[0]
                if (s.width, s.height) == GEN_SIZE and count_frames(GENERATED) == GEN_FRAMES:
                    return GENERATED
        except av.FFmpegError:
            pass
    OUT.mkdir(parents=True, exist_ok=True)
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
        background[y0:y0 + bh, x0:x0 + bw] = rng.integers(20, 235, 3)
    background = np.clip(background.astype(np.int16) + rng.integers(-6, 7, (h, w, 1)), 0, 255).astype(np.uint8)
    movers = [  # x, y, vx, vy, width, height, colour
        (0, 500, 9, 0, 120, 340, (200, 160, 140)),
        (1800, 300, -6, 1, 100, 300, (90, 60, 50)),
        (600, 900, 4, -2, 160, 160, (230, 230, 230)),
        (300, 100, 3, 2, 80, 240, (150, 120, 200)),
    ]
    tmp = GENERATED.with_suffix(".tmp.mp4")
    with av.open(str(tmp), mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=GEN_FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = GEN_GOP
        stream.options = {"preset": "veryfast", "crf": "20",
                          "x264-params": f"keyint={GEN_GOP}:min-keyint={GEN_GOP}:scenecut=0"}
        for i in range(GEN_FRAMES):
            img = background.copy()
            for x, y, vx, vy, bw, bh, colour in movers:
                px = int(x + vx * i) % (w - bw)
                py = int(y + vy * i) % (h - bh)
                img[py:py + bh, px:px + bw] = colour
                img[py + 10:py + 50, px + bw // 4:px + 3 * bw // 4] = (210, 170, 150)  # a "head"
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    tmp.replace(GENERATED)
    return GENERATED


def count_frames(path: Path) -> int:
    """Video frames in a file, by demuxing (no decode)."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return sum(1 for p in c.demux(stream) if p.size)


def describe(path: Path) -> dict:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate = s.average_rate or s.guessed_rate
        return {"path": str(path), "codec": s.codec_context.name, "width": s.width, "height": s.height,
                "fps": float(Fraction(rate)) if rate else None, "frames": count_frames(path),
                "bytes": path.stat().st_size}


# ---------------------------------------------------------------- process tree measurement


def become_subreaper() -> None:
    """Orphaned grandchildren (e.g. a runner's workers outliving it) re-parent to us, so we still see them."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, rss pages) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[1]), int(fields[21])
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


def descendants(root: int) -> dict[int, int]:
    """{pid: rss bytes} of every live descendant of root (not root itself)."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st:
                table[int(name)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = table[pid][1] * PAGE
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

    def run(self) -> None:
        me = os.getpid()
        while not self.stop.is_set():
            tree = descendants(me)
            if tree:
                self.samples += 1
                for pid in tree.keys() - self.pids.keys():
                    self.pids[pid] = _comm(pid)
                self.peak_rss = max(self.peak_rss, sum(tree.values()))
                self.peak_procs = max(self.peak_procs, len(tree))
                self.peak_pss = max(self.peak_pss, sum(_pss(p) for p in tree))
            self.stop.wait(POLL_SECONDS)


def cpu_busy_seconds() -> float:
    """Busy CPU seconds of the whole machine so far (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / CLK_TCK


def timed(cmd: list[str], log: Path, sample: bool) -> dict:
    """Run a command to completion; wall time, exit status, CPU and memory of its tree."""
    sampler = TreeSampler() if sample else None
    busy0 = cpu_busy_seconds()
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if sampler:
            sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    busy = cpu_busy_seconds() - busy0
    leftovers = descendants(os.getpid())  # processes the command left running (re-parented to us)
    if sampler:
        sampler.stop.set()
        sampler.join()
    reap()
    cpu = usage.ru_utime + usage.ru_stime  # the child and every descendant it (or we, as subreaper) reaped
    result = {"cmd": cmd, "returncode": proc.returncode, "wall_s": wall, "cpu_s": cpu,
              "other_cpu_s": max(0.0, busy - cpu), "max_single_rss_bytes": usage.ru_maxrss * 1024,
              "log": str(log), "leftover_pids": sorted(leftovers)}
    if sampler:
        result.update(peak_tree_rss_bytes=sampler.peak_rss, peak_tree_pss_bytes=sampler.peak_pss,
                      peak_processes=sampler.peak_procs, processes_seen=len(sampler.pids),
                      process_commands=[sampler.pids[p] for p in sorted(sampler.pids)],
                      samples=sampler.samples)
    return result


def reap() -> None:
    """Collect re-parented orphans that have exited."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# ---------------------------------------------------------------- reporting


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

    return {"nproc": os.cpu_count(), "cpu_model": model, "mem_total_gb": round(
        os.sysconf("SC_PHYS_PAGES") * PAGE / 1e9, 1), "python": platform.python_version(),
        "apache-beam": version("apache-beam"), "mediapipe": version("mediapipe"), "av": version("av"),
        "imageio-ffmpeg": version("imageio-ffmpeg"), "ffmpeg": imageio_ffmpeg.get_ffmpeg_version(),
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3]}


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


def write_markdown(path: Path, res: dict) -> None:
    m, c, s = res["machine"], res["clip"], res["summary"]
    rows = [
        "# Veil benchmark", "",
        f"{res['when']}, `{res['command']}`", "",
        "| machine | |", "|---|---|",
        f"| nproc | {m['nproc']} |", f"| CPU | {m['cpu_model']} |", f"| memory | {m['mem_total_gb']} GB |",
        f"| Python | {m['python']} |", f"| apache-beam | {m['apache-beam']} |", f"| mediapipe | {m['mediapipe']} |",
        f"| av | {m['av']} |", f"| imageio-ffmpeg (ffmpeg) | {m['imageio-ffmpeg']} ({m['ffmpeg']}) |",
        f"| load average at start | {' '.join(m['loadavg_at_start'])} |", "",
        f"Clip: `{c['path']}` ({res['clip_source']}): {c['width']}x{c['height']}, {c['frames']} frames, "
        f"{c['fps']:.3g} fps, {c['codec']}. Veil args: `{' '.join(res['veil_args']) or '(defaults)'}`; "
        f"x264 preset {res['preset']}, crf {res['crf']} for both.", "",
        "| run | command | wall s | frames/s | CPU s (tree) | other load, CPU s | peak RSS (tree sum) "
        "| peak PSS (tree sum) | max single-process RSS | processes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, (p, v) in enumerate(zip(res["plain_runs"], res["veil_runs"]), 1):
        rows.append(f"| {i} | plain ffmpeg | {p['wall_s']:.2f} | {p['fps']:.1f} | {p['cpu_s']:.1f} | "
                    f"{p['other_cpu_s']:.1f} | | | {gb(p['max_single_rss_bytes'])} | 1 |")
        rows.append(f"| {i} | veil | {v['wall_s']:.2f} | {v['fps']:.1f} | {v['cpu_s']:.1f} | "
                    f"{v['other_cpu_s']:.1f} | {gb(v['peak_tree_rss_bytes'])} | {gb(v['peak_tree_pss_bytes'])} | "
                    f"{gb(v['max_single_rss_bytes'])} | {v['peak_processes']} at once, {v['processes_seen']} seen |")
    rows += [
        "", "| result | value | target | met |", "|---|---|---|---|",
        f"| plain ffmpeg frames/s (median) | {s['plain_fps']:.1f} | | |",
        f"| Veil frames/s (median) | {s['veil_fps']:.1f} | | |",
        f"| throughput ratio Veil / plain | {s['ratio']:.3f} | >= {TARGET_RATIO} | "
        f"{'yes' if s['ratio_met'] else 'NO'} |",
        f"| Veil peak memory (process tree RSS) | {gb(s['peak_bytes'])} | < {gb(TARGET_PEAK_BYTES)} | "
        f"{'yes' if s['memory_met'] else 'NO'} |", "",
    ]
    path.write_text("\n".join(rows))


# ---------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    args, veil_args = parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    become_subreaper()
    info = machine()
    clip, clip_source = find_clip(args.clip)
    clip_info = describe(clip)
    frames = clip_info["frames"]
    preset = option_value(veil_args, "preset", "veryfast")
    crf = option_value(veil_args, "crf", "23")

    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    pix_fmt = "yuv420p" if clip_info["width"] % 2 == 0 and clip_info["height"] % 2 == 0 else "yuv444p"  # as Veil
    plain_out = OUT / "plain.mp4"
    veil_out = OUT / "veil-out"
    veil_bin = Path(sys.executable).parent / "veil"
    veil_cmd = [str(veil_bin), "anonymize"] if veil_bin.exists() else [sys.executable, "-m", "pipelines.anonymize"]
    veil_cmd += [str(clip), str(veil_out), "--force", *veil_args]
    plain_cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(clip), "-an",
                 "-c:v", "libx264", "-preset", preset, "-crf", crf, "-pix_fmt", pix_fmt, str(plain_out)]

    print(f"clip: {clip} [{clip_source}]")
    print(f"      {clip_info['width']}x{clip_info['height']}, {frames} frames, {clip_info['fps']:.3g} fps, "
          f"{clip_info['codec']}")
    print(f"machine: {info['nproc']} x {info['cpu_model']}, Python {info['python']}, apache-beam "
          f"{info['apache-beam']}, mediapipe {info['mediapipe']}, av {info['av']}, "
          f"load {' '.join(info['loadavg_at_start'])}")
    print(f"plain: {' '.join(plain_cmd)}")
    print(f"veil:  {' '.join(veil_cmd)}\n")

    plain_runs, veil_runs = [], []
    for i in range(1, args.runs + 1):
        plain_out.unlink(missing_ok=True)
        p = timed(plain_cmd, OUT / f"plain-run{i}.log", sample=False)
        if p["returncode"] != 0:
            fail("plain transcode", p)
        p["fps"] = frames / p["wall_s"]
        p["output_frames"] = count_frames(plain_out)
        plain_runs.append(p)
        print(f"run {i} plain: {p['wall_s']:.2f} s, {p['fps']:.1f} frames/s (CPU {p['cpu_s']:.1f} s, "
              f"other load {p['other_cpu_s']:.1f} CPU s)")

        shutil.rmtree(veil_out, ignore_errors=True)
        v = timed(veil_cmd, OUT / f"veil-run{i}.log", sample=True)
        if v["returncode"] != 0:
            fail("veil", v)
        v["fps"] = frames / v["wall_s"]
        videos = sorted((veil_out / "anonymized").rglob("*.mp4"))
        if len(videos) != 1:
            v["returncode"] = f"0 but {len(videos)} output videos"
            fail("veil", v)
        v["output"] = str(videos[0])
        v["output_frames"] = count_frames(videos[0])
        veil_runs.append(v)
        print(f"run {i} veil:  {v['wall_s']:.2f} s, {v['fps']:.1f} frames/s (CPU {v['cpu_s']:.1f} s, "
              f"other load {v['other_cpu_s']:.1f} CPU s); peak tree RSS {gb(v['peak_tree_rss_bytes'])}, "
              f"PSS {gb(v['peak_tree_pss_bytes'])}, largest process {gb(v['max_single_rss_bytes'])}, "
              f"{v['peak_processes']} processes at once")
        for line in tail(v["log"], 200).splitlines():
            if line.lstrip().startswith(("frames:", "inputs:")):
                print(f"             veil says: {line.strip()}")
        for what, run in (("plain", p), ("veil", v)):
            if run["output_frames"] != frames:
                print(f"      WARNING: {what} output has {run['output_frames']} frames, input {frames}")
        if v["leftover_pids"]:
            print(f"      WARNING: veil left processes running: {v['leftover_pids']}")

    plain_fps = statistics.median(r["fps"] for r in plain_runs)
    veil_fps = statistics.median(r["fps"] for r in veil_runs)
    ratio = veil_fps / plain_fps
    peak = max(r["peak_tree_rss_bytes"] for r in veil_runs)
    summary = {"plain_fps": plain_fps, "veil_fps": veil_fps, "ratio": ratio, "ratio_met": ratio >= TARGET_RATIO,
               "peak_bytes": peak, "memory_met": peak < TARGET_PEAK_BYTES,
               "peak_pss_bytes": max(r["peak_tree_pss_bytes"] for r in veil_runs),
               "peak_single_process_bytes": max(r["max_single_rss_bytes"] for r in veil_runs)}
    agg = "median of " + str(args.runs) + " runs" if args.runs > 1 else "1 run"
    print(f"\nresults ({agg}, clip {clip.name}, {frames} frames):")
    print(f"  plain ffmpeg transcode: {plain_fps:8.1f} frames/s")
    print(f"  Veil:                   {veil_fps:8.1f} frames/s")
    print(f"  ratio Veil / plain:     {ratio:8.3f}   target >= {TARGET_RATIO}: "
          f"{'met' if summary['ratio_met'] else 'NOT MET'}")
    print(f"  Veil peak memory:       {gb(peak):>8}   target < {gb(TARGET_PEAK_BYTES)}: "
          f"{'met' if summary['memory_met'] else 'NOT MET'}"
          f"   (process-tree RSS sum; PSS {gb(summary['peak_pss_bytes'])}, "
          f"largest single process {gb(summary['peak_single_process_bytes'])})")

    results = {"when": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
               "command": " ".join(["bench/bench.py", *argv]), "machine": info, "clip": clip_info,
               "clip_source": clip_source, "veil_args": veil_args, "preset": preset, "crf": crf,
               "targets": {"ratio_min": TARGET_RATIO, "peak_bytes_max": TARGET_PEAK_BYTES},
               "plain_runs": plain_runs, "veil_runs": veil_runs, "summary": summary,
               "bench_rusage_children_maxrss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}
    (BENCH / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    write_markdown(BENCH / "results.md", results)
    print(f"\nwritten: {BENCH / 'results.md'}, {BENCH / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
