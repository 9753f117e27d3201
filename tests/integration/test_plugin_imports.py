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
