"""``intentusnet cassettes prune`` deletes only what a full green run of the plugin calls
unused (issue 14): a module skipped at collection or a collection error keeps every
cassette. It used to compare ``pytest --collect-only`` node ids, which leave out skipped
modules, so their cassettes were deleted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

APP = '''
import pytest
from intentusnet_core import agent

@agent("echo", intents=["Ping"])
def echo(envelope):
    return {"ok": True}

@pytest.mark.intentus
def test_one(intentus_runtime):
    intentus_runtime.register_agents(echo)
    assert intentus_runtime.route_intent("Ping", {}).status == "success"
'''


def run(project: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], cwd=project, capture_output=True,
                          text=True, timeout=300, check=False)


def recorded(tmp_path: Path) -> Path:
    (tmp_path / "test_app.py").write_text(APP)
    (tmp_path / "test_skipped.py").write_text(
        APP.replace("import pytest\n", "import pytest\npytest.importorskip('no_such_mod')\n"))
    done = run(tmp_path, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--intentus-record",
               "test_app.py")
    assert done.returncode == 0, done.stdout
    used = tmp_path / "cassettes" / "test_app" / "test_one.json"
    assert used.is_file()
    # the skipped module's cassette, recorded when its dependency was installed
    (tmp_path / "cassettes" / "test_skipped").mkdir()
    shutil.copy(used, tmp_path / "cassettes" / "test_skipped" / "test_one.json")
    return used


def test_a_module_skipped_at_collection_keeps_its_cassette(tmp_path: Path) -> None:
    used = recorded(tmp_path)
    done = run(tmp_path, "-m", "intentusnet_core.cli", "cassettes", "prune")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "prune refused, nothing deleted" in done.stdout
    assert used.is_file()
    assert (tmp_path / "cassettes" / "test_skipped" / "test_one.json").is_file()


def test_only_an_orphan_is_deleted_after_a_full_green_run(tmp_path: Path) -> None:
    used = recorded(tmp_path)
    (tmp_path / "test_skipped.py").unlink()
    shutil.rmtree(tmp_path / "cassettes" / "test_skipped")
    orphan = tmp_path / "cassettes" / "test_gone.json"
    shutil.copy(used, orphan)
    dry = run(tmp_path, "-m", "intentusnet_core.cli", "cassettes", "prune", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"unused cassette {orphan}" in dry.stdout
    assert orphan.is_file()
    done = run(tmp_path, "-m", "intentusnet_core.cli", "cassettes", "prune")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"deleted cassette {orphan}" in done.stdout
    assert not orphan.exists()
    assert used.is_file()
