"""The cassette file format (one JSON file per test), readable without pytest.

::

    {
      "formatVersion": 1,
      "nodeId": "tests/test_moderation.py::test_safe_post",
      "frozenAt": "2026-11-21T05:40:00Z",
      "records": [ <execution record>, ... ],     // in execution order
      "hashes": {
        "cassette": "sha256:...",                  // over formatVersion, nodeId, frozenAt
                                                   // and every record's hashes.record
        "records": ["sha256:...", ...]             // each record's hashes.record, in order
      }
    }

Loading is strict (:mod:`intentusnet_core.wire_format`): every key above is required
(``hashes.records`` excepted), with its exact JSON type, and no other key is allowed; each
record is loaded as strictly.

``hashes.cassette`` binds the records to the test (``nodeId``): a record moved in from
another test's cassette, a removed or reordered record, an edited ``nodeId`` all fail
verification. ``hashes.records`` says which of those happened (cassettes written before it
existed verify without it). Hashes need no key, so someone who recomputes them can forge a
cassette: sign cassettes (:func:`~intentusnet_core.signing.sign_file`) to prove who wrote
them.

Canonical key order, 2-space indent, trailing newline; written atomically through the one
write path (redaction guard included).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import (
    ConfigurationError,
    MissingCassetteError,
    RecordFormatError,
    RecordIntegrityError,
)
from .hashing import pretty_json, stable_hash
from .record_deferred import hashes_of
from .records import ExecutionRecord
from .serialization import read_file_bytes, write_text_atomic
from .strict_json import parse_json
from .trusted_load import trusted_records
from .wire_format import CASSETTE_FORMAT_VERSION, cassette_advice, check_cassette

__all__ = ["CASSETTE_FORMAT_VERSION", "CassetteFile"]


@dataclass
class CassetteFile:
    """A cassette's content: the test it belongs to, its frozen instant, its records."""

    node_id: str
    frozen_at: str | None = None
    records: list[ExecutionRecord] = field(default_factory=list)
    path: Path | None = None
    #: what ``--intentus-calibrate`` learned: ``{execution, path, matcher, flipRate,
    #: observed}`` per field that varied (formatVersion 2; none: formatVersion 1)
    learned: list[dict[str, Any]] = field(default_factory=list)

    @property
    def format_version(self) -> int:
        """1, or 2 for a calibrated cassette (one with learned matchers)."""
        return 2 if self.learned else CASSETTE_FORMAT_VERSION

    def cassette_hash(self) -> str:
        """The hash that binds the records (and learned matchers) to this test."""
        sealed: dict[str, Any] = {
            "formatVersion": self.format_version, "nodeId": self.node_id,
            "frozenAt": self.frozen_at,
            "records": [hashes_of(r).get("record") for r in self.records]}
        if self.learned:
            sealed["learned"] = self.learned
        return stable_hash(sealed)

    def to_wire(self) -> dict[str, Any]:
        """The JSON form written to disk."""
        wire: dict[str, Any] = {
            "formatVersion": self.format_version,
            "nodeId": self.node_id,
            "frozenAt": self.frozen_at,
            "records": [record.to_wire() for record in self.records],
            "hashes": {"cassette": self.cassette_hash(),
                       "records": [record.hashes.get("record") for record in self.records]},
        }
        if self.learned:
            wire["learned"] = self.learned
        return wire

    def learned_matchers(self, execution_id: str) -> dict[str, Any]:
        """The learned matchers of one recorded execution, by field path. Raises
        :class:`RecordFormatError` for a learned entry that is not a matcher."""
        from .matchers import matcher_from_json

        return {entry["path"]: matcher_from_json(entry["matcher"])
                for entry in self.learned if entry["execution"] == execution_id}

    def dumps(self) -> str:
        return pretty_json(self.to_wire())

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write atomically (temp file, fsync, rename), after the secret-leak guard."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ConfigurationError("CassetteFile.save() needs a path: save(path) or "
                                     "CassetteFile(..., path=...)")
        write_text_atomic(target, self.dumps(), where=f"cassette {target}")
        self.path = target
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, verify: bool = True) -> CassetteFile:
        """Read and validate a cassette; every record is hash-verified unless ``verify=False``.

        Raises :class:`MissingCassetteError`, :class:`RecordFormatError` or
        :class:`RecordIntegrityError`, each naming the file (and record / field), and
        :class:`StoreError` (a FIFO, device or directory, which is never opened blocking)
        or :class:`RecordTooLargeError` (over ``INTENTUSNET_MAX_RECORD_BYTES``) from
        :func:`~intentusnet_core.serialization.read_file_bytes`.
        """
        source = Path(path)
        try:
            raw = read_file_bytes(source, what="cassette")
        except FileNotFoundError:
            raise MissingCassetteError(f"{source}: no such cassette") from None
        if verify:  # the writer's own bytes, each record matching its hash: one pass
            trusted = trusted_records(raw)
            loaded = cls._from_trusted(*trusted, source) if trusted is not None else None
            if loaded is not None:
                return loaded
        data = parse_json(raw, str(source))
        return cls.from_wire(data, source=source, verify=verify)

    @classmethod
    def _from_trusted(cls, data: dict[str, Any], records: list[ExecutionRecord],
                      source: Path) -> CassetteFile | None:
        """The cassette of a document whose records :func:`trusted_records` built, when its
        own shape, learned matchers and binding hold; None sends the caller down the strict
        path, which names what is wrong."""
        try:
            check_cassette(data, str(source))
            cassette = cls(node_id=data["nodeId"], frozen_at=data["frozenAt"],
                           records=records, path=source, learned=list(data.get("learned", [])))
            if cassette.learned:
                from .matchers import matcher_from_json

                for entry in cassette.learned:
                    matcher_from_json(entry["matcher"])
        except (RecordFormatError, ConfigurationError):
            return None
        hashes = data["hashes"]
        sealed = hashes.get("records")
        if hashes.get("cassette") != cassette.cassette_hash() or (
                sealed is not None and sealed != [hashes_of(r).get("record") for r in records]):
            return None
        return cassette

    @classmethod
    def from_wire(cls, data: Any, *, source: Path, verify: bool = True) -> CassetteFile:
        """A cassette from its parsed JSON; every record is hash-verified and the records'
        binding to the test checked unless ``verify=False``.

        Raises :class:`RecordFormatError` or :class:`RecordIntegrityError` naming *source*
        (and the record or field).
        """
        check_cassette(data, str(source))
        node_id, frozen, hashes = data["nodeId"], data["frozenAt"], data["hashes"]
        advice = cassette_advice(node_id)
        records = [ExecutionRecord.from_wire(item, source=f"{source} records[{index}]",
                                             verify=verify, advice=advice)
                   for index, item in enumerate(data["records"])]
        cassette = cls(node_id=node_id, frozen_at=frozen, records=records, path=source,
                       learned=list(data.get("learned", [])))
        if cassette.learned:
            from .matchers import matcher_from_json

            for index, entry in enumerate(cassette.learned):
                try:
                    matcher_from_json(entry["matcher"])
                except (RecordFormatError, ConfigurationError) as exc:
                    raise RecordFormatError(f"{source}: learned[{index}].matcher: {exc} "
                                            f"{advice}") from None
        if verify:
            _check_binding(cassette, hashes, source)
        return cassette


def _check_binding(cassette: CassetteFile, hashes: dict[str, Any], source: Path) -> None:
    """Raise :class:`RecordIntegrityError` saying how the records or the test they are
    bound to were changed, if they were."""
    actual = [record.hashes.get("record") for record in cassette.records]
    sealed = hashes.get("records")
    if hashes.get("cassette") == cassette.cassette_hash():
        if sealed is not None and sealed != actual:
            raise RecordIntegrityError(
                f"{source}: hashes.records was edited: it no longer lists the records' "
                "hashes (hashes.cassette still matches them). " +
                cassette_advice(cassette.node_id))
        return
    advice = " " + cassette_advice(cassette.node_id)
    if sealed is None:  # written before hashes.records existed
        raise RecordIntegrityError(
            f"{source}: hashes.cassette does not match: records were added, removed, "
            "reordered or swapped in from another cassette, or nodeId/frozenAt was "
            "edited." + advice)
    test = f"test {cassette.node_id!r}"
    foreign = [index for index, value in enumerate(actual) if value not in sealed]
    if len(actual) > len(sealed):
        index = foreign[0] if foreign else len(sealed)
        raise RecordIntegrityError(
            f"{source}: records[{index}] (execution {cassette.records[index].execution_id}) "
            f"was added: the cassette of {test} was sealed with {len(sealed)} records, it "
            f"now holds {len(actual)}." + advice)
    if len(actual) < len(sealed):
        raise RecordIntegrityError(
            f"{source}: records were removed: {len(sealed) - len(actual)} of the "
            f"{len(sealed)} records the cassette of {test} was sealed with (hashes.records) "
            "are missing." + advice)
    if foreign:
        index = foreign[0]
        raise RecordIntegrityError(
            f"{source}: records[{index}] (execution {cassette.records[index].execution_id}) "
            f"is not a record this cassette was sealed with for {test}: it was swapped in "
            "from another cassette (or edited and resealed)." + advice)
    if actual != sealed:
        moved = next(i for i, (a, b) in enumerate(zip(actual, sealed)) if a != b)
        what = ("records were reordered" if sorted(map(str, actual)) == sorted(map(str, sealed))
                else "a record was replaced by a copy of another")
        raise RecordIntegrityError(
            f"{source}: {what} (records[{moved}] is out of place): the cassette of {test} "
            "was sealed with its records in execution order." + advice)
    raise RecordIntegrityError(
        f"{source}: hashes.cassette does not match nodeId/frozenAt: the cassette was sealed "
        "for another test or instant (or hashes.cassette was edited)." + advice)
