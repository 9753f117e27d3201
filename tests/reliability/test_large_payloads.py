"""Large payloads: 1, 5 and 10 MB are recorded and replayed in roughly linear time, and
the size cap (``INTENTUSNET_MAX_RECORD_BYTES``) refuses bigger records with a typed error
before anything is written."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import (
    ConfigurationError,
    FileExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    PayloadError,
    RecordTooLargeError,
    SQLiteExecutionStore,
    agent,
    replay,
)
from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.serialization import DEFAULT_MAX_RECORD_BYTES, MAX_RECORD_BYTES_ENV

from .figures import Figures
from .samples import small_record

MB = 1024 * 1024


def payload_of(size: int) -> dict[str, Any]:
    """About *size* bytes of JSON: half one long text, half many small objects."""
    rows = [{"id": n, "text": f"row {n:08d} lorem ipsum dolor"} for n in range(size // 100)]
    return {"blob": "x" * (size // 2), "rows": rows}


@agent("summarize", intents=["Summarize"])
def summarize(envelope: IntentEnvelope) -> dict[str, Any]:
    payload = envelope.payload
    return {"rows": len(payload["rows"]), "tail": payload["rows"][-10:],
            "blob": payload["blob"]}


def record_and_replay(store_path: Path, size: int) -> float:
    """Seconds to route (and record) a *size*-byte payload and replay it from a fresh
    store object."""
    payload = payload_of(size)
    started = time.perf_counter()
    store = SQLiteExecutionStore(store_path)
    runtime = IntentusRuntime(store=store)
    runtime.register_agent(summarize)
    response = runtime.route_intent("Summarize", payload)
    store.close()
    replayed = replay(response.metadata["execution_id"], SQLiteExecutionStore(store_path))
    elapsed = time.perf_counter() - started
    assert replayed.metadata["from_replay"] is True
    assert replayed.payload is not None
    assert replayed.payload == response.payload
    assert replayed.payload["blob"] == payload["blob"]
    return elapsed


def test_record_and_replay_time_grows_linearly(tmp_path: Path, figures: Figures) -> None:
    record_and_replay(tmp_path / "warm.db", MB // 10)  # imports, caches
    seconds = {size: record_and_replay(tmp_path / f"{size}.db", size * MB)
               for size in (1, 5, 10)}
    ratio = seconds[10] / seconds[1]
    figures.note(
        f"large payloads: record + replay 1 MB {seconds[1]:.2f} s, 5 MB {seconds[5]:.2f} s, "
        f"10 MB {seconds[10]:.2f} s (10 MB / 1 MB = {ratio:.1f}x; linear is 10x)")
    # generous: a quadratic step would make 10 MB cost about 100x the 1 MB time
    assert seconds[10] < 20 * seconds[1] + 2.0, seconds
    assert seconds[5] < 10 * seconds[1] + 1.0, seconds


def test_a_10_mb_payload_in_a_file_store_and_a_cassette(tmp_path: Path) -> None:
    payload = payload_of(10 * MB)
    store = FileExecutionStore(tmp_path / "files")
    runtime = IntentusRuntime(store=store)
    runtime.register_agent(summarize)
    response = runtime.route_intent("Summarize", payload)
    record = FileExecutionStore(tmp_path / "files").load(response.metadata["execution_id"])
    assert record.envelope["payload"] == payload
    path = tmp_path / "cassettes" / "test_big.json"
    CassetteFile(node_id="tests/test_big.py::test_big", records=[record]).save(path)
    loaded = CassetteFile.load(path)
    assert replay(loaded.records[0]).payload == response.payload


@pytest.fixture
def cap(monkeypatch: pytest.MonkeyPatch) -> int:
    """A 2 MB cap for this test."""
    monkeypatch.setenv(MAX_RECORD_BYTES_ENV, str(2 * MB))
    return 2 * MB


@pytest.mark.parametrize("kind", ["sqlite", "file"])
def test_an_input_over_the_cap_is_refused_before_the_agent_runs(
        kind: str, cap: int, tmp_path: Path) -> None:
    store = SQLiteExecutionStore(tmp_path / "r.db") if kind == "sqlite" \
        else FileExecutionStore(tmp_path / "files")
    calls = []

    @agent("count", intents=["Count"])
    def count(envelope: IntentEnvelope) -> dict[str, Any]:
        calls.append(1)
        return {"n": len(envelope.payload["blob"])}

    runtime = IntentusRuntime(store=store)
    runtime.register_agent(count)
    assert runtime.route_intent("Count", {"blob": "y" * (cap // 2)}).status == "success"
    with pytest.raises(RecordTooLargeError, match=rf"over the {cap}-byte size cap "
                                                  rf"\({MAX_RECORD_BYTES_ENV}\)") as caught:
        runtime.route_intent("Count", {"blob": "y" * (cap + 1)})
    assert isinstance(caught.value, PayloadError)
    assert f"{MAX_RECORD_BYTES_ENV}=" in str(caught.value)  # says how to raise it
    assert calls == [1]  # refused at the write-ahead entry: the agent never ran
    assert len(store.list()) == 1
    assert store.recover(force=True) == []


def test_an_output_over_the_cap_is_refused_and_nothing_is_written(
        cap: int, tmp_path: Path) -> None:
    store = FileExecutionStore(tmp_path / "files")

    @agent("inflate", intents=["Inflate"])
    def inflate(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"blob": "z" * (cap + 1)}

    runtime = IntentusRuntime(store=store)
    runtime.register_agent(inflate)
    with pytest.raises(RecordTooLargeError, match="Nothing was written"):
        runtime.route_intent("Inflate", {})
    assert store.list() == []
    [interrupted] = store.recover(force=True)  # the write-ahead entry says what happened
    assert interrupted.status == "interrupted"


def test_a_cassette_over_the_cap_keeps_the_previous_file(cap: int, tmp_path: Path) -> None:
    path = tmp_path / "test_x.json"
    CassetteFile(node_id="t.py::test_x", records=[small_record("ok")]).save(path)
    before = path.read_bytes()
    # each record is under the cap (about 3/8 of it); the cassette of four is over it
    big = [small_record(f"big{n}", text="w" * (cap // 8)) for n in range(4)]
    with pytest.raises(RecordTooLargeError, match=rf"cassette {path}"):
        CassetteFile(node_id="t.py::test_x", records=big).save(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("value", ["0", "-5", "lots", "64MiB"])
def test_an_invalid_cap_is_a_configuration_error(value: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_RECORD_BYTES_ENV, value)
    path = tmp_path / "never-written.json"
    with pytest.raises(ConfigurationError, match=rf"{MAX_RECORD_BYTES_ENV}='{value}': "
                                                 "expected a positive number of bytes"):
        CassetteFile(node_id="t.py::test_x", records=[]).save(path)
    assert not path.exists()


def test_the_default_cap_is_64_mib(monkeypatch: pytest.MonkeyPatch) -> None:
    from intentusnet_core.serialization import max_record_bytes

    monkeypatch.delenv(MAX_RECORD_BYTES_ENV, raising=False)
    assert max_record_bytes() == DEFAULT_MAX_RECORD_BYTES == 64 * MB
    monkeypatch.setenv(MAX_RECORD_BYTES_ENV, "134_217_728")
    assert max_record_bytes() == 128 * MB
