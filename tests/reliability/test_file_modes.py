"""Written files follow the umask (issue 14, hostile files): ``mkstemp`` makes 0600 files, so
an atomic write used to leave every record, cassette and signature readable by its owner
only, whatever the umask said. Each umask runs in its own process: ``os.umask`` is
process-wide."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

WRITER = r"""
import json, os, stat, sys
from pathlib import Path
os.umask(int(sys.argv[2], 8))
from intentusnet_core import FileExecutionStore, IntentusRuntime, agent
from intentusnet_core.serialization import append_text, write_text_atomic
root = Path(sys.argv[1])
write_text_atomic(root / "atomic.json", "{}\n")
append_text(root / "appended.jsonl", "{}\n", where="test", fsync=False)

@agent("echo", intents=["Ping"])
def echo(envelope):
    return {"ok": True}

runtime = IntentusRuntime(store=FileExecutionStore(root / "records"))
runtime.register_agents(echo)
assert runtime.route_intent("Ping", {}).status == "success"
modes = {p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode)
         for p in root.rglob("*") if p.is_file()}
print(json.dumps(modes))
"""


@pytest.mark.parametrize(("umask", "expected"), [("022", 0o644), ("077", 0o600),
                                                 ("002", 0o664)])
def test_written_files_follow_the_umask(tmp_path: Path, umask: str, expected: int) -> None:
    done = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path), umask],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    modes = json.loads(done.stdout)
    assert "atomic.json" in modes
    assert "appended.jsonl" in modes
    assert any(name.startswith("records/") for name in modes), modes
    wrong = {name: oct(mode) for name, mode in modes.items() if mode != expected}
    assert not wrong, f"umask {umask}: expected {oct(expected)} for every file, got {wrong}"


def test_a_file_mode_is_never_wider_than_asked(tmp_path: Path) -> None:
    from intentusnet_core.serialization import write_text_atomic

    write_text_atomic(tmp_path / "private.json", "{}\n", mode=0o600)
    assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600
    assert json.loads((tmp_path / "private.json").read_text()) == {}
