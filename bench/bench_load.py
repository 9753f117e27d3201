#!/usr/bin/env python3
"""Loading stored records: ``store.load(id)``, ``replay(id, store)`` and ``store.list()`` of
1,000 records, SQLite, file and memory store, each with a cold and a warm cache of checked
bytes; and ``replay(record)`` of a record loaded before (SQLite).

*cold*: the process has not loaded these bytes before (``record_check.forget_all()`` before
every operation): strict shape check and one hash over the stored bytes. *warm*: the same
bytes again in the same process (what a second ``list()`` costs). Prints one JSON object.

To compare two checkouts side by side, fill the stores once, then alternate::

    PYTHONPATH=OLD .venv/bin/python bench/bench_load.py /tmp/load-data
    PYTHONPATH=NEW .venv/bin/python bench/bench_load.py /tmp/load-data

(the first run fills ``/tmp/load-data`` with 1,000 records per store; the records are the
same format in both). Medians of 7 repeats; nothing is asserted. ``BENCH_CLOCK=thread``
times with the CPU time of the thread instead of the wall clock (on a machine other
processes share, the figure then moves less with their load). ``BENCH_STORES=file`` (or a
comma-separated list of ``sqlite``, ``file``, ``memory``) measures only those stores.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _machine import loadavg  # noqa: E402

from intentusnet_core import (  # noqa: E402
    FileExecutionStore,
    InMemoryExecutionStore,
    SQLiteExecutionStore,
    replay,
)


def forget() -> None:
    try:  # checkouts before the one-pass load check have no cache to clear
        from intentusnet_core.record_check import forget_all
    except ImportError:
        return
    forget_all()


def fill(root: Path) -> None:
    import bench_records

    root.mkdir(parents=True, exist_ok=True)
    sqlite_store = SQLiteExecutionStore(root / "records.db")
    ids = bench_records.fill(sqlite_store, 1000)
    sqlite_store.close()
    bench_records.fill(FileExecutionStore(root / "files", fsync=False), 1000)
    (root / "ids").write_text("\n".join(ids))
    (root / "done").write_text("")


CLOCK = time.thread_time_ns if os.environ.get("BENCH_CLOCK") == "thread" else time.perf_counter_ns


def timed(fn: Callable[[], Any], n: int, cold: bool, scale: float) -> float:
    samples = []
    for _ in range(7):
        gc.collect()
        total = 0
        for _ in range(n):
            if cold:
                forget()
            t0 = CLOCK()
            fn()
            total += CLOCK() - t0
        samples.append(total / n / scale)
    return round(statistics.median(samples), 2)


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path("/tmp/intentusnet-load-bench")
    if not (root / "done").exists():
        fill(root)
    sqlite_id = (root / "ids").read_text().split("\n")[500]
    sqlite_store = SQLiteExecutionStore(root / "records.db")
    file_store = FileExecutionStore(root / "files", fsync=False)
    file_id = file_store.list()[500].execution_id
    memory_store = InMemoryExecutionStore()
    for record in sqlite_store.list():
        memory_store.save(record)
    figures: dict[str, Any] = {"loadavg_start": loadavg()}
    chosen = os.environ.get("BENCH_STORES", "sqlite,file,memory").split(",")
    for name, store, eid in (("sqlite", sqlite_store, sqlite_id),
                             ("file", file_store, file_id),
                             ("memory", memory_store, sqlite_id)):
        if name not in chosen:
            continue
        for label, fn, n, scale in (
                ("list_1000_ms", store.list, 1, 1e6),
                # every listed record read (records listed are built on first use)
                ("list_1000_read_ms", lambda s=store: [r.final_response for r in s.list()],
                 1, 1e6),
                ("load_us", lambda s=store, e=eid: s.load(e), 300, 1e3),
                ("replay_us", lambda s=store, e=eid: replay(e, s), 300, 1e3)):
            for cold in (True, False):
                key = f"{name} {label} {'cold' if cold else 'warm'}"
                figures[key] = timed(fn, n, cold, scale)
    loaded = sqlite_store.load(sqlite_id)
    figures["sqlite replay(record) us"] = timed(lambda: replay(loaded), 300, False, 1e3)
    figures["loadavg_end"] = loadavg()
    figures["clock"] = "thread CPU" if CLOCK is time.thread_time_ns else "wall"
    sqlite_store.close()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
