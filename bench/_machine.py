"""What the bench scripts report about the machine they ran on (Linux /proc, git)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = ["cpu_model", "filesystem_of", "finish", "git_revision", "loadavg"]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def filesystem_of(path: str) -> str:
    """``<device> <fstype> mounted on <mount point>`` for *path*, from /proc/mounts."""
    real = os.path.realpath(path)
    best = None
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype, *_ = line.split()
            if (real == mount or real.startswith(mount.rstrip("/") + "/")) and \
                    (best is None or len(mount) > len(best[1])):
                best = (device, mount, fstype)
    except OSError:
        return "unknown"
    return f"{best[0]} ({best[2]}) mounted on {best[1]}" if best else "unknown"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def git_revision() -> str:
    """Short commit of the checkout being measured (``+dirty`` if the tree has changes)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "intentusnet_core",
                                "pytest_intentusnet"], cwd=root, text=True,
                               capture_output=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def finish(figures: dict[str, Any], started: float, json_path: str | None, *,
           with_load: bool = True) -> int:
    """The end of every bench: total time (and the load at the end) into *figures* and on
    screen, and *figures* written as JSON to *json_path* when given. Returns 0."""
    total = time.perf_counter() - started
    figures["total_elapsed_s"] = round(total, 1)
    if with_load:
        figures["machine"]["loadavg_end"] = loadavg()
        print(f"\n(total {total:.1f} s; loadavg {loadavg()} at end)")
    else:
        print(f"\n(total {total:.1f} s)")
    if json_path:
        Path(json_path).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {json_path}")
    return 0
