"""pytest-intentusnet: record, replay and drift-gate multi-agent executions in pytest."""

__all__: list[str] = []
