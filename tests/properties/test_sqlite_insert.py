"""The SQLite store's batch insert (``sqlite_schema.insert_rows``): whole chunks of rows go
in as one multi-row statement, the rest row by row. Whatever the batch's length around the
chunk size, and wherever a duplicate id sits (twice in the batch, or stored already), the
database ends as inserting the rows one at a time leaves it, and the same ids are refused.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from intentusnet_core.stores import sqlite_schema
from intentusnet_core.stores.sqlite_schema import INSERT, Row, connect, insert_rows

CHUNK = sqlite_schema._CHUNK


def _row(i: int, body_size: int) -> Row:
    return (f"exec-{i:06d}", None if i % 3 == 0 else f"exec-{i - 1:06d}",
            f"02026-01-01T00:00:{i:06d}", f"Intent{i % 4}", None if i % 5 == 0 else "agent",
            "completed", f'{{"n":{i},"x":"{"é" * body_size}"}}')


def _one_at_a_time(db: sqlite3.Connection, rows: list[Row]) -> list[str]:
    refused = []
    for row in rows:
        try:
            db.execute(INSERT, row)
        except sqlite3.IntegrityError:
            stored = db.execute(sqlite_schema.BODY, (row[0],)).fetchone()
            if stored is None or stored[0] != row[6]:
                refused.append(row[0])
    return refused


def _contents(db: sqlite3.Connection) -> list[tuple[object, ...]]:
    return db.execute("select * from records order by execution_id").fetchall()


@settings(max_examples=30, deadline=None)
@given(count=st.sampled_from([0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 7]),
       body_size=st.integers(0, 3000),
       duplicate=st.one_of(st.none(), st.tuples(st.sampled_from(["batch", "stored",
                                                                  "same-body"]),
                                                st.integers(0, 10**6))))
def test_batch_insert_equals_one_row_at_a_time(count: int, body_size: int,
                                               duplicate: tuple[str, int] | None) -> None:
    rows = [_row(i, body_size) for i in range(count)]
    before: list[Row] = []
    if duplicate is not None and rows:
        kind, at = duplicate
        victim = rows[at % len(rows)]
        if kind == "batch":  # the same id twice in one batch, another body
            rows.insert((at // 7) % (len(rows) + 1), (victim[0], *victim[1:6], '{"other":1}'))
        elif kind == "stored":  # stored before, another body: refused
            before = [(victim[0], *victim[1:6], '{"earlier":1}')]
        else:  # stored before with the same body: an earlier flush, not a duplicate
            before = [victim]
    with tempfile.TemporaryDirectory() as folder:
        chunked = connect(Path(folder) / "chunked.db", "NORMAL")
        reference = connect(Path(folder) / "reference.db", "NORMAL")
        try:
            for db in (chunked, reference):
                for row in before:
                    db.execute(INSERT, row)
            refused = insert_rows(chunked, rows)
            expected = _one_at_a_time(reference, rows)
            assert refused == expected
            assert _contents(chunked) == _contents(reference)
            assert len(_contents(chunked)) == len({row[0] for row in rows + before})
        finally:
            chunked.close()
            reference.close()


def test_a_whole_chunk_is_one_statement(tmp_path: Path) -> None:
    db = connect(tmp_path / "r.db", "NORMAL")
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    try:
        assert insert_rows(db, [_row(i, 10) for i in range(CHUNK + 2)]) == []
    finally:
        db.close()
    inserts = [text for text in statements if text.startswith("insert")]
    # one statement for the chunk, then one per remaining row
    assert len(inserts) == 1 + 2
    assert inserts[0].count("'completed'") == CHUNK
