"""Golden-set export (filters, children, order, determinism, the write path) and strict
loading (every class of edit is refused, naming the file and what changed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import (
    ConfigurationError,
    InMemoryExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    MissingCassetteError,
    RecordFormatError,
    RecordIntegrityError,
    RecordNotFoundError,
    RoutingOptions,
    SecretLeakError,
    SequentialIds,
    SQLiteExecutionStore,
    emit_intent,
    export_golden,
    load_golden,
)
from intentusnet_core.cli import main
from intentusnet_core.golden import GOLDEN_KIND, GoldenSet
from intentusnet_core.signing import generate_keys
from intentusnet_core.stores.base import interrupted_record
from intentusnet_core.testing import fixed_clock, scripted_agent


def _summarizer() -> Any:
    return scripted_agent("summarizer", ["SummarizeIntent"], {"summary": "short"})


def _moderator(envelope: IntentEnvelope) -> dict[str, Any]:
    text = envelope.payload["text"]
    if "boom" in text:
        raise RuntimeError("model down")
    out: dict[str, Any] = {"decision": "FLAGGED" if "spam" in text else "SAFE"}
    if "long" in text:
        out["summary"] = emit_intent("SummarizeIntent", {"text": text}).payload
    return out


def _production(store: Any) -> IntentusRuntime:
    """Ten executions over ten days: Moderate (answered by 'gpt' or, on a fallback,
    'claude'; long posts route a child) and Translate."""
    from intentusnet_core import agent

    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("prod"))
    runtime.register_agents(
        agent("gpt", intents=["ModerateIntent"], priority=10)(_moderator),
        scripted_agent("claude", ["ModerateIntent"], {"decision": "SAFE"}, priority=20),
        scripted_agent("translator", ["TranslateIntent"], {"text": "bonjour"}),
        _summarizer())
    posts = ["hello", "buy spam", "a long post", "boom", "hi", "long spam", "ok", "boom",
             "long read", "bye"]
    for day, text in enumerate(posts, start=1):
        runtime.clock = fixed_clock(f"2026-11-{day:02d}T12:00:00Z")
        intent = "TranslateIntent" if day in (5, 7) else "ModerateIntent"
        routing = RoutingOptions(strategy="fallback") if "boom" in text else None
        runtime.route_intent(IntentEnvelope.create(intent, {"text": text}, routing=routing))
    return runtime


@pytest.fixture
def store(tmp_path: Path) -> str:
    path = str(tmp_path / "prod.db")
    runtime = _production(path)
    runtime.store.close()  # type: ignore[attr-defined]
    return path


def _cases(golden: GoldenSet) -> list[tuple[str, str, str | None]]:
    return [(r.execution_id, r.intent_name, r.agent)
            for r in (golden.record(case) for case in golden.cases)]


def test_export_takes_every_top_level_execution_with_its_children(
        store: str, tmp_path: Path) -> None:
    golden = export_golden(store, tmp_path / "g.json")

    assert len(golden.cases) == 10
    assert [r.parent_execution_id for r in golden.records
            if r.parent_execution_id is not None] == ["prod-000003", "prod-000007",
                                                      "prod-000011"]
    assert [r.execution_id for r in golden.case_records("prod-000003")] == [
        "prod-000003", "prod-000004"]
    assert load_golden(tmp_path / "g.json") == golden


@pytest.mark.parametrize(("filters", "expected"), [
    ({"intent": "TranslateIntent"}, ["prod-000006", "prod-000009"]),
    ({"agent": "claude"}, ["prod-000005", "prod-000010"]),
    ({"status": "completed", "limit": 2}, ["prod-000001", "prod-000002"]),
    ({"since": "2026-11-09"}, ["prod-000011", "prod-000013"]),
    ({"until": "2026-11-02T12:00:00Z"}, ["prod-000001"]),  # until is exclusive
    ({"since": "2026-11-03T12:00:00+00:00", "until": "2026-11-04T13:00:00+01:00"},
     ["prod-000003"]),
    ({"intent": "ModerateIntent", "since": "2026-11-03", "limit": 3},
     ["prod-000003", "prod-000005", "prod-000007"]),
])
def test_export_filters(store: str, tmp_path: Path, filters: dict[str, Any],
                        expected: list[str]) -> None:
    golden = export_golden(store, tmp_path / "g.json", **filters)

    assert golden.cases == expected
    assert load_golden(tmp_path / "g.json").selection == {
        "intent": None, "agent": None, "status": None, "since": None, "until": None,
        "limit": None, **{key: value for key, value in filters.items()
                          if key not in ("since", "until")},
        **{key: golden.selection[key] for key in ("since", "until")}}


def test_time_filters_are_stored_as_utc_instants(store: str, tmp_path: Path) -> None:
    golden = export_golden(store, tmp_path / "g.json", since="2026-11-03T13:00:00+01:00",
                           until="2026-11-05")

    assert golden.selection["since"] == "2026-11-03T12:00:00Z"
    assert golden.selection["until"] == "2026-11-05T00:00:00Z"
    assert golden.cases == ["prod-000003", "prod-000005"]


def test_the_same_selection_gives_the_same_bytes_from_any_store(
        store: str, tmp_path: Path) -> None:
    export_golden(store, tmp_path / "a.json", limit=4)
    export_golden(store, tmp_path / "b.json", limit=4)
    # the same records, inserted newest first: the memory store lists them in that order
    memory = InMemoryExecutionStore()
    opened = SQLiteExecutionStore(store)
    for record in reversed(opened.list()):
        memory.save(record)
    opened.close()
    export_golden(memory, tmp_path / "c.json", limit=4)

    text = (tmp_path / "a.json").read_text(encoding="utf-8")
    assert text == (tmp_path / "b.json").read_text(encoding="utf-8")
    assert text == (tmp_path / "c.json").read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert json.loads(text)["kind"] == GOLDEN_KIND


def test_interrupted_executions_are_left_out(store: str, tmp_path: Path) -> None:
    opened = SQLiteExecutionStore(store)
    opened.save(interrupted_record({
        "executionId": "prod-crashed", "parentExecutionId": None,
        "createdAt": "2026-11-20T00:00:00Z",
        "envelope": IntentEnvelope.create("ModerateIntent", {"text": "x"}).to_wire()},
        ["gpt"]))
    opened.close()

    golden = export_golden(store, tmp_path / "g.json")

    assert "prod-crashed" not in golden.cases
    assert [r.execution_id for r in golden.skipped] == ["prod-crashed"]
    with pytest.raises(RecordNotFoundError, match=r"no replayable top-level execution in "
                       r".*prod\.db matches \(status='interrupted'\); nothing was written"):
        export_golden(store, tmp_path / "none.json", status="interrupted")
    assert not (tmp_path / "none.json").exists()


@pytest.mark.parametrize(("filters", "message"), [
    ({"since": "last week"}, r"--since 'last week': expected an ISO-8601 instant"),
    ({"until": "2026-13-01"}, r"--until '2026-13-01'"),
    ({"limit": -1}, r"limit=-1"),
])
def test_bad_filters_are_refused_before_anything_is_read(
        tmp_path: Path, filters: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        export_golden(tmp_path / "absent.db", tmp_path / "g.json", **filters)
    assert not (tmp_path / "absent.db").exists()


def test_a_child_missing_from_the_store_is_named(tmp_path: Path) -> None:
    runtime = _production("memory://")
    del runtime.store._records["prod-000004"]  # type: ignore[attr-defined]

    with pytest.raises(RecordNotFoundError, match=r"execution prod-000003 routed child "
                                                   r"execution prod-000004, which is not in "
                                                   "the store"):
        export_golden(runtime.store, tmp_path / "g.json")


def test_export_runs_the_leak_guard(store: str, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # a value that became a live secret after it was stored
    monkeypatch.setenv("ACME_TRANSLATE_TOKEN", "bonjour")

    with pytest.raises(SecretLeakError):
        export_golden(store, tmp_path / "g.json")
    assert not (tmp_path / "g.json").exists()


# -- strict loading ---------------------------------------------------------------------------

def _edited(tmp_path: Path, store: str, edit: Any) -> Path:
    path = tmp_path / "g.json"
    export_golden(store, path, limit=4)
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _reseal(data: dict[str, Any], index: int, change: Any) -> None:
    from intentusnet_core import ExecutionRecord

    record = ExecutionRecord.from_wire(data["records"][index])
    change(record)
    data["records"][index] = record.seal().to_wire()


@pytest.mark.parametrize(("edit", "error", "message"), [
    (lambda d: d["records"][0]["finalResponse"]["payload"].update(decision="X"),
     RecordIntegrityError, r"records\[0\]: hashes.output does not match the finalResponse"),
    (lambda d: _reseal(d, 1, lambda r: r.final_response["payload"].update(decision="X")),
     RecordIntegrityError, r"records\[1\] \(execution prod-000002\) is not the record the "
                           "golden set was sealed with"),
    (lambda d: d["records"].pop(), RecordIntegrityError,
     r"records were added or removed: the golden set was sealed with 5 records, it now "
     "holds 4"),
    (lambda d: d["selection"].update(intent="Other"), RecordIntegrityError,
     r"hashes.golden does not match"),
    (lambda d: d["hashes"]["records"].reverse(), RecordIntegrityError,
     r"hashes.records was edited"),
    (lambda d: d.update(extra=1), RecordFormatError,
     r"not a valid golden set: field extra is not a field"),
    (lambda d: d.update(kind="cassette"), RecordFormatError,
     r"field kind must be one of 'intentusnet-golden-set'"),
    (lambda d: d.update(formatVersion=2), RecordFormatError,
     r"field formatVersion is 2: this version reads golden sets of formatVersion 1"),
    (lambda d: d["cases"].append(""), RecordFormatError, r"field cases\[4\] must not be empty"),
    (lambda d: d["records"][2].update(status=True), RecordFormatError,
     r"records\[2\]: not a valid execution record: field status"),
])
def test_strict_loading_refuses_every_edit(store: str, tmp_path: Path, edit: Any,
                                          error: type[Exception], message: str) -> None:
    path = _edited(tmp_path, store, edit)

    with pytest.raises(error, match=message) as caught:
        load_golden(path)
    assert str(caught.value).startswith(str(path))
    assert "intentusnet golden export --store URL --out" in str(caught.value)


def test_a_case_that_is_a_child_is_refused_even_when_resealed(
        store: str, tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    golden = export_golden(store, path, limit=4)
    golden.cases[2] = "prod-000004"  # the child of prod-000003
    path.write_text(golden.dumps(), encoding="utf-8")

    with pytest.raises(RecordFormatError, match=r"cases\[2\] \(prod-000004\) is a child "
                                                 "execution"):
        load_golden(path)


def test_missing_files_and_cassettes_are_named(tmp_path: Path) -> None:
    with pytest.raises(MissingCassetteError, match="no such golden set; export one with"):
        load_golden(tmp_path / "absent.json")
    cassette = tmp_path / "cassette.json"
    cassette.write_text('{"formatVersion": 1, "nodeId": "t.py::t"}', encoding="utf-8")
    with pytest.raises(RecordFormatError, match="this is a cassette, not a golden set"):
        load_golden(cassette)


# -- the command line -------------------------------------------------------------------------

def test_cli_exports_signs_and_verifies_a_golden_set(
        store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "golden" / "moderation.json"
    private, public = generate_keys(tmp_path / "keys")

    assert main(["golden", "export", "--store", store, "--intent", "ModerateIntent",
                 "--since", "2026-11-02", "--limit", "3", "--out", str(out)]) == 0
    assert main(["sign", str(out), "--key", str(private)]) == 0
    assert main(["verify", str(out), "--pub", str(public), "--require-signature"]) == 0

    printed = capsys.readouterr().out
    assert f"exported 3 executions (4 records with their children) to {out}" in printed
    assert f"ok    {out} (golden set, 3 cases, 4 records, signed by ed25519:" in printed
    assert load_golden(out).cases == ["prod-000002", "prod-000003", "prod-000005"]


def test_cli_errors_are_one_line(store: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.json"

    assert main(["golden", "export", "--store", store, "--agent", "nobody",
                 "--out", str(out)]) == 2
    assert main(["golden", "export", "--store", str(tmp_path / "none.db"),
                 "--out", str(out)]) == 2
    export_golden(store, out, limit=2)
    data = json.loads(out.read_text(encoding="utf-8"))
    data["cases"].reverse()
    out.write_text(json.dumps(data), encoding="utf-8")
    assert main(["verify", str(out)]) == 1

    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert errors[0].startswith("intentusnet: error: no replayable top-level execution in ")
    assert errors[1].startswith("intentusnet: error: no record store at ")
    assert "FAIL  " + str(out) + ": hashes.golden does not match" in captured.out
    assert not (tmp_path / "none.db").exists()


def test_cassettes_commands_take_a_golden_set_kept_among_the_cassettes(
        store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cassettes = tmp_path / "cassettes"
    out = cassettes / "golden" / "moderation.json"
    private, public = generate_keys(tmp_path / "keys")
    export_golden(store, out, limit=3)
    capsys.readouterr()

    assert main(["cassettes", "list", "--dir", str(cassettes)]) == 0
    assert main(["cassettes", "sign", "--dir", str(cassettes), "--key", str(private)]) == 0
    assert main(["cassettes", "verify", "--dir", str(cassettes), "--pub", str(public),
                 "--require-signature"]) == 0

    printed = capsys.readouterr().out
    assert f"{out}  4 executions  golden set" in printed
    assert f"ok    {out} (golden set, 3 cases, 4 records, signed by ed25519:" in printed


def test_status_success_or_error_selects_by_final_response(tmp_path: Path) -> None:
    path = str(tmp_path / "outcomes.db")
    runtime = IntentusRuntime(store=path, id_factory=SequentialIds("out"))
    from intentusnet_core import agent

    runtime.register_agent(agent("gpt", intents=["ModerateIntent"])(_moderator))
    for text in ("hello", "boom", "spam", "boom again"):
        runtime.route_intent(IntentEnvelope.create("ModerateIntent", {"text": text}))
    runtime.store.close()  # type: ignore[attr-defined]

    errors = export_golden(path, tmp_path / "errors.json", status="error")
    successes = export_golden(path, tmp_path / "ok.json", status="success")

    assert errors.cases == ["out-000002", "out-000004"]
    assert {errors.record(case).final_response["status"]  # type: ignore[index]
            for case in errors.cases} == {"error"}
    assert successes.cases == ["out-000001", "out-000003"]
    assert errors.selection["status"] == "error"
    with pytest.raises(ConfigurationError, match="status='failed': expected one of completed, "
                                                 "interrupted, success, error"):
        export_golden(path, tmp_path / "x.json", status="failed")
    assert not (tmp_path / "x.json").exists()
    assert main(["golden", "export", "--store", path, "--status", "error",
                 "--out", str(tmp_path / "cli.json")]) == 0
    assert load_golden(tmp_path / "cli.json").cases == errors.cases
