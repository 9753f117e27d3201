"""serialization.read_file_bytes: the one read path refuses what is not a regular file
without blocking, and refuses oversized files before reading them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from intentusnet_core import IntentusError, RecordTooLargeError, StoreError
from intentusnet_core.serialization import MAX_RECORD_BYTES_ENV, read_file_bytes


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(b"x" * 3_000_000)
    assert read_file_bytes(path) == b"x" * 3_000_000


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "cassette.json"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"cassette .*cassette\.json: it is a FIFO"):
        read_file_bytes(fifo, what="cassette")
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(("path", "kind"), [("/dev/zero", "a character device"),
                                             ("/dev/null", "a character device")])
def test_a_device_is_refused(path: str, kind: str) -> None:
    with pytest.raises(StoreError, match=kind):
        read_file_bytes(path)


def test_a_directory_is_refused_with_the_right_words(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="it is a directory") as caught:
        read_file_bytes(tmp_path, what="signature file")
    assert "no such file" not in str(caught.value).lower()
    assert isinstance(caught.value, IntentusError)


def test_an_oversized_file_is_refused_before_it_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_RECORD_BYTES_ENV, "1000")
    path = tmp_path / "big.json"
    path.write_bytes(b"x" * 1001)
    with pytest.raises(RecordTooLargeError, match=r"1001 bytes is over the 1000-byte"):
        read_file_bytes(path)
    assert read_file_bytes(path, limit=2000) == b"x" * 1001


def test_a_missing_file_stays_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_file_bytes(tmp_path / "absent.json")
