"""Loading the plugin imports no optional dependency: neither syrupy nor hypothesis.

Both of those register pytest plugins of their own (``syrupy``, ``hypothesispytest``; the
latter imports all of hypothesis in its terminal summary), so they are switched off here,
or plugin autoloading is disabled and only ours is loaded with ``-p``.
"""

from __future__ import annotations

import json
import sys

import pytest

PROBE = """
import json
import sys

import pytest

code = pytest.main({args!r})
print(json.dumps({{"exit": int(code), "modules": {{
    name: name in sys.modules
    for name in ("pytest_intentusnet.plugin", "syrupy", "hypothesis")}}}}))
"""


@pytest.mark.parametrize(("autoload", "plugin_args"), [
    pytest.param(True, ["-p", "no:hypothesispytest", "-p", "no:syrupy"],
                 id="entry-point-others-disabled"),
    pytest.param(False, ["-p", "pytest_intentusnet.plugin"], id="only-our-plugin"),
])
def test_loading_the_plugin_imports_neither_syrupy_nor_hypothesis(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, autoload: bool,
        plugin_args: list[str]) -> None:
    if not autoload:
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    empty = pytester.mkdir("empty")
    args = ["--collect-only", "-q", "-p", "no:cacheprovider", *plugin_args, str(empty)]

    result = pytester.run(sys.executable, "-c", PROBE.format(args=args), timeout=60)

    probe = json.loads(result.outlines[-1])
    assert probe["exit"] == pytest.ExitCode.NO_TESTS_COLLECTED
    assert probe["modules"] == {"pytest_intentusnet.plugin": True, "syrupy": False,
                                "hypothesis": False}


LIGHT_PROBE = """
import json
import sys

import pytest

code = pytest.main({args!r})
print(json.dumps({{"exit": int(code), "modules": sorted(
    name for name in ("pydantic", "deepdiff", "cryptography", "time_machine", "genai_prices",
                      "httpx2", "httpx",
                      "intentusnet_core.models", "intentusnet_core.runtime",
                      "pytest_intentusnet.cassette")
    if name in sys.modules)}}))
"""


def test_a_suite_that_does_not_use_the_plugin_does_not_load_the_runtime(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """What keeps such a suite as fast as with ``-p no:intentusnet`` (see
    bench/bench_plugin_overhead.py): no runtime, pydantic, deepdiff or cryptography import,
    and no fixture added to its tests."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_plain="""
        def test_one(request):
            assert "_intentus_activate" not in request.fixturenames

        def test_two():
            assert True
    """)
    args = ["-q", "-p", "no:cacheprovider", "-p", "pytest_intentusnet.plugin",
            str(pytester.path)]
    result = pytester.run(sys.executable, "-c", LIGHT_PROBE.format(args=args), timeout=60)
    probe = json.loads(result.outlines[-1])
    assert probe == {"exit": 0, "modules": []}


def test_the_lazy_package_gives_functions_not_submodules() -> None:
    import importlib

    import intentusnet_core
    import pytest_intentusnet

    for name in ("replaying", "runtime", "stores", "records", "drift", "signing"):
        importlib.import_module(f"intentusnet_core.{name}")
    for package in (intentusnet_core, pytest_intentusnet):
        for name in package.__all__:
            value = getattr(package, name)
            assert type(value).__name__ != "module", f"{package.__name__}.{name}"
    assert callable(intentusnet_core.replay)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = intentusnet_core.nope
