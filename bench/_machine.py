"""What the bench scripts report about the machine they ran on (Linux /proc, git)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

__all__ = ["cpu_model", "filesystem_of", "git_revision", "loadavg"]


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
