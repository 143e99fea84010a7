"""Work folders a killed launcher left: which launcher a run's work folder belongs to, and removing the folders
whose launcher has stopped without removing them.

A run's work folder (OUTPUT/.work/<run_id>) holds the archive members it staged, raw footage; the run removes it
when it ends (pipelines/launch.py), but a launcher killed with SIGKILL, or a machine that lost power, cannot.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys

from apache_beam.io.filesystems import FileSystems

from transforms.services import storage

LAUNCHER_FILE = "launcher.json"
"""In the work folder of a job that ends with its launcher: which process on which machine that launcher is."""


def _proc(path: str) -> str | None:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def _started(pid: int) -> str | None:
    """When a process started, in clock ticks since boot (None: no such process, or no /proc); with the pid and the
    boot it names one process, where a pid alone may have been reused."""
    stat = _proc(f"/proc/{pid}/stat")
    return stat.rsplit(")", 1)[1].split()[19] if stat else None


def launcher_claim(pid: int) -> dict:
    """The LAUNCHER_FILE record of process ``pid`` of this machine."""
    return {
        "host": socket.gethostname(),
        "boot": _proc("/proc/sys/kernel/random/boot_id"),
        "pid": pid,
        "started": _started(pid),
    }


def launcher_gone(claim: dict) -> bool:
    """Whether the launcher a LAUNCHER_FILE names has certainly stopped: it ran on this machine, and the machine
    has rebooted since or the process is no longer there. One on another machine is never taken for gone."""
    here = launcher_claim(claim.get("pid", -1))
    if claim.get("host") != here["host"]:
        return False
    if claim.get("boot") != here["boot"]:
        return True
    if here["started"] is not None and claim.get("started") is not None:
        return here["started"] != claim["started"]
    # No start time to compare (no /proc, or one that hides other users' processes): ask the kernel for the pid.
    try:
        os.kill(claim["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def remove_abandoned_work(work_root: str) -> list[str]:
    """Remove the work folders under ``work_root`` (OUTPUT/.work) whose launcher on this machine has stopped without
    removing them (killed, or its machine lost power): they may hold staged raw footage. Returns the folders
    removed."""
    removed = []
    for found in FileSystems.match([storage.join(work_root, "*", LAUNCHER_FILE)])[0].metadata_list:
        try:
            with FileSystems.open(found.path) as handle:
                claim = json.loads(handle.read())
        except (OSError, ValueError):
            continue  # a claim being written, or one removed with its folder since the match
        if not launcher_gone(claim):
            continue
        folder = found.path[: -len(LAUNCHER_FILE)].rstrip("/")
        try:
            storage.delete_work(folder)
        except Exception as err:  # noqa: BLE001 - the run about to start is not to blame
            logging.getLogger(__name__).error(
                "could not remove %s, the work folder of a stopped run, which may hold raw footage: %s", folder, err
            )
            continue
        # One write: the workers of the run starting now share this stream.
        sys.stderr.write(
            f"veil: removed {folder}, the work folder (staged raw footage) of a run whose launcher "
            f"(pid {claim.get('pid')}) stopped without removing it\n"
        )
        removed.append(folder)
    return removed


def claim(work: str) -> None:
    """Record this process as the launcher of the run whose work folder is ``work``, after removing the folders
    beside it whose launcher is gone."""
    remove_abandoned_work(work.rstrip("/").rsplit("/", 1)[0])
    storage.publish_bytes(json.dumps(launcher_claim(os.getpid())).encode(), storage.join(work, LAUNCHER_FILE))
