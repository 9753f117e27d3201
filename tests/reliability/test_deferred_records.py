"""Records built on first use (``record_deferred``) behave as built ones: a shallow copy of
one not built yet is a usable record, and a thread reading a record while another builds it
waits for the build instead of seeing it half built."""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import record_deferred, trusted_load
from intentusnet_core.records import ExecutionRecord

ROOT = Path(__file__).resolve().parents[2]


def _loaded() -> ExecutionRecord:
    raw = sorted((ROOT / "cassettes").rglob("*.json"))[0].read_bytes()
    loaded = trusted_load.trusted_records(raw)
    assert loaded is not None
    record = loaded[1][0]
    assert type(record) is record_deferred.DeferredRecord
    return record


def test_a_shallow_copy_of_a_record_not_built_yet_is_a_usable_record() -> None:
    built = _loaded()
    assert built.execution_id  # builds it
    copied = copy.copy(_loaded())  # copy.copy finds __copy__ on the class
    assert type(copied) is ExecutionRecord
    assert copied.execution_id == built.execution_id
    assert copied == built
    assert repr(copied) == repr(built)


def test_a_thread_reading_a_record_another_builds_waits_for_the_build(
        monkeypatch: pytest.MonkeyPatch) -> None:
    record = _loaded()
    errors: list[BaseException] = []
    seen: list[str] = []
    threads: list[threading.Thread] = []
    real_set = record_deferred._set

    def reader() -> None:
        try:
            seen.append(record.execution_id)
        except BaseException as exc:  # the failure under test
            errors.append(exc)

    def switching_set(obj: Any, name: str, value: Any) -> None:
        real_set(obj, name, value)
        # the build has replaced the record's state, its class not yet: another thread
        # reads now (it must wait for the build, which holds the lock, to end)
        if obj is record and name == "__dict__" and "\0parsed" not in value:
            thread = threading.Thread(target=reader)
            threads.append(thread)
            thread.start()
            thread.join(0.5)

    monkeypatch.setattr(record_deferred, "_set", switching_set)
    built_id = record.execution_id
    for thread in threads:
        thread.join(10)
    assert threads
    assert errors == []
    assert seen == [built_id]
