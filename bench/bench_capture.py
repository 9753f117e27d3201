#!/usr/bin/env python3
"""What zero-code HTTP capture costs per model call, recording and replaying, next to a bare
SDK call and to vcrpy + pytest-recording on the same calls, measured in the same run.

Run from the repository root with the dev venv and the bench extra (vcrpy,
pytest-recording: ``pip install -e '.[dev,bench]'``)::

    .venv/bin/python bench/bench_capture.py
    .venv/bin/python bench/bench_capture.py --calls 100 --rounds 5 --runs 3 --json capture.json

The call: ``openai.OpenAI(...).chat.completions.create(model="gpt-4o-mini",
messages=[{"role": "user", "content": f"moderate item {i}"}])`` with ``max_retries=0``, one
client reused (keep-alive), against the fake OpenAI server of ``tests/llm/fake_provider.py``
on 127.0.0.1, started in a process of its own so that it does not share this one's GIL.
``http.server`` sends a response's head and body in two writes; without ``TCP_NODELAY`` the
body waits for the client's delayed ACK (about 40 ms on Linux), which would swamp every
figure, so the launcher sets socketserver's ``disable_nagle_algorithm`` on the fake's
handler class (nothing else of the fake changes).

**In process** (no pytest; ``--rounds`` rounds after one discarded warm-up round, the kinds
interleaved within each round, a fresh runtime and cassette per round):

* ``bare``: the SDK call, no runtime;
* ``SDK alone``: the same call on an ``httpx2.MockTransport`` that returns the fake's
  answer, recorded once: what the SDK itself costs (build the request, parse the
  response), with no socket;
* ``agent, capture off``: one ``route_intent`` per call to an ``@agent`` that makes the call,
  ``IntentusRuntime(store="memory://", capture_http=False)`` — routing and recording the
  execution, the SDK call passing through;
* ``agent, capture on``: the same with ``capture_http=True`` (the default): the exchange
  becomes a ``STEP`` with the ``llm`` summary and its price;
* ``vcrpy record`` / ``vcrpy replay``: the bare calls inside ``vcr.use_cassette`` (record
  mode ``all``, then ``none``); vcrpy 9 patches ``httpx2``'s transports, which the SDK uses,
  so it sees the calls as made. The timed loop runs inside the ``with``: loading and writing
  the YAML file are not in the figure.

After the first captured round the transport classes stay patched in this process, so the
later ``bare`` rounds go through the patch's pass-through (one context-variable lookup), as
every call outside an agent does once capture is installed; vcrpy's rounds replace the
patched method with its own for the length of the cassette.

**Through pytest** (a throwaway project; ``--runs`` runs of each kind, interleaved; every run
is ``python -m pytest -q -s -p no:cacheprovider -p no:langsmith_plugin -p
no:hypothesispytest`` in a fresh process; the loop is timed inside the test body, so
pytest's start-up is not in the figure, and the whole command's wall time is printed too):

* ``bare``: an unmarked test making the calls;
* ``record, capture off`` and ``record``: a ``@pytest.mark.intentus`` test routing one
  execution per call, recorded with ``--intentus-record`` into a deleted cassette, with
  ``-o intentus_capture=off`` and with capture on;
* ``step replay``: the same test with ``-o intentus_replay=step``: the agent runs, the SDK
  builds its request and parses the response, the transport serves the recorded response;
* ``agent replay``: the default replay level: the agent does not run, nor the SDK;
* ``vcrpy record`` / ``vcrpy replay``: a ``@pytest.mark.vcr`` test making the bare calls,
  ``--record-mode=once`` into a deleted cassette, then ``--record-mode=none``.

vcrpy matches on method, scheme, host, port, path, query and body when replaying (each call
has its own body) and filters the ``authorization`` header (capture drops credentials too).
While *recording* it matches on ``(method, path)`` only: vcrpy checks every new request
against every recorded one (O(N^2) with the body matcher); matchers are not stored, so the
cassette replayed is the same. The fake's request log is read after every replay run: a
replay that reached it is reported.

Timing in the test body uses ``time.perf_counter_ns`` captured at import (the plugin freezes
wall-clock time in marked tests; perf_counter is not frozen, the tuple is a precaution).
Figures are per call: the loop's time divided by the calls (``mean``, first-call costs such
as lazy imports included in the pytest runs) and the median call, each the median over the
rounds or runs. Nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _machine import cpu_model, finish, git_revision, loadavg

ROOT = Path(__file__).resolve().parent.parent
MODEL = "gpt-4o-mini"
API_KEY = "sk-test-bench-capture"
PYTEST = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
          "-p", "no:langsmith_plugin", "-p", "no:hypothesispytest"]
RUN_TIMEOUT_S = 300
REPLAY_MATCH_ON = ("method", "scheme", "host", "port", "path", "query", "body")
RECORD_MATCH_ON = ("method", "path")
LAUNCHER = (
    "import sys\n"
    "from tests.llm import fake_provider\n"
    "fake_provider._Handler.disable_nagle_algorithm = True  # see bench_capture's docstring\n"
    "sys.exit(fake_provider.main(sys.argv[1:]))\n")

APP = '''\
"""The measured call, bare or inside an agent; the loop is timed in the test body."""
import json
import os
import time

import openai

from intentusnet_core import agent

N = int(os.environ["BENCH_CALLS"])
CLIENT = openai.OpenAI(max_retries=0)  # OPENAI_BASE_URL and OPENAI_API_KEY: the fake
_CLOCK = (time.perf_counter_ns,)  # the real clock, taken before any test freezes time


def ask(i):
    answer = CLIENT.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"moderate item {i}"}])
    return answer.choices[0].message.content


@agent("moderator", intents=["Moderate"])
def moderator(envelope):
    return {"decision": ask(envelope.payload["i"])}


def timed(call):
    clock = _CLOCK[0]
    results, durations = [], []
    start = clock()
    for i in range(N):
        before = clock()
        results.append(call(i))
        durations.append(clock() - before)
    loop = clock() - start
    first = durations[0]
    durations.sort()
    print("\\nBENCH " + json.dumps({"loop_ns": loop, "median_ns": durations[N // 2],
                                    "first_ns": first, "n": N}))
    return results
'''

TESTS = {
    "test_bare.py": '''\
from bench_app import ask, timed


def test_bare():
    assert set(timed(ask)) == {"SAFE"}
''',
    "test_ours.py": '''\
import pytest

from bench_app import moderator, timed
from intentusnet_core import IntentusRuntime


@pytest.mark.intentus
def test_agent():
    runtime = IntentusRuntime()
    runtime.register_agent(moderator)
    responses = timed(lambda i: runtime.route_intent("Moderate", {"i": i}))
    assert {response.payload["decision"] for response in responses} == {"SAFE"}
''',
    "test_vcr.py": f'''\
import os

import pytest

from bench_app import ask, timed


@pytest.fixture(scope="module")
def vcr_config():
    recording = bool(os.environ.get("BENCH_VCR_RECORDING"))
    return {{"match_on": {RECORD_MATCH_ON!r} if recording else {REPLAY_MATCH_ON!r},
            "filter_headers": ["authorization"]}}


@pytest.mark.vcr
def test_vcr():
    assert set(timed(ask)) == {{"SAFE"}}
''',
}

# kind -> (test file, pytest arguments, environment, cassette to delete first, replays)
PYTEST_KINDS: dict[str, tuple[str, list[str], dict[str, str], str | None, bool]] = {
    "bare": ("test_bare.py", [], {}, None, False),
    "record, capture off": ("test_ours.py", ["--intentus-record", "-o", "intentus_capture=off"],
                            {}, "cassettes/test_ours", False),
    "record": ("test_ours.py", ["--intentus-record"], {}, "cassettes/test_ours", False),
    "step replay": ("test_ours.py", ["-o", "intentus_replay=step"], {}, None, True),
    "agent replay": ("test_ours.py", [], {}, None, True),
    "vcrpy record": ("test_vcr.py", ["--record-mode=once"], {"BENCH_VCR_RECORDING": "1"},
                     "cassettes/test_vcr", False),
    "vcrpy replay": ("test_vcr.py", ["--record-mode=none"], {}, None, True),
}


# -- the fake provider ----------------------------------------------------------------------


class Provider:
    """The fake OpenAI server in a process of its own (it exits with this one)."""

    def __init__(self, workdir: Path) -> None:
        port_file = workdir / "fake-provider.port"
        self.process = subprocess.Popen([sys.executable, "-c", LAUNCHER, "--port-file",
                                         str(port_file)], cwd=ROOT, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the fake provider did not start (python -m "
                                   "tests.llm.fake_provider, from the repository root)")
            time.sleep(0.05)
        self.root = f"http://127.0.0.1:{int(port_file.read_text())}"
        self.url = f"{self.root}/v1"
        self.env = {"OPENAI_BASE_URL": self.url, "OPENAI_API_KEY": API_KEY}

    def requests(self) -> int:
        with urllib.request.urlopen(f"{self.root}/_fake/log", timeout=10) as answer:
            return len(json.load(answer)["requests"])

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.root}/_fake/reset", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# -- in process -----------------------------------------------------------------------------


def timed_loop(call: Callable[[int], Any], n: int) -> tuple[int, int]:
    """(loop ns, median call ns) of calling *call* for 0..n-1."""
    clock = time.perf_counter_ns
    durations = []
    start = clock()
    for i in range(n):
        before = clock()
        call(i)
        durations.append(clock() - before)
    loop = clock() - start
    return loop, int(statistics.median(durations))


def in_process(provider: Provider, workdir: Path, n: int, rounds: int) -> dict[str, Any]:
    import httpx2
    import openai
    import vcr

    from intentusnet_core import IntentusRuntime, agent

    client = openai.OpenAI(base_url=provider.url, api_key=API_KEY, max_retries=0)

    def ask(i: int) -> str:
        answer = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"moderate item {i}"}])
        content = answer.choices[0].message.content
        assert content == "SAFE", content
        return content

    @agent("moderator", intents=["Moderate"])
    def moderator(envelope: Any) -> dict[str, Any]:
        return {"decision": ask(envelope.payload["i"])}

    def runtime(capture: bool) -> Any:
        built = IntentusRuntime(store="memory://", capture_http=capture)
        built.register_agent(moderator)
        return built

    def routed(built: Any) -> Callable[[int], Any]:
        return lambda i: built.route_intent("Moderate", {"i": i})

    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "moderate item 0"}]).http_response
    canned = (raw.status_code, [(k, v) for k, v in raw.headers.items()
                                if k.lower() not in ("content-length", "content-encoding")],
              raw.content)
    offline = openai.OpenAI(base_url=provider.url, api_key=API_KEY, max_retries=0,
                            http_client=httpx2.Client(transport=httpx2.MockTransport(
                                lambda request: httpx2.Response(canned[0], headers=canned[1],
                                                                content=canned[2]))))

    def ask_offline(i: int) -> str:
        answer = offline.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"moderate item {i}"}])
        return str(answer.choices[0].message.content)

    cassette = workdir / "in-process.yaml"
    recorder = vcr.VCR(match_on=RECORD_MATCH_ON, filter_headers=["authorization"])
    player = vcr.VCR(match_on=REPLAY_MATCH_ON, filter_headers=["authorization"])
    results: dict[str, list[tuple[int, int]]] = {}
    steps: list[dict[str, Any]] = []
    replay_requests = 0
    for round_ in range(rounds + 1):  # round 0: warm-up (lazy imports, connections)
        capturing = runtime(True)
        measured: dict[str, tuple[int, int]] = {
            "bare": timed_loop(ask, n),
            "SDK alone (MockTransport)": timed_loop(ask_offline, n),
            "agent, capture off": timed_loop(routed(runtime(False)), n),
            "agent, capture on (record)": timed_loop(routed(capturing), n)}
        steps = [event.payload for record in capturing.store.list()
                 for event in record.events if event.type == "STEP"]
        cassette.unlink(missing_ok=True)
        with recorder.use_cassette(str(cassette), record_mode="all") as recording:
            measured["vcrpy record"] = timed_loop(ask, n)
            assert len(recording) == n, f"vcrpy recorded {len(recording)} of {n} calls"
        provider.reset()
        with player.use_cassette(str(cassette), record_mode="none") as playing:
            measured["vcrpy replay"] = timed_loop(ask, n)
            assert playing.play_count == n, f"vcrpy replayed {playing.play_count} of {n}"
        replay_requests += provider.requests()
        if round_:
            for kind, figure in measured.items():
                results.setdefault(kind, []).append(figure)
    return {"kinds": {kind: summarize(runs, n) for kind, runs in results.items()},
            "steps_in_last_round": len(steps), "components_us": components(steps[-1]),
            "provider_requests_during_replay": replay_requests}


def components(step: dict[str, Any], repeat: int = 2000) -> dict[str, float]:
    """µs per call of two parts of capturing *step* again: the provider summary and its
    price (genai-prices, at the recording's prices)."""
    from intentusnet_core.capture.pricing import price
    from intentusnet_core.capture.providers import summarize as summary_of

    llm = step["llm"]
    args = (llm["provider"], llm["operation"], step["request"].get("body"),
            step["response"].get("body"), step["response"].get("events"),
            step["response"]["status"])
    at = "2026-01-01T00:00:00Z"
    out = {}
    for name, call in (("summary", lambda: summary_of(*args)),
                       ("price", lambda: price(llm, at))):
        started = time.perf_counter_ns()
        for _ in range(repeat):
            call()
        out[name] = round((time.perf_counter_ns() - started) / repeat / 1000, 1)
    return out


def summarize(runs: list[tuple[int, int]], n: int) -> dict[str, Any]:
    means = [loop / n / 1000 for loop, _ in runs]
    return {"mean_us": round(statistics.median(means), 1),
            "median_call_us": round(statistics.median(median for _, median in runs) / 1000, 1),
            "mean_us_min": round(min(means), 1), "mean_us_max": round(max(means), 1),
            "runs": len(runs)}


# -- through pytest ---------------------------------------------------------------------------


def run_pytest(project: Path, kind: str, env: dict[str, str]) -> dict[str, Any]:
    test_file, args, extra_env, delete, _ = PYTEST_KINDS[kind]
    if delete:
        shutil.rmtree(project / delete, ignore_errors=True)
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTEST_", "BENCH_", "OPENAI_", "ANTHROPIC_"))}
    environ.update(env)
    environ.update(extra_env)
    started = time.perf_counter()
    proc = subprocess.run([*PYTEST, *args, test_file], cwd=project, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S, env=environ)
    wall = time.perf_counter() - started
    line = next((line for line in proc.stdout.splitlines() if line.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        tail = (proc.stdout + proc.stderr).strip()[-3000:]
        raise RuntimeError(f"{kind}: pytest {' '.join(args)} {test_file} in {project} failed "
                           f"(exit {proc.returncode}):\n{tail}")
    return {**json.loads(line[len("BENCH "):]), "wall_s": wall}


def in_pytest(provider: Provider, workdir: Path, n: int, runs: int) -> dict[str, Any]:
    project = workdir / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    (project / "bench_app.py").write_text(APP)
    for name, text in TESTS.items():
        (project / name).write_text(text)
    env = {**provider.env, "BENCH_CALLS": str(n)}
    figures: dict[str, list[dict[str, Any]]] = {kind: [] for kind in PYTEST_KINDS}
    replay_requests = 0
    for _ in range(runs):
        for kind, (*_, replays) in PYTEST_KINDS.items():
            provider.reset()
            figures[kind].append(run_pytest(project, kind, env))
            if replays:
                replay_requests += provider.requests()
    cassette = next((project / "cassettes" / "test_ours").rglob("*.json"))
    recorded = json.loads(cassette.read_text(encoding="utf-8"))
    steps = [event["payload"] for record in recorded["records"] for event in record["events"]
             if event["type"] == "STEP"]
    kinds = {}
    for kind, found in figures.items():
        kinds[kind] = summarize([(f["loop_ns"], f["median_ns"]) for f in found], n)
        kinds[kind]["wall_s"] = round(statistics.median(f["wall_s"] for f in found), 2)
        kinds[kind]["first_call_ms"] = round(statistics.median(f["first_ns"] for f in found)
                                             / 1e6, 1)
    return {"kinds": kinds, "provider_requests_during_replay": replay_requests,
            "cassette_steps": len(steps),
            "cassette_step_kinds": sorted({step.get("kind", "?") for step in steps}),
            "cassette_kb": round(cassette.stat().st_size / 1024, 1),
            "vcr_cassette_kb": round(sum(p.stat().st_size for p in
                                         (project / "cassettes" / "test_vcr").rglob("*.yaml"))
                                     / 1024, 1)}


# -- report ----------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("openai", "httpx2", "pytest", "pytest-intentusnet", "genai-prices", "vcrpy",
                 "pytest-recording"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "missing"
    return out


def print_kinds(title: str, kinds: dict[str, dict[str, Any]], wall: bool) -> None:
    print(f"\n== {title}")
    print(f"  {'':<28} {'us/call mean':>13} {'min-max':>13} {'median call':>12}"
          + (f" {'first call ms':>14} {'pytest wall s':>14}" if wall else ""))
    for kind, k in kinds.items():
        spread = f"{k['mean_us_min']:.0f}-{k['mean_us_max']:.0f}"
        print(f"  {kind:<28} {k['mean_us']:>13.1f} {spread:>13} {k['median_call_us']:>12.1f}"
              + (f" {k['first_call_ms']:>14.1f} {k['wall_s']:>14.2f}" if wall else ""))


def ratio(a: dict[str, Any], b: dict[str, Any]) -> str:
    return (f"{a['mean_us'] / b['mean_us']:.2f}x mean, "
            f"{a['median_call_us'] / b['median_call_us']:.2f}x median call")


def print_ratios(kinds: dict[str, dict[str, Any]], pairs: list[tuple[str, str, str]]) -> None:
    for label, a, b in pairs:
        if a in kinds and b in kinds:
            extra = kinds[a]["mean_us"] - kinds[b]["mean_us"]
            print(f"  {label:<44} {ratio(kinds[a], kinds[b])}  ({extra:+.0f} us/call mean)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100,
                        help="SDK calls per round or pytest run (default 100)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="in-process rounds after the warm-up round (default 5)")
    parser.add_argument("--runs", type=int, default=3,
                        help="pytest runs of each kind (default 3)")
    parser.add_argument("--no-pytest", action="store_true", help="only the in-process part")
    parser.add_argument("--json", metavar="PATH", help="write every figure as JSON to PATH")
    args = parser.parse_args(argv)
    if min(args.calls, args.rounds, args.runs) < 1:
        parser.error("--calls, --rounds and --runs must be >= 1")

    started = time.perf_counter()
    figures: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"), "calls": args.calls,
        "machine": {"platform": platform.platform(), "cpu": cpu_model(),
                    "cores": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_start": loadavg(), "commit": git_revision()},
        "versions": versions()}
    m = figures["machine"]
    print("== machine")
    print(f"  {m['platform']}; {m['cpu']} x {m['cores']} cores; python {m['python']}; "
          f"commit {m['commit']}")
    print("  " + ", ".join(f"{k} {v}" for k, v in figures["versions"].items()))
    print(f"  loadavg {m['loadavg_start']} at start")
    if float(m["loadavg_start"].split()[0]) > 1.0:
        print("  NOTE: the machine is busy (1-min load > 1): expect noisy figures")
    missing = [d for d in ("openai", "httpx2", "vcrpy", "pytest-recording")
               if figures["versions"][d] == "missing"]
    if missing:
        print(f"  missing: {', '.join(missing)}; pip install -e '.[dev,bench]'")
        return 2
    print(f"  {args.calls} calls of chat.completions.create ({MODEL}) to the fake provider "
          "on 127.0.0.1 (own process, TCP_NODELAY)")

    workdir = Path(tempfile.mkdtemp(prefix="bench-capture-"))
    provider = Provider(workdir)
    try:
        inner = in_process(provider, workdir, args.calls, args.rounds)
        figures["in_process"] = inner
        print_kinds(f"in process: median of {args.rounds} rounds after a warm-up round "
                    "(per call)", inner["kinds"], wall=False)
        parts = inner["components_us"]
        print(f"  steps recorded per round with capture on: {inner['steps_in_last_round']}"
              f" (1 per call); provider requests during vcrpy replay: "
              f"{inner['provider_requests_during_replay']}")
        print(f"  parts of one capture, alone: provider summary {parts['summary']} us, "
              f"price lookup (genai-prices) {parts['price']} us")
        print_ratios(inner["kinds"], [
            ("bare / SDK alone", "bare", "SDK alone (MockTransport)"),
            ("capture on / bare", "agent, capture on (record)", "bare"),
            ("capture on / capture off", "agent, capture on (record)", "agent, capture off"),
            ("capture on / vcrpy record", "agent, capture on (record)", "vcrpy record"),
            ("vcrpy record / bare", "vcrpy record", "bare"),
            ("vcrpy replay / bare", "vcrpy replay", "bare")])
        if not args.no_pytest:
            outer = in_pytest(provider, workdir, args.calls, args.runs)
            figures["pytest"] = outer
            print_kinds(f"through pytest: timed in the test body, median of {args.runs} runs "
                        "(per call)", outer["kinds"], wall=True)
            print(f"  cassette: {outer['cassette_steps']} steps of kind "
                  f"{', '.join(outer['cassette_step_kinds'])}, {outer['cassette_kb']} KB "
                  f"(vcrpy YAML {outer['vcr_cassette_kb']} KB); provider requests during "
                  f"replay runs: {outer['provider_requests_during_replay']}")
            print_ratios(outer["kinds"], [
                ("record / bare", "record", "bare"),
                ("record / record with capture off", "record", "record, capture off"),
                ("record / vcrpy record", "record", "vcrpy record"),
                ("step replay / bare (live call)", "step replay", "bare"),
                ("step replay / vcrpy replay", "step replay", "vcrpy replay"),
                ("agent replay / vcrpy replay", "agent replay", "vcrpy replay")])
    finally:
        provider.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    return finish(figures, started, args.json)


if __name__ == "__main__":
    sys.exit(main())
