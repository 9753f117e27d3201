"""How the failures of every attempt become the answer of a FALLBACK or PARALLEL execution."""

from __future__ import annotations

from .models import AgentResponse, ErrorInfo, build_response

__all__ = ["all_failed"]


def all_failed(names: list[str], responses: list[AgentResponse],
               strategy: str) -> AgentResponse:
    """The last failure, with every attempt's code in ``details.attempts``."""
    error = responses[-1].error
    assert error is not None
    attempts = [{"agent": name, "code": response.error.code if response.error else None}
                for name, response in zip(names, responses)]
    # built directly: the agent's details may hold any key ("code", "message" too)
    return build_response("error", None, ErrorInfo.model_construct(
        code=error.code,
        message=f"all {len(responses)} {strategy} agents failed; last: {error.message}",
        details={**error.details, "attempts": attempts}), {})
