"""Hostile files where cassettes, signatures and keys are read: a FIFO, a character device,
a directory and an oversized file each give a one-line typed error, in the right words,
within 1 s (the issue's bound; the reads take milliseconds, so the margin is wide even on a
loaded 2-core machine), never a hang, a ``MemoryError`` or "no such file" for a path that
exists. Key generation on a full disk leaves no key behind, so the retry works.

Every in-process call runs in a watchdog thread: a hang fails the test after 30 s instead
of hanging the suite.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import IntentusError, generate_keys, sign_file, verify_file
from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.cli import main
from intentusnet_core.errors import RecordTooLargeError, SignatureError, StoreError
from intentusnet_core.serialization import MAX_RECORD_BYTES_ENV

from .figures import Figures
from .io_faults import IOFaults
from .samples import cassette_of, small_record

BOUND = 1.0  # seconds: the bound for a typed refusal
NODE = "tests/test_app.py::test_x"
WORDS = {"fifo": "a FIFO (named pipe)", "device": "a character device",
         "directory": "a directory", "oversized": "size cap"}


def run_bounded(call: Callable[[], Any]) -> tuple[Any, BaseException | None, float]:
    """(result, exception, seconds) of *call*, run in a watchdog thread."""
    box: dict[str, Any] = {}

    def target() -> None:
        started = time.monotonic()
        try:
            box["result"] = call()
        except BaseException as exc:
            box["error"] = exc
        box["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), f"{call} hung for 30 s"
    return box.get("result"), box.get("error"), box["seconds"]


def make_hostile(path: Path, kind: str) -> None:
    """Replace *path* with a hostile file of *kind* (skips when the machine cannot)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        try:
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero
            os.close(os.open(path, os.O_RDONLY))
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.unlink()
            pytest.skip(f"cannot make a character device here: {exc}")
    elif kind == "directory":
        path.mkdir()
    else:  # oversized: a valid cassette over the cap the test sets
        cassette_of([small_record("big", text="x" * 4000)], NODE).save(path)


def typed_refusal(error: BaseException | None, seconds: float, kind: str, path: Path) -> str:
    assert error is not None, f"a {kind} was accepted"
    message = str(error)
    assert isinstance(error, IntentusError), f"untyped {type(error).__name__}: {message}"
    assert seconds < BOUND, f"{kind}: {seconds:.3f} s"
    assert WORDS[kind] in message, message
    assert str(path) in message, message
    assert "no such" not in message.lower(), message
    assert "\n" not in message
    return message


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """(cassette directory, a signed cassette in it, private key, public key)."""
    root = tmp_path / "cassettes"
    cassette = root / "tests" / "test_app" / "test_x.json"
    cassette_of([small_record("x")], NODE).save(cassette)
    private, public = generate_keys(tmp_path / "keys")
    sign_file(cassette, private, root=root)
    return root, cassette, private, public


def shrink_cap_for(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if kind == "oversized":
        monkeypatch.setenv(MAX_RECORD_BYTES_ENV, "2000")


KINDS = ["fifo", "device", "directory", "oversized"]


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_cassette_when_loaded(signed: tuple[Path, Path, Path, Path], kind: str,
                                      monkeypatch: pytest.MonkeyPatch,
                                      figures: Figures) -> None:
    _, cassette, _, _ = signed
    make_hostile(cassette, kind)
    shrink_cap_for(kind, monkeypatch)
    _, error, seconds = run_bounded(lambda: CassetteFile.load(cassette))
    figures.add("hostile_files")
    typed_refusal(error, seconds, kind, cassette)
    assert isinstance(error, RecordTooLargeError if kind == "oversized" else StoreError)


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_cassette_in_intentusnet_verify(signed: tuple[Path, Path, Path, Path],
                                                kind: str, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    root, cassette, _, public = signed
    make_hostile(cassette, kind)
    shrink_cap_for(kind, monkeypatch)
    for argv in (["verify", str(cassette), "--pub", str(public), "--root", str(root)],
                 ["cassettes", "verify", "--dir", str(root), "--pub", str(public),
                  "--require-signature"]):
        if kind == "directory" and argv[0] == "cassettes":
            continue  # a folder named test_x.json is walked as a folder: nothing to load
        code, error, seconds = run_bounded(lambda argv=argv: main(argv))
        out = capsys.readouterr().out
        assert error is None, (argv, out)
        assert code == 1, (argv, out)
        assert seconds < BOUND, f"{argv[:2]}: {seconds:.3f} s"
        [line] = [line for line in out.splitlines() if line.startswith("FAIL")]
        assert WORDS[kind] in line, line
        assert str(cassette) in line, line
        assert "no such" not in line.lower(), line


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_record_in_intentusnet_diff(tmp_path: Path, kind: str,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "before.json"
    make_hostile(path, kind)
    shrink_cap_for(kind, monkeypatch)
    code, error, seconds = run_bounded(lambda: main(["diff", str(path), str(path)]))
    err = capsys.readouterr().err
    assert error is None, err
    assert code == 2, err
    assert seconds < BOUND
    assert err.startswith("intentusnet: error: "), err
    assert err.count("\n") == 1, err
    assert WORDS[kind] in err, err
    assert "no such" not in err.lower(), err


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_signature_file(signed: tuple[Path, Path, Path, Path], kind: str,
                                monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    root, cassette, _, public = signed
    sig = cassette.with_name(cassette.name + ".sig")
    make_hostile(sig, kind)
    if kind == "oversized":  # a .sig is small: over the cap means over the 1 MiB limit
        sig.write_bytes(b" " * (2 << 20))
    _, error, seconds = run_bounded(lambda: verify_file(cassette, public, root=root))
    typed_refusal(error, seconds, kind, sig)
    code, _, seconds = run_bounded(lambda: main(
        ["cassettes", "verify", "--dir", str(root), "--pub", str(public),
         "--require-signature"]))
    out = capsys.readouterr().out
    assert code == 1, out
    assert seconds < BOUND, out
    assert WORDS[kind] in out, out


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_hostile_key_file(signed: tuple[Path, Path, Path, Path], kind: str) -> None:
    root, cassette, private, public = signed
    for key, action in ((public, lambda: verify_file(cassette, public, root=root)),
                        (private, lambda: sign_file(cassette, private, root=root))):
        make_hostile(key, kind)
        _, error, seconds = run_bounded(action)
        message = typed_refusal(error, seconds, kind, key)
        assert isinstance(error, (SignatureError, StoreError)), message


def test_dev_zero_as_a_cassette_is_refused(tmp_path: Path) -> None:
    """The issue's /dev/zero case: it ended in MemoryError."""
    _, error, seconds = run_bounded(lambda: CassetteFile.load("/dev/zero"))
    typed_refusal(error, seconds, "device", Path("/dev/zero"))


PLUGIN_ERRORS = {"fifo": "StoreError: refusing to read cassette",
                 "device": "StoreError: refusing to read cassette",
                 "directory": "StoreError: refusing to read cassette",
                 "oversized": "RecordTooLargeError: refusing to read cassette"}


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_cassette_in_the_plugin(tmp_path: Path, kind: str) -> None:
    """A real pytest run (a subprocess, killed after 60 s if it hangs) over a hostile
    cassette: the test errors with the typed one-line refusal, the run ends."""
    (tmp_path / "test_app.py").write_text(
        "import pytest\n\n\n@pytest.mark.intentus\ndef test_x():\n    pass\n", "utf-8")
    cassette = tmp_path / "cassettes" / "test_app" / "test_x.json"
    make_hostile(cassette, kind)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    if kind == "oversized":
        env[MAX_RECORD_BYTES_ENV] = "2000"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path / "test_app.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env,
                          check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = [line for line in done.stdout.splitlines()
              if line.startswith("E ") and PLUGIN_ERRORS[kind] in line]
    assert WORDS[kind] in line, line
    assert str(cassette) in line, line
    assert "no such" not in line.lower(), line


# -- keys -------------------------------------------------------------------------------------


def test_keys_follow_the_umask_and_the_private_key_is_0600(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        private, public = generate_keys(tmp_path / "keys")
    finally:
        os.umask(old)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o640


def test_key_generation_fault_at_every_step_leaves_no_key(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          figures: Figures) -> None:
    """A full disk (ENOSPC after half a write) or an I/O error at each open, write,
    fsync, close, link, rename and mkdir of ``keys generate``: a typed error, no key file
    and no temporary file left, and the retry succeeds."""
    points = 0
    for operation in ("open", "write", "short_write", "fsync", "close", "replace", "link",
                      "mkdir"):
        for k in range(1, 8):
            folder = tmp_path / f"{operation}-{k}"
            folder.mkdir()
            faults = IOFaults(folder)
            with faults.patch(monkeypatch):
                faults.arm(operation, k)
                _, error, _ = run_bounded(lambda folder=folder: generate_keys(folder / "k"))
            if not faults.fired:
                assert error is None
                continue
            points += 1
            left = sorted(p.name for p in (folder / "k").glob("*")) \
                if (folder / "k").is_dir() else []
            if error is None:  # a fault the write survives (a failed directory fsync)
                assert left == ["intentusnet.key", "intentusnet.pub"]
                continue
            assert isinstance(error, SignatureError), repr(error)
            assert "no key was left behind" in str(error)
            assert left == [], f"{operation} #{k}: left {left}"
            assert generate_keys(folder / "k")  # the retry works
    figures.add("fault_points", points)
    assert points >= 8


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs filled to the last byte (root only; skipped elsewhere)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode(errors='replace').strip()}")
    try:
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * 512)
        finally:
            os.close(fd)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_keys_generate_on_a_full_disk_then_retry(full_disk: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``intentusnet keys generate`` on a really full file system: exit 2, one line, no
    key file (not even an empty one); after freeing space the same command works."""
    folder = full_disk / "keys"
    folder.mkdir()
    code = main(["keys", "generate", str(folder)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "cannot write keys" in err, err
    assert err.count("\n") == 1, err
    assert sorted(p.name for p in folder.iterdir()) == []
    (full_disk / "filler").unlink()
    assert main(["keys", "generate", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["intentusnet.key", "intentusnet.pub"]
