"""The cassette file format (one JSON file per test), readable without pytest.

::

    {
      "formatVersion": 1,
      "nodeId": "tests/test_moderation.py::test_safe_post",
      "frozenAt": "2026-11-21T05:40:00Z",
      "records": [ <execution record>, ... ],     // in execution order
      "hashes": {"cassette": "sha256:..."}         // over formatVersion, nodeId, frozenAt
    }                                              // and every record's hashes.record

Canonical key order, 2-space indent, trailing newline; written atomically through the one
write path (redaction guard included).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import MissingCassetteError, RecordFormatError, RecordIntegrityError
from .hashing import pretty_json, stable_hash
from .records import ExecutionRecord
from .serialization import parse_json, write_text_atomic

__all__ = ["CASSETTE_FORMAT_VERSION", "CassetteFile"]

CASSETTE_FORMAT_VERSION = 1
_KEYS = {"formatVersion", "nodeId", "frozenAt", "records", "hashes"}


@dataclass
class CassetteFile:
    """A cassette's content: the test it belongs to, its frozen instant, its records."""

    node_id: str
    frozen_at: str | None = None
    records: list[ExecutionRecord] = field(default_factory=list)
    path: Path | None = None

    def cassette_hash(self) -> str:
        return stable_hash({"formatVersion": CASSETTE_FORMAT_VERSION, "nodeId": self.node_id,
                            "frozenAt": self.frozen_at,
                            "records": [r.hashes.get("record") for r in self.records]})

    def to_wire(self) -> dict[str, Any]:
        return {
            "formatVersion": CASSETTE_FORMAT_VERSION,
            "nodeId": self.node_id,
            "frozenAt": self.frozen_at,
            "records": [record.to_wire() for record in self.records],
            "hashes": {"cassette": self.cassette_hash()},
        }

    def dumps(self) -> str:
        return pretty_json(self.to_wire())

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write atomically (temp file, fsync, rename), after the secret-leak guard."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("CassetteFile.save() needs a path")
        write_text_atomic(target, self.dumps(), where=f"cassette {target}")
        self.path = target
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, verify: bool = True) -> CassetteFile:
        """Read and validate a cassette; every record is hash-verified unless ``verify=False``.

        Raises :class:`MissingCassetteError`, :class:`RecordFormatError` or
        :class:`RecordIntegrityError`, each naming the file (and record / field).
        """
        source = Path(path)
        try:
            raw = source.read_bytes()
        except FileNotFoundError:
            raise MissingCassetteError(f"{source}: no such cassette") from None
        except OSError as exc:
            raise RecordFormatError(f"{source}: cannot read cassette: {exc}") from None
        data = parse_json(raw, str(source))
        return cls.from_wire(data, source=source, verify=verify)

    @classmethod
    def from_wire(cls, data: Any, *, source: Path, verify: bool = True) -> CassetteFile:
        if not isinstance(data, dict):
            raise RecordFormatError(f"{source}: a cassette is a JSON object, got "
                                    f"{type(data).__name__}")
        unknown = set(data) - _KEYS
        missing = {"formatVersion", "nodeId", "records"} - set(data)
        if unknown or missing:
            raise RecordFormatError(
                f"{source}: not a cassette (missing fields {sorted(missing)}, unknown fields "
                f"{sorted(unknown)}); re-record it with `pytest --intentus-record=all`")
        if data["formatVersion"] != CASSETTE_FORMAT_VERSION:
            raise RecordFormatError(
                f"{source}: field formatVersion is {data['formatVersion']!r}; this version "
                f"reads {CASSETTE_FORMAT_VERSION}. Re-record with `pytest --intentus-record=all`")
        if not isinstance(data["nodeId"], str) or not isinstance(data["records"], list):
            raise RecordFormatError(f"{source}: field nodeId must be a string and records a "
                                    "list")
        frozen = data.get("frozenAt")
        if frozen is not None and not isinstance(frozen, str):
            raise RecordFormatError(f"{source}: field frozenAt must be an ISO timestamp string")
        records = []
        for index, item in enumerate(data["records"]):
            where = f"{source} records[{index}]"
            record = ExecutionRecord.from_wire(item, source=where)
            if verify:
                record.verify(source=where)
            records.append(record)
        cassette = cls(node_id=data["nodeId"], frozen_at=frozen, records=records, path=source)
        hashes = data.get("hashes")
        if verify and (not isinstance(hashes, dict)
                       or hashes.get("cassette") != cassette.cassette_hash()):
            raise RecordIntegrityError(
                f"{source}: hashes.cassette does not match: records were added, removed, "
                "reordered or swapped in from another cassette, or nodeId/frozenAt was "
                "edited. Restore the file or re-record it.")
        return cassette
