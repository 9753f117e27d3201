"""``intentusnet cassettes upgrade [--dir DIR] [--check]``: formatVersion 1 records in
cassettes, golden sets and record files rewritten as version 2, identity hashes unchanged.

The committed golden cassettes stay version 1 in the repository (the golden suite replays
them as they are); these tests upgrade copies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import ExecutionRecord, FileExecutionStore, IntentEnvelope, IntentusRuntime
from intentusnet_core import agent as agent_decorator
from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.cli import main
from intentusnet_core.golden import GoldenSet
from intentusnet_core.hashing import canonical_json, hash_text, pretty_json
from intentusnet_core.signing import generate_keys, sign_file, verify_file
from intentusnet_core.upgrade import reformat_record

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "cassettes"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["cassettes", "upgrade", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def identities(path: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in record["hashes"].items() if k != "record"}
            for record in json.loads(path.read_text(encoding="utf-8"))["records"]]


@pytest.fixture
def golden_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "cassettes"
    shutil.copytree(COMMITTED, copy)
    return copy


def test_the_committed_golden_cassettes_are_version_1() -> None:
    # kept as they were recorded: the golden suite proves version 1 still replays
    paths = sorted(COMMITTED.rglob("*.json"))
    assert len(paths) == 6
    for path in paths:
        for record in json.loads(path.read_text(encoding="utf-8"))["records"]:
            assert record["formatVersion"] == 1
            assert all("hash" in event and "prevHash" in event for event in record["events"])


def test_upgrade_rewrites_version_1_cassettes_keeping_identity_hashes(
        golden_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(golden_copy)
    paths = sorted(golden_copy.rglob("*.json"))

    code, out, _ = run(capsys, "--dir", str(golden_copy), "--check")
    assert code == 1
    assert sum(line.startswith("would upgrade ") for line in out.splitlines()) == 6
    assert "6 files would be upgraded (7 records)" in out
    assert snapshot(golden_copy) == before  # --check writes nothing

    code, out, _ = run(capsys, "--dir", str(golden_copy))
    assert code == 0, out
    assert sum(line.startswith("upgraded ") for line in out.splitlines()) == 6
    assert "6 files upgraded (7 records), 0 already current" in out
    assert f"Next: intentusnet cassettes verify --dir {golden_copy}" in out
    for path in paths:
        old = json.loads(before[str(path.relative_to(golden_copy))])
        new = json.loads(path.read_text(encoding="utf-8"))
        assert identities(path) == [{k: v for k, v in r["hashes"].items() if k != "record"}
                                    for r in old["records"]]
        assert [r["formatVersion"] for r in new["records"]] == [2] * len(old["records"])
        assert [r["executionId"] for r in new["records"]] == \
            [r["executionId"] for r in old["records"]]
        assert path.stat().st_size < 0.92 * len(before[str(path.relative_to(golden_copy))])
        cassette = CassetteFile.load(path)  # cassette hash and every record hash
        for record in cassette.records:
            record.verify()
    assert main(["cassettes", "verify", "--dir", str(golden_copy)]) == 0
    capsys.readouterr()

    # a second run changes nothing: the files keep their bytes
    upgraded = snapshot(golden_copy)
    code, out, _ = run(capsys, "--dir", str(golden_copy))
    assert (code, snapshot(golden_copy)) == (0, upgraded)
    assert "0 files upgraded (0 records), 6 already current" in out
    code, out, _ = run(capsys, "--dir", str(golden_copy), "--check")
    assert code == 0, out


def test_upgraded_golden_cassettes_replay_with_the_same_outcome(golden_copy: Path) -> None:
    assert main(["cassettes", "upgrade", "--dir", str(golden_copy)]) == 0
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests/golden", "tests/golden_step", "--intentus-cassette-dir", str(golden_copy)],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "intentusnet: 0 recorded, 7 replayed, 0 verified, 0 drifted, 0 missing" in \
        done.stdout, done.stdout[-3000:]


def test_a_refused_file_is_named_and_nothing_is_written(
        golden_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = golden_copy / "tests" / "broken.json"
    broken.write_text('{"formatVersion": 1, "nodeId": "x", ', encoding="utf-8")
    # an edit whose author recomputed hashes.record: loading passes, the chain does not; an
    # upgrade that resealed it would launder the edit
    path = next(golden_copy.rglob("test_fallback_past_a_failing_agent.json"))
    wire = json.loads(path.read_text(encoding="utf-8"))
    record = wire["records"][0]
    record["events"][1]["agent"] = "edited"  # a value (the payload keys are checked at load)
    identity = {k: v for k, v in record["hashes"].items() if k != "record"}
    record["hashes"]["record"] = hash_text(canonical_json({**record, "hashes": identity}))
    wire["hashes"]["records"] = [record["hashes"]["record"]]
    wire["hashes"]["cassette"] = CassetteFile.from_wire(
        wire, source=path, verify=False).cassette_hash()
    path.write_text(pretty_json(wire), encoding="utf-8")
    os.mkfifo(golden_copy / "tests" / "pipe.json")
    before = snapshot(golden_copy)

    for extra in ((), ("--check",)):
        code, out, err = run(capsys, "--dir", str(golden_copy), *extra)
        fails = [line for line in out.splitlines() if line.startswith("FAIL  ")]
        assert code == 1
        assert len(fails) == 3, out
        assert any(f"{broken}: " in line and "truncated" in line for line in fails), out
        assert any(f"{path} records[0]: events[1]" in line and "does not match its hash" in line
                   for line in fails), out
        assert any("pipe.json" in line for line in fails), out
        assert "3 files refused, nothing was written" in err
        assert "upgraded" not in out
        assert snapshot(golden_copy) == before


def test_signed_cassettes_are_named_with_the_command_that_signs_them_again(
        golden_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    private, public = generate_keys(tmp_path / "keys")
    path = sorted(golden_copy.rglob("*.json"))[0]
    sign_file(path, private, root=golden_copy)
    code, out, _ = run(capsys, "--dir", str(golden_copy))
    assert code == 0
    assert f"note  {path}: its signature covers the old bytes and no longer matches" in out
    assert (f"1 signed files need a new signature: intentusnet cassettes sign --dir "
            f"{golden_copy} --key PRIVATE_KEY") in out
    with pytest.raises(Exception, match="changed after it was signed"):
        verify_file(path, public, root=golden_copy)
    assert main(["cassettes", "sign", "--dir", str(golden_copy), "--key", str(private)]) == 0
    verify_file(path, public, root=golden_copy)


def _v1(record: ExecutionRecord) -> ExecutionRecord:
    return reformat_record(record, 1)


def test_golden_sets_and_file_store_records_are_upgraded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_dir = tmp_path / "store"

    @agent_decorator("echo", intents=["Echo"])
    def echo(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"echo": envelope.payload["text"]}

    runtime = IntentusRuntime(store=FileExecutionStore(store_dir))
    runtime.register_agent(echo)
    for text in ("a", "b"):
        runtime.route_intent("Echo", {"text": text})
    records = sorted(FileExecutionStore(store_dir).list(), key=lambda r: r.execution_id)
    # what an earlier version stored: version 1 files; one left as version 2
    old = _v1(records[0])
    (store_dir / f"{old.execution_id}.json").write_text(pretty_json(old.to_wire()),
                                                        encoding="utf-8")
    (store_dir / ".wal").mkdir(exist_ok=True)
    (store_dir / ".wal" / "x.1234.jsonl").write_text("not a record\n", encoding="utf-8")
    current = (store_dir / f"{records[1].execution_id}.json").read_bytes()
    golden_path = tmp_path / "store" / "golden.json"
    GoldenSet(cases=[old.execution_id], records=[old]).save(golden_path)
    assert json.loads(golden_path.read_text("utf-8"))["records"][0]["formatVersion"] == 1

    code, out, _ = run(capsys, "--dir", str(store_dir))
    assert code == 0, out
    assert f"upgraded {golden_path} (golden set, 1 of 1 records" in out
    assert f"upgraded {store_dir / (old.execution_id + '.json')} (record, 1 of 1" in out
    assert "2 files upgraded (2 records), 1 already current" in out
    assert (store_dir / f"{records[1].execution_id}.json").read_bytes() == current
    loaded = FileExecutionStore(store_dir).load(old.execution_id)
    assert loaded.format_version == 2
    assert loaded.hashes == records[0].hashes  # exactly what this version wrote
    golden = GoldenSet.from_wire(json.loads(golden_path.read_text("utf-8")),
                                 source=golden_path)
    assert golden.records[0].hashes == records[0].hashes


def test_upgrade_needs_an_existing_directory(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cassettes", "upgrade", "--dir", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "no such cassette directory, so nothing could be upgraded" in err
    assert err.rstrip().endswith("intentusnet cassettes upgrade --dir DIR")
