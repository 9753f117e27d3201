"""Twelve ways to tamper with recorded files; each is caught, with a message of its own.

Every file starts signed by the trusted key, and is checked the way CI checks it:
``intentusnet verify PATH --pub KEY --require-signature`` (hashes, then the signature).
Hashes need no key, so an attacker who recomputes every hash (the chain relink) passes the
hash check and is caught by the signature.

Records are written as ``formatVersion`` 2 (no per-event hashes: an edited event is caught
by ``hashes.record``); the classes about the event chain tamper with ``formatVersion`` 1
records, which are still read (committed cassettes), and name the edited event.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import (
    ExecutionRecord,
    IntentusError,
    generate_keys,
    sign_file,
    verify_file,
)
from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.cli import main
from intentusnet_core.hashing import pretty_json
from intentusnet_core.upgrade import reformat_record

from .figures import Figures
from .samples import cassette_of, reseal, rich_records


@dataclass(frozen=True)
class Keys:
    trusted_private: Path
    trusted_public: Path
    other_private: Path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    folder = tmp_path_factory.mktemp("keys")
    trusted = generate_keys(folder / "trusted")
    other = generate_keys(folder / "other")
    return Keys(trusted[0], trusted[1], other[0])


def write_signed(path: Path, wire: dict[str, Any], key: Path) -> Path:
    path.write_text(pretty_json(wire), encoding="utf-8")
    sign_file(path, key)
    return path


def record_wire(version: int = 2) -> dict[str, Any]:
    return reformat_record(rich_records("tamper")[0], version).to_wire()


def edit_after_signing(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    wire = json.loads(path.read_text(encoding="utf-8"))
    edit(wire)
    path.write_text(pretty_json(wire), encoding="utf-8")


# -- the twelve classes: each writes a tampered file and returns its path -----------------


def payload_edit(folder: Path, keys: Keys) -> Path:
    path = write_signed(folder / "record.json", record_wire(), keys.trusted_private)
    edit_after_signing(path, lambda w: w["envelope"]["payload"].update(text="goodbye"))
    return path


def event_edit(folder: Path, keys: Keys) -> Path:
    # formatVersion 2: no per-event hash; hashes.record catches it
    path = write_signed(folder / "record.json", record_wire(), keys.trusted_private)
    edit_after_signing(path, lambda w: w["events"][5]["payload"]["response"].update(
        label="FLAGGED"))
    return path


def chained_event_edit(folder: Path, keys: Keys) -> Path:
    # formatVersion 1: the event's own chain hash names it
    path = write_signed(folder / "record.json", record_wire(1), keys.trusted_private)
    edit_after_signing(path, lambda w: w["events"][5]["payload"]["response"].update(
        label="FLAGGED"))
    return path


def event_reorder(folder: Path, keys: Keys) -> Path:
    def swap(wire: dict[str, Any]) -> None:
        events = wire["events"]
        events[2], events[3] = events[3], events[2]

    path = write_signed(folder / "record.json", record_wire(), keys.trusted_private)
    edit_after_signing(path, swap)
    return path


def event_removal(folder: Path, keys: Keys) -> Path:
    # hide the failed attempt: drop its end event
    path = write_signed(folder / "record.json", record_wire(), keys.trusted_private)
    edit_after_signing(path, lambda w: w["events"].pop(2))
    return path


def event_insertion(folder: Path, keys: Keys) -> Path:
    # a second copy of the model step (double the recorded cost)
    path = write_signed(folder / "record.json", record_wire(), keys.trusted_private)
    edit_after_signing(path, lambda w: w["events"].insert(6, copy.deepcopy(w["events"][5])))
    return path


def hash_field_edit(folder: Path, keys: Keys) -> Path:
    path = write_signed(folder / "record.json", record_wire(), keys.trusted_private)
    edit_after_signing(path, lambda w: w["hashes"].update(output="sha256:" + "ab" * 32))
    return path


def chain_relink(folder: Path, keys: Keys) -> Path:
    # the final decision edited, then every hash and the whole chain (formatVersion 1)
    # recomputed: the hashes verify, only the signature (made before the edit) catches it
    path = write_signed(folder / "record.json", record_wire(1), keys.trusted_private)

    def forge(wire: dict[str, Any]) -> None:
        wire["finalResponse"]["payload"]["decision"] = "FLAGGED"
        wire.update(reseal(wire).to_wire())

    edit_after_signing(path, forge)
    ExecutionRecord.from_json(path.read_bytes()).verify()  # the forgery passes the hashes
    return path


def record_swap(folder: Path, keys: Keys) -> Path:
    # test B's cassette gets test A's (genuine, self-consistent) record
    first, _child = rich_records("cassa")
    other, _ = rich_records("cassb")
    cassette_a = cassette_of([first], "tests/test_app.py::test_a").to_wire()
    cassette_b = cassette_of([other], "tests/test_app.py::test_b").to_wire()
    path = write_signed(folder / "test_b.json", cassette_b, keys.trusted_private)
    edit_after_signing(path, lambda w: w["records"].__setitem__(0, cassette_a["records"][0]))
    return path


def foreign_key(folder: Path, keys: Keys) -> Path:
    return write_signed(folder / "record.json", record_wire(), keys.other_private)


def unsigned(folder: Path, keys: Keys) -> Path:
    path = write_signed(folder / "record.json", record_wire(), keys.trusted_private)
    path.with_name(path.name + ".sig").unlink()
    return path


def truncated(folder: Path, keys: Keys) -> Path:
    path = write_signed(folder / "record.json", record_wire(), keys.trusted_private)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


CLASSES: dict[str, tuple[Callable[[Path, Keys], Path], str]] = {
    "payload edit": (payload_edit, r"hashes\.input does not match the envelope .* the "
                                   r"envelope .* was edited after the record was sealed"),
    "event edit": (event_edit, r"hashes\.record does not match the record: an event or a "
                               r"field outside the hashed parts"),
    "chained event edit": (chained_event_edit, r"events\[5\] \(STEP\) does not match its "
                                               r"hash: the event was edited"),
    "event reorder": (event_reorder, r"events\[2\] has seq 4 where seq 3 belongs: events "
                                     r"were reordered"),
    "event removal": (event_removal, r"events\[2\] has seq 4, expected 3: an event was "
                                     r"removed \(seq 3 is missing\)"),
    "event insertion": (event_insertion, r"events\[6\] \(STEP\) repeats seq 6 of an earlier "
                                         r"event: an event was inserted"),
    "hash field edit": (hash_field_edit, r"hashes\.output was edited: it no longer matches "
                                         r"the finalResponse, which still matches "
                                         r"hashes\.record"),
    "chain relink": (chain_relink, r"the file changed after it was signed"),
    "record swap": (record_swap, r"records\[0\] \(execution cassa-000001\) is not a record "
                                 r"this cassette was sealed with for test "
                                 r"'tests/test_app\.py::test_b': it was swapped in from "
                                 r"another cassette"),
    "foreign key": (foreign_key, r"signed by another key \(ed25519:[0-9a-f]{16}\), not by "
                                 r"ed25519:[0-9a-f]{16}"),
    "unsigned": (unsigned, r"unsigned \(no record\.json\.sig\)"),
    "truncated": (truncated, r"the file is truncated: it ends at line \d+ column \d+"),
}


def strict_verify(path: Path, keys: Keys) -> tuple[int, str]:
    """``intentusnet verify PATH --pub TRUSTED --require-signature``: exit code, output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["verify", str(path), "--pub", str(keys.trusted_public),
                     "--require-signature"])
    return code, out.getvalue() + err.getvalue()


def test_untampered_files_pass_the_strict_check(tmp_path: Path, keys: Keys) -> None:
    record = write_signed(tmp_path / "record.json", record_wire(), keys.trusted_private)
    first, _ = rich_records("cassa")
    cassette = write_signed(tmp_path / "test_a.json",
                            cassette_of([first], "tests/test_app.py::test_a").to_wire(),
                            keys.trusted_private)
    for path in (record, cassette):
        code, output = strict_verify(path, keys)
        assert (code, output.split()[0]) == (0, "ok"), output


@pytest.mark.parametrize("name", list(CLASSES))
def test_tampering_is_detected_with_its_own_message(name: str, tmp_path: Path, keys: Keys,
                                                    figures: Figures) -> None:
    tamper, expected = CLASSES[name]
    path = tamper(tmp_path, keys)
    code, output = strict_verify(path, keys)
    failure = output.splitlines()[0] if output else ""
    others = [other for other, (_, pattern) in CLASSES.items()
              if other != name and re.search(pattern, failure)]
    detected = (code == 1 and failure.startswith(f"FAIL  {path}")
                and re.search(expected, failure) is not None and not others)
    figures.add("tamper_classes")
    figures.add("tamper_detected", int(detected))
    assert code == 1, output
    assert failure.startswith(f"FAIL  {path}"), output  # names the file
    assert re.search(expected, failure), failure
    assert others == [], f"the message also reads as {others}: {failure}"


def check_with_the_library(name: str, path: Path, keys: Keys) -> None:
    """The CLI's checks, called directly: hashes (record or cassette), then signature."""
    if name == "record swap":
        CassetteFile.load(path)
    else:
        ExecutionRecord.from_json(path.read_bytes(), source=str(path)).verify(source=str(path))
    verify_file(path, keys.trusted_public)


def test_each_class_raises_a_typed_error_from_the_library(tmp_path: Path, keys: Keys) -> None:
    for index, (name, (tamper, expected)) in enumerate(CLASSES.items()):
        folder = tmp_path / str(index)
        folder.mkdir()
        path = tamper(folder, keys)
        with pytest.raises(IntentusError, match=expected):
            check_with_the_library(name, path, keys)
