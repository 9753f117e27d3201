"""Threads replaying at once (an application that routes from several threads under the
plugin): every replayed execution is counted once, with its recorded cost, whatever the
thread switches between the binding's counting steps."""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import IntentEnvelope, IntentusRuntime, agent
from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.redaction import Redactor
from intentusnet_core.steps import step
from pytest_intentusnet import binding as binding_module
from pytest_intentusnet.binding import CassetteBinding
from pytest_intentusnet.cassette import Cassette
from pytest_intentusnet.modes import Mode, TestSettings
from tests.properties.test_plain_replay import CLOCK, FROZEN, NODE, _run, in_threads

PER_THREAD, THREADS = 150, 8


@agent("priced", intents=["Ask"])
def priced(envelope: IntentEnvelope) -> Any:
    return step("llm", "call", {"q": envelope.payload["q"]}, lambda: {"x": 1},
                usage={"cost_usd": 0.5})


def test_threads_replaying_at_once_count_every_execution_and_its_cost_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.json"
    recording = Cassette.open(path, NODE, Mode.RECORD_ALL, TestSettings())
    recording.frozen_at = FROZEN
    total = PER_THREAD * THREADS
    _run(recording, [priced], [{"q": i} for i in range(total)], plain=True)
    CassetteFile(node_id=NODE, frozen_at=FROZEN, records=recording.records).save(path)
    read_usage = binding_module.usage_of

    def slow_usage_of(record: Any) -> Any:  # while one thread adds up costs, others go on
        time.sleep(0.00005)
        return read_usage(record)

    monkeypatch.setattr(binding_module, "usage_of", slow_usage_of)
    for _ in range(3):
        _replay_with_threads(path, total)


def _replay_with_threads(path: Path, total: int) -> None:
    cassette = Cassette.open(path, NODE, Mode.REPLAY, TestSettings())
    cassette.frozen_at = FROZEN
    binding = CassetteBinding(cassette, redactor=Redactor(), clock=CLOCK)
    runtime = IntentusRuntime(store="memory://")
    runtime.register_agent(priced)

    def work(first: int) -> None:
        for q in range(first, first + PER_THREAD):
            runtime.route_intent(IntentEnvelope.create("Ask", {"q": q}))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # thread switches everywhere, between any two steps
    try:
        in_threads(binding, [functools.partial(work, k * PER_THREAD) for k in range(THREADS)])
    finally:
        sys.setswitchinterval(interval)
    assert cassette.counters.replayed == total
    assert cassette.counters.cost_saved_usd == 0.5 * total
    assert len(cassette.records) == total
    assert binding.unused() == []
