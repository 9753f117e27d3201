"""The write-ahead header a store journals is the canonical text of the header, whether the
store encodes it (``begin``) or takes the text the recorder builds (``begin_from_text``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from intentusnet_core.hashing import canonical_json
from intentusnet_core.recording import header_text
from intentusnet_core.stores.sqlite import SQLiteExecutionStore

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.none() | st.text(), st.text(), st.dictionaries(st.text(), _json))
def test_header_text_is_the_canonical_header(execution_id: str, parent: str | None,
                                             created_at: str, envelope: dict[str, Any]) -> None:
    header = {"executionId": execution_id, "parentExecutionId": parent,
              "createdAt": created_at, "envelope": envelope}
    assert header_text(execution_id, parent, created_at, canonical_json(envelope)) == \
        canonical_json(header)


def _journal(tmp_path: Path, name: str, from_text: bool,
             store_cls: type[SQLiteExecutionStore] = SQLiteExecutionStore) -> bytes:
    store = store_cls(tmp_path / name / "x.db")
    header = {"executionId": "e-1", "parentExecutionId": None,
              "createdAt": "2026-01-01T00:00:00Z", "envelope": {"payload": {"t": "é\u2028"}}}
    if from_text:
        store.begin_from_text("e-1", header, canonical_json(header), "agent-a")
    else:
        store.begin("e-1", header, "agent-a")
    journals = sorted(p for p in (tmp_path / name).rglob("*") if p.is_file() and p.name != "x.db")
    data = b"".join(p.read_bytes() for p in journals)
    store.close()
    return data


def test_begin_from_text_journals_what_begin_journals(tmp_path: Path) -> None:
    plain = _journal(tmp_path, "plain", False)
    assert b'"begin":{"createdAt"' in plain
    assert _journal(tmp_path, "text", True) == plain


def test_a_subclass_overriding_begin_gets_its_begin(tmp_path: Path) -> None:
    calls: list[str] = []

    class Custom(SQLiteExecutionStore):
        def begin(self, execution_id: str, header: dict[str, Any], agent: str) -> None:
            calls.append(execution_id)
            super().begin(execution_id, header, agent)

    _journal(tmp_path, "custom", True, Custom)
    assert calls == ["e-1"]
