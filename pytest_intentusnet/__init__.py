"""pytest-intentusnet: record, replay and drift-gate multi-agent executions in pytest.

Heavy optional pieces are imported on use: ``pytest_intentusnet.strategies`` (hypothesis)
and ``pytest_intentusnet.syrupy`` (syrupy).
"""

from .cassette import Cassette, Counters
from .determinism import assert_routing_deterministic
from .modes import Mode, TestSettings

__all__ = ["Cassette", "Counters", "Mode", "TestSettings", "assert_routing_deterministic"]
