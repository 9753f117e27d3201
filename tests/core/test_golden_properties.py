"""Always: an export depends on the store's records and the filters only — never on the
order the store keeps them in — and loads back to what was written."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from intentusnet_core import (
    ExecutionRecord,
    InMemoryExecutionStore,
    IntentusRuntime,
    SequentialIds,
    emit_intent,
    export_golden,
    load_golden,
)
from intentusnet_core.testing import fixed_clock, scripted_agent


@functools.cache
def _records() -> tuple[ExecutionRecord, ...]:
    """Twelve top-level executions, some at the same instant, some with a child."""
    from intentusnet_core import agent

    @agent("router", intents=["AskIntent"])
    def router(envelope):  # type: ignore[no-untyped-def]
        if envelope.payload["n"] % 3 == 0:
            return {"child": emit_intent("HelpIntent", {"n": envelope.payload["n"]}).payload}
        return {"n": envelope.payload["n"]}

    runtime = IntentusRuntime(store="memory://", id_factory=SequentialIds("p"))
    runtime.register_agents(router, scripted_agent("helper", ["HelpIntent"], {"ok": True}))
    for n in range(12):
        runtime.clock = fixed_clock(f"2026-11-{1 + n // 2:02d}T00:00:00Z")  # pairs share one
        runtime.route_intent("AskIntent", {"n": n})
    return tuple(runtime.store.list())


@settings(max_examples=40, deadline=None)
@given(order=st.permutations(range(16)), limit=st.none() | st.integers(0, 13),
       since=st.none() | st.integers(1, 7))
def test_an_export_is_the_same_whatever_order_the_store_keeps(
        order: list[int], limit: int | None, since: int | None) -> None:
    records = _records()
    assert len(records) == 16
    in_order, shuffled = InMemoryExecutionStore(), InMemoryExecutionStore()
    for record in records:
        in_order.save(record)
    for index in order:
        shuffled.save(records[index])
    filters = {"limit": limit, "since": None if since is None else f"2026-11-{since:02d}"}
    with tempfile.TemporaryDirectory() as directory:
        a, b = Path(directory, "a.json"), Path(directory, "b.json")
        try:
            golden = export_golden(in_order, a, **filters)
        except LookupError:  # nothing selected: neither export writes
            assert not a.exists()
            return
        export_golden(shuffled, b, **filters)

        assert a.read_bytes() == b.read_bytes()
        assert load_golden(b) == golden
    cases = [golden.record(case) for case in golden.cases]
    assert [(r.created_at, r.execution_id) for r in cases] == sorted(
        (r.created_at, r.execution_id) for r in cases)
    assert all(r.parent_execution_id is None for r in cases)
    assert len(golden.records) == len(cases) + sum(
        1 for r in cases if r.envelope["payload"]["n"] % 3 == 0)
