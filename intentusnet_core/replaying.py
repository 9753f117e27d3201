"""Replay without re-execution: the recorded response, and no agent runs.

(Named ``replaying`` so the submodule never shadows the ``intentusnet_core.replay``
function in the lazily loaded package.)
"""

from __future__ import annotations

from typing import Any, cast

from .errors import ConfigurationError
from .models import AgentResponse, response_from_wire
from .record_deferred import deferred_replay_view
from .record_loading import vouched_for_replay
from .records import ExecutionRecord
from .stores import (
    ExecutionStore,
    FileExecutionStore,
    InMemoryExecutionStore,
    PostgresExecutionStore,
    SQLiteExecutionStore,
    open_store,
)
from .wire_format import check_record

__all__ = ["replay"]

# open_store's isinstance check against the ExecutionStore protocol costs more than the
# whole load of a record: the stores of this package are taken as they are
_OWN_STORES = frozenset({FileExecutionStore, InMemoryExecutionStore, PostgresExecutionStore,
                         SQLiteExecutionStore})


def replay(record_or_id: ExecutionRecord | str,
           store: ExecutionStore | str | None = None) -> AgentResponse:
    """Return the recorded final response with ``metadata["from_replay"] = True``.

    Raises :class:`NotReplayableError` (with the reason) for interrupted or non-replayable
    records, :class:`RecordNotFoundError` for unknown ids, :class:`RecordFormatError` for
    records not in the shape they are written in (a record object is checked as strictly
    as a loaded one: it may have been built with ``model_validate`` from an edited file)
    and :class:`RecordIntegrityError` for records that were altered.

    A record object loaded or sealed in this process is not checked again when what
    replay returns is unchanged since (:func:`~.record_loading.vouched_for_replay`: no
    field replaced, the final response still encoding to its loaded or sealed text);
    any other record is shape-checked and verified in full. A stored record whose bytes
    match their record hash is not built at all: the fields replay returns are read from
    their place in the stored text and shape-checked (:mod:`.record_replay_view`); from
    the file store, a file in its exact pretty form matching its record hash is parsed once
    and shape-checked, and the record is not built either.
    """
    if isinstance(record_or_id, ExecutionRecord):
        record = record_or_id
        view = deferred_replay_view(record)
        if view is None and not vouched_for_replay(record):
            source = f"record {record.execution_id}"
            check_record(record.to_wire(), source,
                         "Replay the record as it was written, or route the intent again.")
            record.verify(source=source)
    else:
        if store is None:
            raise ConfigurationError(
                "replay(execution_id) needs store=...; or call runtime.replay(execution_id)")
        opened = store if type(store) in _OWN_STORES else open_store(store)
        # a record file in the file store's own form, matching its hash: only what is
        # returned is read (the record is not built)
        view = opened._replay_view(record_or_id) if type(opened) is FileExecutionStore \
            else None
        if view is not None and view.status == "completed" and view.replayable and \
                view.final_response is not None:
            return _response(view.final_response, view.execution_id)
        record = cast(ExecutionStore, opened).load(record_or_id)
        view = deferred_replay_view(record)
    if view is not None and view.status == "completed" and view.replayable and \
            view.final_response is not None:
        # a stored text its hash vouches for: only what is returned was parsed and checked
        final, execution_id = view.final_response, view.execution_id
    else:
        record.ensure_replayable()
        assert record.final_response is not None
        final, execution_id = record.final_response, record.execution_id
    return _response(final, execution_id)


def _response(final: dict[str, Any], execution_id: str) -> AgentResponse:
    response = response_from_wire(final)
    response.metadata["from_replay"] = True
    response.metadata["execution_id"] = execution_id
    response.metadata["replayable"] = True
    return response
