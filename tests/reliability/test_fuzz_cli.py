"""Fuzzed command lines for ``intentusnet`` (``cli.main(argv)`` in-process): every argv
ends in exit code 0, 1 or 2 with a one-line ``error:`` on stderr — never a traceback.

The workspace holds real stores, records, signatures, cassettes and keys, and broken
ones (garbage, an empty file, a directory named ``.json``), so the commands get past
argument parsing. Arguments never leave the workspace: ``/`` and ``..`` in generated text
are flattened, and the commands that delete or build whole projects (``cassettes prune``,
``demo``) are only asked for ``--help``.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentusnet_core import FileExecutionStore, SQLiteExecutionStore, generate_keys, sign_file
from intentusnet_core.cli import main

from .figures import Figures
from .loaders import FuzzTally
from .samples import cassette_of, record_text, rich_records

SKELETONS = (
    ("records", "list"), ("records", "show"), ("replay",), ("diff",), ("verify",),
    ("sign",), ("keys", "generate"), ("recover",), ("cassettes", "list"),
    ("cassettes", "verify"), ("cassettes", "prune", "--help"), ("demo", "--help"),
    ("--help",), ("records",), ("keys",), ("cassettes",), ("bogus",), (),
)
OPTIONS = ("--store", "--json", "--intent", "--agent", "--status", "--limit", "--ignore",
           "--pub", "--require-signature", "--key", "--dir", "--dry-run", "--help", "-h")
# safe by construction: relative to the workspace
VALUES = (
    "rich-000001", "rich-000002", "nope-000001", "record.json", "record.json.sig",
    "bad.json", "empty.json", "dir.json", "missing.json", "store.db", "files", "cassettes",
    "keys/intentusnet.key", "keys/intentusnet.pub", "keys", "newkeys", "completed",
    "interrupted", "-1", "0", "3", "99999999999999999999", "", "-", "--", "a\x00b.db",
    "a\x00b", "memory://", "sqlite://", "sqlite:///store.db", "file://files", "http://x",
    "x" * 300, "finalResponse.payload.*", "cassettes/test_app/test_rich.json",
)
_text = st.text(max_size=12).map(lambda t: t.replace("/", "_").replace("..", "__"))
values = st.one_of(st.sampled_from(VALUES), _text)
argvs = st.builds(
    lambda store, skeleton, middle, tail: [*store, *skeleton, *middle, *tail],
    st.one_of(st.just(()), st.tuples(st.just("--store"), values)),
    st.sampled_from(SKELETONS),
    st.lists(st.one_of(st.sampled_from(OPTIONS), values), max_size=4),
    st.lists(values, max_size=3),
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    records = rich_records()
    sqlite = SQLiteExecutionStore(root / "store.db")
    files = FileExecutionStore(root / "files")
    for record in records:
        sqlite.save(record)
        files.save(record)
    sqlite.close()
    private, _public = generate_keys(root / "keys")
    (root / "record.json").write_text(record_text(records[0]), encoding="utf-8")
    sign_file(root / "record.json", private)
    cassette_of(records, "tests/test_app.py::test_rich").save(
        root / "cassettes" / "test_app" / "test_rich.json")
    (root / "bad.json").write_bytes(b"\xff{not json")
    (root / "empty.json").write_bytes(b"")
    (root / "dir.json").mkdir()
    return root


def run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: --help exits 0, a usage error exits 2
            code = exc.code if isinstance(exc.code, int) else 2
    return code, err.getvalue()


def check(argv: list[str]) -> int:
    code, err = run(argv)
    if code not in (0, 1, 2):
        raise AssertionError(f"exit code {code}")
    if code == 2 and "error:" not in err:
        raise AssertionError(f"exit 2 without an error line: {err!r}")
    if "Traceback" in err:
        raise AssertionError(f"traceback on stderr: {err}")
    return code


@settings(max_examples=600, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(argv=argvs)
def test_fuzzed_command_lines_exit_cleanly(argv: list[str], workspace: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           figures: Figures) -> None:
    monkeypatch.chdir(workspace)
    tally = FuzzTally(figures)
    tally.check("intentusnet", lambda: check(argv), str(workspace), repr(argv),
                located=False)
    tally.assert_clean()


@pytest.mark.parametrize("argv", [
    ["--store", "a\x00b.db", "records", "list"],
    ["--store", "record.json/x.db", "records", "list"],
    ["verify", "dir.json"],
    ["verify", "record.json", "--pub", "bad.json"],
    ["--store", "store.db", "records", "list", "--limit", "-1"],
    ["diff", "bad.json", "record.json"],
])
def test_bad_input_is_exit_2_with_one_error_line(argv: list[str], workspace: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workspace)
    code, err = run(argv)
    assert code in (1, 2), err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("intentusnet: error:") or code == 1, err


@pytest.mark.parametrize(("make", "words"), [
    ("file", "is not a directory"), ("nonempty", "is not empty"),
    ("unwritable", "cannot create the demo project")])
def test_demo_refuses_a_bad_directory_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], make: str, words: str) -> None:
    target = tmp_path / "target"
    if make == "file":
        target.write_text("x")
    elif make == "nonempty":
        target.mkdir()
        (target / "keep.txt").write_text("x")
    else:
        target = tmp_path / "afile" / "demo"  # under a file: mkdir fails
        (tmp_path / "afile").write_text("x")
    assert main(["demo", str(target)]) == 2
    err = capsys.readouterr().err
    assert words in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.strip().endswith("intentusnet demo demo-project")
