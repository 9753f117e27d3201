"""The floor of one recorded execution on this machine, and where one recorded execution
spends its time (for ``bench_records.py``).

Floor: one orjson encode and one stdlib canonical encode of a stored record's value, one
SHA-256 of its bytes, one ``os.write`` of them to an open file, one SQLite row in a batch
of 64 (tmpfs and the temp dir's file system). Only public APIs of intentusnet_core are
used (a record is obtained from ``store.load``), so the figures survive internal changes.

Attribution: cProfile over N routed and recorded executions, own time grouped by the
module each function lives in (routing, record building, encoding, hashing, redaction,
store write, other); the profiler's overhead inflates every part, so the shares matter,
not the absolute figures.
"""

from __future__ import annotations

import cProfile
import hashlib
import json
import os
import pstats
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["attribution", "floor"]

try:
    import orjson
except ImportError:  # pragma: no cover
    orjson = None  # type: ignore[assignment]

_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                              allow_nan=False)


def _per_call_us(fn: Callable[[], Any], n: int, repeats: int = 5) -> float:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter_ns() - t0) / n / 1000.0)
    return round(statistics.median(samples), 2)


def _sqlite_row_us(where: Path, body: str, batches: int = 12) -> float:
    """us per row: batches of 64 rows (id, body) inserted in one transaction each, WAL,
    synchronous=NORMAL (what the default store's batches cost at the least)."""
    db = where / "floor.db"
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("pragma journal_mode=wal")
        conn.execute("pragma synchronous=NORMAL")
        conn.execute("create table r (id text primary key, body text not null)")
        samples = []
        for batch in range(batches):
            rows = [(f"{batch}-{i}", body) for i in range(64)]
            t0 = time.perf_counter_ns()
            conn.execute("begin immediate")
            conn.executemany("insert into r values (?, ?)", rows)
            conn.execute("commit")
            samples.append((time.perf_counter_ns() - t0) / 64 / 1000.0)
    finally:
        conn.close()
    return round(statistics.median(samples[2:] or samples), 2)


def floor(record: Any, roots: dict[str, Path]) -> dict[str, Any]:
    """The floor figures for *record* (an ExecutionRecord loaded from a store); *roots*
    maps a label ("tmpfs", "ext4 (temp dir)") to a folder on that file system."""
    value = record.to_wire()
    text = _CANONICAL.encode(value)
    data = text.encode("utf-8")
    out: dict[str, Any] = {"record_bytes": len(data)}
    if orjson is not None:
        out["orjson_encode_us"] = _per_call_us(
            lambda: orjson.dumps(value, option=orjson.OPT_SORT_KEYS), 2000)
    out["stdlib_encode_us"] = _per_call_us(lambda: _CANONICAL.encode(value), 1000)
    out["sha256_us"] = _per_call_us(lambda: hashlib.sha256(data).hexdigest(), 2000)
    for label, root in roots.items():
        where = Path(tempfile.mkdtemp(prefix="floor-", dir=root))
        fd = os.open(where / "append.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            out[f"os_write_us[{label}]"] = _per_call_us(lambda fd=fd: os.write(fd, data), 500)
        finally:
            os.close(fd)
        out[f"sqlite_row_in_batch_of_64_us[{label}]"] = _sqlite_row_us(where, text)
    return out


# module file -> part of the record path (first match wins; unknown files are "other")
_PARTS = (
    ("redaction", ("redaction", "leak_guard", "redaction_key")),
    ("hashing", ("hashing.py:stable_hash", "hashing.py:hash_text", "_hashlib", "sha256")),
    ("encoding", ("json/encoder", "hashing.py", "orjson", "pretty_fast", "strict_json",
                  "json/decoder", "_json")),
    ("store write", ("stores/", "serialization", "sqlite3", "posix.", "io.open",
                     "fcntl", "pathlib", "tempfile", "secrets")),
    ("record building", ("recording", "records", "record_", "wire_format", "pydantic",
                         "attempts", "steps", "step_values", "agent_output", "decision",
                         "identity", "models", "copy", "usage")),
    ("routing", ("routing", "recorded_route", "plain_route", "runtime", "agents",
                 "agent_calls", "context", "execution", "policy", "tracing", "otel")),
)


def _part_of(filename: str, name: str) -> str:
    key = f"{filename}:{name}"
    for part, needles in _PARTS:
        if any(needle in key for needle in needles):
            return part
    return "other"


def attribution(route: Callable[[], Any], n: int) -> dict[str, Any]:
    """Own time per part of the record path over *n* calls of *route* (one routed and
    recorded execution each), under cProfile: us per execution and share."""
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(n):
        route()
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    parts: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        part = _part_of(filename.replace("\\", "/"), name)
        parts[part] = parts.get(part, 0.0) + tottime
    total = sum(parts.values()) or 1.0
    return {part: {"us_per_execution": round(seconds / n * 1e6, 1),
                   "share": round(seconds / total, 3)}
            for part, seconds in sorted(parts.items(), key=lambda kv: -kv[1])}
