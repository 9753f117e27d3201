"""A store in memory: for tests and short-lived runtimes (nothing survives the process)."""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from ..errors import RecordNotFoundError, StoreError
from ..record_deferred import deferred_record
from ..records import ExecutionRecord
from .base import check_limit, checked_text, interrupted_record, record_text, time_order_key

__all__ = ["InMemoryExecutionStore"]


class InMemoryExecutionStore:
    """Records in a dict, listed in time order as every store lists them; write-ahead
    entries kept for ``recover``."""

    def __init__(self) -> None:
        # id -> (time order key, intent, status, agent, canonical text)
        self._records: dict[str, tuple[str, str, str, str | None, str]] = {}
        self._pending: dict[str, tuple[dict[str, Any], list[str]]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"InMemoryExecutionStore({len(self._records)} records)"

    def __len__(self) -> int:
        return len(self._records)

    def save(self, record: ExecutionRecord) -> None:
        self._put(record.execution_id, record.created_at, record.intent_name, record.status,
                  record.agent, partial(record_text, record, pretty=False))

    #: the ``save`` that :meth:`save_sealed` stands for (see ``SQLiteExecutionStore``)
    sealed_save_of = save

    def save_sealed(self, execution_id: str, created_at: str, intent: str, agent: str,
                    text: str) -> None:
        """:meth:`save` of a completed top-level record sealed just now, given as its
        canonical *text* and its listed fields (the recorded plain path)."""
        self._put(execution_id, created_at, intent, "completed", agent, checked_text(text))

    def _put(self, execution_id: str, created_at: str, intent: str, status: str,
             agent: str | None, text_for: Callable[[str], str]) -> None:
        with self._lock:
            if execution_id in self._records:
                raise StoreError(f"memory store: execution {execution_id} is already "
                                 "stored; records are immutable")
            text = text_for(f"memory store (execution {execution_id})")
            self._records[execution_id] = (time_order_key(created_at), intent, status,
                                           agent, text)
            self._pending.pop(execution_id, None)

    def load(self, execution_id: str) -> ExecutionRecord:
        try:
            text = self._records[execution_id][4]
        except KeyError:
            raise RecordNotFoundError(
                f"memory store: no execution {execution_id!r}; list the ids with "
                "store.list()") from None
        return _listed(execution_id, text)

    def list(self, intent: str | None = None, agent: str | None = None,
             status: str | None = None,
             limit: int | None = None) -> builtins.list[ExecutionRecord]:
        check_limit(limit)
        rows = sorted((when, execution_id, text) for execution_id, (when, i, s, a, text)
                      in builtins.list(self._records.items())
                      if (intent is None or i == intent) and (status is None or s == status)
                      and (agent is None or a == agent))
        if limit is not None:
            rows = rows[:limit]
        return [_listed(execution_id, text) for _, execution_id, text in rows]

    def __iter__(self) -> Iterator[ExecutionRecord]:
        return iter(self.list())

    def begin(self, execution_id: str, header: dict[str, Any], agent: str) -> None:
        with self._lock:
            self._pending[execution_id] = (header, [agent])

    def attempt_started(self, execution_id: str, agent: str) -> None:
        with self._lock:
            self._pending[execution_id][1].append(agent)

    def recover(self) -> builtins.list[ExecutionRecord]:
        with self._lock:
            pending, self._pending = self._pending, {}
        recovered = [interrupted_record(header, attempts) for header, attempts in
                     pending.values()]
        for record in recovered:
            self.save(record)
        return recovered


def _decode(execution_id: str, text: str) -> ExecutionRecord:
    return ExecutionRecord.from_json(text, source=f"memory store (execution {execution_id})",
                                     verify=True)


def _listed(execution_id: str, text: str) -> ExecutionRecord:
    # hash-checked now, built on first use (record_deferred); any other text at once
    return (deferred_record(text, f"memory store (execution {execution_id})")
            or _decode(execution_id, text))
