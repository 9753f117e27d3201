"""The public surface is pinned, and every public name is documented."""

from __future__ import annotations

from pathlib import Path

import intentusnet_core
import pytest_intentusnet

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_public_name_is_importable() -> None:
    for module in (intentusnet_core, pytest_intentusnet):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name} in __all__ but missing"


def test_every_public_name_appears_in_the_reference() -> None:
    reference = "\n".join(p.read_text() for p in (DOCS / "reference").glob("*.md"))
    missing = [name for module in (intentusnet_core, pytest_intentusnet)
               for name in module.__all__ if name not in reference]
    assert missing == []
