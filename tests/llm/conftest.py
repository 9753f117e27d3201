"""Fixtures for the LLM capture tests: a fake OpenAI + Anthropic server on 127.0.0.1.

``fake_provider`` is the server itself; ``fake_provider_env`` also points the SDKs at it
through the environment, which subprocesses (``pytester.runpytest_subprocess``) inherit.
Change ``model``, ``decision`` or ``rate_limit`` on the server between two inner runs to
simulate a model upgrade, a behaviour change or a throttled provider.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fake_provider import FakeProvider


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A fresh server for one test: ``url`` for OpenAI, ``anthropic_url`` for Anthropic."""
    provider = FakeProvider()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def fake_provider_env(fake_provider: FakeProvider,
                      monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """``fake_provider``, with ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``ANTHROPIC_BASE_URL``
    and ``ANTHROPIC_API_KEY`` set for this test (and any process it starts)."""
    for name, value in fake_provider.env().items():
        monkeypatch.setenv(name, value)
    return fake_provider


@pytest.fixture(autouse=True)
def _collect_leaks() -> Iterator[None]:
    """Collect garbage after each test, so an SDK client left open fails the test that
    opened it (ResourceWarning is an error here) instead of a later, unrelated one."""
    yield
    import gc

    gc.collect()
