"""Rewriting ``formatVersion`` 1 records as version 2: ``intentusnet cassettes upgrade``.

Version 2 records are version 1 records without the per-event ``prevHash`` and ``hash``
(:mod:`intentusnet_core.record_verify`). Upgrading a record drops them and seals it again:
its identity hashes (input, config, decision, output) are unchanged, so it replays and
compares exactly as before; its ``hashes.record`` is new. A file that holds records (a
cassette, a golden set, a record file of a file store) is rewritten whole, with its own
hash over the records recomputed, atomically, through the one write path.

Nothing is laundered: each record is loaded strictly and verified whole (its record hash
and, for version 1, its event chain) before it is resealed; a file that fails is refused
and left as it is. A file whose records are all version 2 already is not touched (its
bytes stay the same). A signature (``PATH.sig``) covers the old bytes, so it no longer
matches an upgraded file: sign it again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cassette_tree import cassette_tree
from .cassettes import CassetteFile
from .errors import IntentusError, RecordFormatError
from .hashing import pretty_json
from .records import ExecutionRecord
from .serialization import read_file_bytes, write_text_atomic
from .signing import SIGNATURE_SUFFIX
from .strict_json import parse_json
from .wire_format import FORMAT_VERSION, SUPPORTED_FORMAT_VERSIONS

__all__ = ["UpgradePlan", "plan_upgrade", "reformat_record", "upgrade_files", "write_plan"]


def reformat_record(record: ExecutionRecord,
                    version: int = FORMAT_VERSION) -> ExecutionRecord:
    """A copy of *record* written as *version* (1 or 2) and sealed again: the same
    content and identity hashes, the event chain added (1) or left out (2). *record* is not
    changed; it should have passed :meth:`~ExecutionRecord.verify` (sealing again would
    vouch for an edit). Raises :class:`RecordFormatError` for a version this one does not
    write."""
    if version not in SUPPORTED_FORMAT_VERSIONS:
        readable = " or ".join(map(str, SUPPORTED_FORMAT_VERSIONS))
        raise RecordFormatError(f"formatVersion {version} cannot be written (this version "
                                f"writes {readable}); pass one of those")
    copy = record.model_copy(deep=True)
    copy.__dict__["format_version"] = version
    return copy.seal()


@dataclass(frozen=True)
class UpgradePlan:
    """What upgrading one file means: its kind, how many of its records are version 1,
    and the text it is rewritten with (None: nothing to change)."""

    path: Path
    kind: str
    records: int
    upgraded: int
    text: str | None

    @property
    def signed(self) -> bool:
        """Whether the file has a signature, which the rewritten bytes no longer match."""
        return os.path.lexists(self.path.with_name(self.path.name + SIGNATURE_SUFFIX))

    def describe(self) -> str:
        """``cassette, 2 of 3 records formatVersion 1 -> 2``."""
        return (f"{self.kind}, {self.upgraded} of {self.records} records formatVersion "
                f"1 -> {FORMAT_VERSION}")


def _checked(records: list[ExecutionRecord], sources: list[str]) -> list[ExecutionRecord]:
    for record, source in zip(records, sources):  # the chain too: never reseal an edit
        record.verify(source=source)
    return [record if record.format_version == FORMAT_VERSION else reformat_record(record)
            for record in records]


def _sources(path: Path, records: list[ExecutionRecord]) -> list[str]:
    return [f"{path} records[{index}]" for index in range(len(records))]


def plan_upgrade(path: str | os.PathLike[str]) -> UpgradePlan:
    """Read, check and upgrade one file in memory (nothing is written).

    Raises :class:`IntentusError` subclasses naming the file: :class:`RecordFormatError`
    (not a cassette, golden set or record; malformed), :class:`RecordIntegrityError`
    (edited after it was sealed), and those of
    :func:`~intentusnet_core.serialization.read_file_bytes` (FIFO, device, too large).
    """
    source = Path(path)
    try:
        data: Any = parse_json(read_file_bytes(source, what="cassette or record"),
                               str(source))
    except FileNotFoundError:
        raise RecordFormatError(f"{source}: no such file; check the path") from None
    if isinstance(data, dict) and "kind" in data and "nodeId" not in data:
        from .golden import GoldenSet

        golden = GoldenSet.from_wire(data, source=source)
        kind, old = "golden set", golden.records
        new = _checked(old, _sources(source, old))
        rewritten = GoldenSet(cases=golden.cases, records=new, selection=golden.selection)
        text = rewritten.dumps()
    elif isinstance(data, dict) and "nodeId" in data:
        cassette = CassetteFile.from_wire(data, source=source)
        kind, old = "cassette", cassette.records
        new = _checked(old, _sources(source, old))
        text = CassetteFile(node_id=cassette.node_id, frozen_at=cassette.frozen_at,
                            records=new, learned=cassette.learned).dumps()
    else:
        record = ExecutionRecord.from_wire(data, source=str(source), verify=True)
        kind, old = "record", [record]
        new = _checked(old, [str(source)])
        text = pretty_json(new[0].to_wire())
    upgraded = sum(1 for record in old if record.format_version != FORMAT_VERSION)
    return UpgradePlan(source, kind, len(old), upgraded, text if upgraded else None)


def upgrade_files(root: str | os.PathLike[str]) -> tuple[list[UpgradePlan], list[str]]:
    """The upgrade plan of every file under *root* the plugin could load (hidden folders,
    such as a file store's ``.wal``, left out), and one line per file refused. Nothing is
    written: write each plan's text (:func:`write_plan`) once none was refused."""
    files, refused = cassette_tree(root)
    top = Path(root)
    plans: list[UpgradePlan] = []
    for path in files:
        if any(part.startswith(".") for part in path.relative_to(top).parts[:-1]):
            continue
        try:
            plans.append(plan_upgrade(path))
        except IntentusError as exc:
            refused.append(str(exc))
    return plans, refused


def write_plan(plan: UpgradePlan) -> None:
    """Write the upgraded text of *plan* atomically (through a symlink inside the cassette
    directory, to the file it points at); a plan without text writes nothing."""
    if plan.text is not None:
        target = Path(os.path.realpath(plan.path))
        write_text_atomic(target, plan.text, where=f"{plan.kind} {plan.path}")

