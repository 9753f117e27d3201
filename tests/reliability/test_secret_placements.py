"""Secret placements: every form a secret takes, through every real writing path and every
message the plugin prints; then every byte written and every line shown is searched.

A placement puts one secret somewhere: raw, JSON-escaped (a secret holding ``"``, ``\\``,
control characters or non-ASCII letters), inside JSON text inside a string (once, twice),
base64 (alone, in HTTP Basic), URL-encoded, hex, as a dict key, in a list, nested, in an
exception an agent raises, in a step. *Live* placements hold the value of a secret-named
environment variable (``*_TOKEN``, ``PASSWORD``, ``DB_PASS``, ``*_PASS``, the password of a
``DATABASE_URL``): they must be refused or redacted. *Rule* placements hold a secret no
variable names (token formats, secret key names): they must be written, redacted.

The writing paths: the SQLite store (database, its WAL, the journal), the file store (its
write-ahead files), the JSON-lines trace file, a cassette; under the plugin, recording,
verify-mode drift (the failure message and ``--intentus-drift-report``), replay misses, and
the terminal summary. A hit is any form of the secret in the raw bytes of any file under
the test's folder, in any string decoded from one (JSON, JSON lines, SQLite rows, JSON
inside strings), or in pytest's stdout and stderr.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import sqlite3
import textwrap
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentusnet_core import (
    FileExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    JsonlTraceSink,
    SecretLeakError,
    SQLiteExecutionStore,
    agent,
    step,
)
from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.hashing import canonical_json, pretty_json
from intentusnet_core.leak_guard import guard_against_leaks, hide_live_secrets

from .figures import Figures

# -- the secrets ------------------------------------------------------------------------------

QUOTED = 'lv"pw\\9-Zq7!kX'  # a quote and a backslash: escaped on disk, read back by JSON
CONTROL = "lv\tpw\n9-Zq7\x01kX"  # control characters
UNICODE = "lvé-pw-9Zq7ükX"  # non-ASCII: \u escapes under ensure_ascii (trace files)
PLAIN = "lvPlain9Zq7Xk2w"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def fake(prefix: str, length: int = 36) -> str:
    """A token of a known format that no variable holds (deterministic)."""
    body = hashlib.sha256(prefix.encode()).hexdigest() * 2
    return prefix + "".join(c.upper() if i % 3 else c for i, c in enumerate(body))[:length]


PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAcnryPEMbody0123456789abcdef\n"
       "cnryPEMsecondLine9876543210ZYXW\n-----END RSA PRIVATE KEY-----")
PEM_OPENSSH = PEM.replace("RSA", "OPENSSH").replace("cnryPEM", "cnrySSH")


@dataclass(frozen=True)
class Placement:
    """One secret in one place: *build* makes the agent's output (or raises)."""

    name: str
    secret: str  # what must never be found
    build: Callable[[], Any]
    env: tuple[tuple[str, str], ...] = ()  # set while it runs: live when not empty
    raises: bool = False

    @property
    def live(self) -> bool:
        return bool(self.env)


def _forms(secret: str) -> dict[str, Callable[[], Any]]:
    """The ways an agent can put *secret* into its output."""
    return {
        "raw": lambda: {"note": secret},
        "in-text": lambda: {"note": f"the upstream answered {secret} today"},
        "json-text": lambda: {"body": json.dumps({"x": secret})},
        "json-text-ascii": lambda: {"body": json.dumps({"x": secret}, ensure_ascii=True)},
        # an encoder that writes \u00E9 where Python writes \u00e9 (any reader decodes both)
        "json-text-upper-escapes": lambda: {"body": re.sub(
            r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(),
            json.dumps({"x": secret}, ensure_ascii=True))},
        "double-json": lambda: {"body": json.dumps({"inner": json.dumps({"x": secret})})},
        "base64": lambda: {"blob": b64(secret)},
        "basic-auth": lambda: {"header": "Basic " + b64("user:" + secret)},
        "url-encoded": lambda: {"url": "https://x.example/?q=" + urllib.parse.quote(secret)},
        "hex": lambda: {"hex": secret.encode().hex()},
        "dict-key": lambda: {"seen": {secret: 1}},
        "list": lambda: {"items": ["a", secret, "b"]},
        "nested": lambda: {"a": {"b": [{"c": {"d": secret}}]}},
        "exception": lambda: _raise(f"upstream refused the call made with {secret}"),
        "step": lambda: step("llm", "ask", {"prompt": f"use {secret}"}, lambda: {"ok": 1}),
    }


def _raise(message: str) -> Any:
    raise RuntimeError(message)


def live_placements() -> list[Placement]:
    chosen = {QUOTED: list(_forms(QUOTED)),
              CONTROL: ["raw", "json-text", "double-json", "dict-key", "exception"],
              UNICODE: ["raw", "json-text", "json-text-ascii", "json-text-upper-escapes",
                        "base64", "url-encoded", "hex"]}
    out = []
    for number, (secret, names) in enumerate(chosen.items()):
        forms = _forms(secret)
        out.extend(Placement(f"live-{number}-{name}", secret, forms[name],
                             (("SERVICE_TOKEN", secret),), raises=name == "exception")
                   for name in names)
    for variable in ("PASSWORD", "DB_PASS", "SMTP_PASS", "GITLAB_PAT"):
        secret = f"{variable.lower()}-Zq7!9kX"
        forms = _forms(secret)
        out.extend(Placement(f"env-{variable}-{name}", secret, forms[name],
                             ((variable, secret),)) for name in ("raw", "json-text"))
    url_password = 'db"Pw9!Zq7kX'
    database_url = f"postgres://app:{urllib.parse.quote(url_password)}@db:5432/app"
    for name in ("raw", "json-text", "in-text"):
        out.append(Placement(f"env-DATABASE_URL-password-{name}", url_password,
                             _forms(url_password)[name], (("DATABASE_URL", database_url),)))
    return out


def rule_placements() -> list[Placement]:
    """Secrets no variable holds: the redaction rules must catch them."""
    tokens = {"ghp": fake("ghp_"), "gho": fake("gho_"), "github-pat": fake("github_pat_", 60),
              "sk-live": fake("sk_live_", 24), "sk-test": fake("sk_test_", 24),
              "rk-live": fake("rk_live_", 24), "xoxb": "xoxb-1234567890-" + fake("", 24),
              "xoxp": "xoxp-9876543210-" + fake("p", 24), "aiza": fake("AIza", 35),
              "glpat": fake("glpat-", 20), "openai": fake("sk-proj-", 40),
              "aws": "AKIA" + "CNRYPLACEMENT0AB", "pem-rsa": PEM, "pem-openssh": PEM_OPENSSH}
    out = [Placement(f"format-{name}", token, lambda t=token: {"note": f"key: {t} ok"})
           for name, token in tokens.items()]
    out.extend(Placement(f"format-{name}-as-key", token, lambda t=token: {"seen": {t: True}})
               for name, token in tokens.items() if "pem" not in name)
    out.extend(Placement(f"format-{name}-in-exception", token,
                         lambda t=token: _raise(f"401 with {t}"), raises=True)
               for name, token in list(tokens.items())[:4])
    words = "correct horse battery staple"
    ghp = tokens["ghp"]
    keyed: dict[str, tuple[str, Callable[[], Any]]] = {
        "private_key": ("cnry-private-key-x9", lambda: {"private_key": "cnry-private-key-x9"}),
        "passwd": ("cnry-passwd-x9", lambda: {"db": {"passwd": "cnry-passwd-x9"}}),
        "client_secret": ("cnry-client-x9", lambda: {"client_secret": "cnry-client-x9"}),
        "credentials": ("cnry-cred-x9", lambda: {"credentials": {"user": "u",
                                                                 "key": "cnry-cred-x9"}}),
        "DB_PASS-key": ("cnry-dbpass-x9", lambda: {"DB_PASS": "cnry-dbpass-x9"}),
        "passphrase-spaces": (words, lambda: {"passphrase": words}),
        "password-spaces": ("two cnry words here", lambda: {"password": "two cnry words here"}),
        "password-spaces-in-text": ("two cnry words again",
                                    lambda: {"log": 'sent "password": "two cnry words again"'}),
        "tokens-list": (ghp, lambda: {"tokens": [ghp, "cnry-plain-token-x9"]}),
        "tokens-list-plain": ("cnry-plain-token-x9",
                              lambda: {"tokens": ["cnry-plain-token-x9"]}),
        "marker-prefixed-value": ("hunter2-cnry-x9", lambda: {
            "password": "<redacted:sha256:00000000>hunter2-cnry-x9"}),
        "marker-prefixed-text": (ghp, lambda: {"note": f"<redacted:sha256:0badc0de> {ghp}"}),
        "double-json-secret-key": ("cnry dbl words", lambda: {
            "raw": json.dumps({"password": "cnry dbl words", "n": 1})}),
        "triple-json-secret-key": ("cnry tpl words", lambda: {
            "raw": json.dumps({"req": json.dumps({"auth": {"password": "cnry tpl words"}})})}),
        "double-json-tokens": ("cnry-json-tok-x9", lambda: {
            "raw": json.dumps({"tokens": ["cnry-json-tok-x9"]})}),
        "url-password": ("cnryUrlPw9x", lambda: {"dsn": "postgres://app:cnryUrlPw9x@db/app"}),
        "url-password-no-user": ("cnryRedisPw9x", lambda: {"url": "redis://:cnryRedisPw9x@r:1"}),
        "env-assignment-in-text": ("cnryAssign9x", lambda: {"log": "DB_PASS=cnryAssign9x ok"}),
    }
    out.extend(Placement(f"rule-{name}", secret, build) for name, (secret, build)
               in keyed.items())
    return out


LIVE = live_placements()
RULES = rule_placements()

# -- scanning ---------------------------------------------------------------------------------


def secret_forms(secret: str) -> set[bytes]:
    """Every way *secret* could sit in a file's bytes, computed apart from the guard's."""
    raw = secret.encode("utf-8")
    texts = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             json.dumps(json.dumps(secret)[1:-1])[1:-1], repr(secret)[1:-1],
             urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
             raw.hex(), raw.hex().upper(), b64(secret).rstrip("="),
             base64.urlsafe_b64encode(raw).decode().rstrip("=")}
    for offset in range(3):  # inside a longer base64 text
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        texts.add(encoded[-(-offset * 8 // 6):(offset + len(raw)) * 8 // 6])
    return {text.encode("utf-8") for text in texts if len(text) >= 6}


def decoded_strings(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string a JSON reader gets from *value*, JSON inside strings included."""
    if isinstance(value, str):
        yield value
        yield urllib.parse.unquote_plus(value)
        if depth < 6 and value.strip()[:1] in ("{", "[", '"'):
            with contextlib.suppress(ValueError):
                yield from decoded_strings(json.loads(value), depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from decoded_strings(key, depth)
            yield from decoded_strings(item, depth)
    elif isinstance(value, list):
        for item in value:
            yield from decoded_strings(item, depth)


def file_strings(path: Path, data: bytes) -> Iterator[str]:
    if path.suffix == ".db":
        with sqlite3.connect(path) as db:
            for (body,) in db.execute("select body from records"):
                yield from decoded_strings(body)
        return
    text = data.decode("utf-8", "replace")
    try:
        yield from decoded_strings(json.loads(text))
        return
    except ValueError:
        pass
    for line in text.splitlines():
        try:
            yield from decoded_strings(json.loads(line))
        except ValueError:
            yield line


def hits_in(root: Path, secret: str, shown: str = "") -> list[str]:
    """Where *secret* is under *root* (bytes and decoded strings) or in *shown* text."""
    forms = secret_forms(secret)
    found = [f"{path}: {form!r}" for path in sorted(root.rglob("*")) if path.is_file()
             for data in [path.read_bytes()] for form in forms if form in data]
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        found.extend(f"{path}: decoded" for string in file_strings(path, path.read_bytes())
                     if secret in string)
    shown_bytes = shown.encode("utf-8")
    found.extend(f"terminal: {form!r}" for form in forms if form in shown_bytes)
    return found


# -- the core writing paths -------------------------------------------------------------------


def run_core(placement: Placement, kind: str, root: Path) -> tuple[int, bool]:
    """Route one execution whose agent emits *placement*, into a *kind* store with a trace
    file, then save the stored records as a cassette. Returns (records stored, refused)."""
    store = FileExecutionStore(root / "files") if kind == "file" \
        else SQLiteExecutionStore(root / "records.db")

    @agent("emitter", intents=["Emit"])
    def emitter(envelope: IntentEnvelope) -> Any:
        return placement.build()

    runtime = IntentusRuntime(store=store, trace_sink=JsonlTraceSink(root / "trace.jsonl"))
    runtime.register_agent(emitter)
    refused = False
    try:
        runtime.route_intent("Emit", {"placement": placement.name})
    except SecretLeakError:
        refused = True
    records = store.list()
    if isinstance(store, SQLiteExecutionStore):
        store.close()
    try:
        CassetteFile(node_id="tests/test_p.py::test_p", records=records).save(
            root / "cassettes" / "test_p.json")
    except SecretLeakError:
        refused = True
    return len(records), refused


@pytest.mark.parametrize("kind", ["sqlite", "file"])
@pytest.mark.parametrize("placement", LIVE, ids=[p.name for p in LIVE])
def test_a_live_secret_in_any_form_never_reaches_a_written_file(
        placement: Placement, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        figures: Figures) -> None:
    for name, value in placement.env:
        monkeypatch.setenv(name, value)
    run_core(placement, kind, tmp_path)
    hits = hits_in(tmp_path, placement.secret)
    figures.add("canary_hits", len(hits))
    figures.add("scanned_files", sum(1 for p in tmp_path.rglob("*") if p.is_file()))
    assert hits == []


@pytest.mark.parametrize("kind", ["sqlite", "file"])
@pytest.mark.parametrize("placement", RULES, ids=[p.name for p in RULES])
def test_a_secret_by_format_or_key_is_written_redacted(
        placement: Placement, kind: str, tmp_path: Path, figures: Figures) -> None:
    stored, refused = run_core(placement, kind, tmp_path)
    hits = hits_in(tmp_path, placement.secret)
    figures.add("canary_hits", len(hits))
    figures.add("scanned_files", sum(1 for p in tmp_path.rglob("*") if p.is_file()))
    assert (stored, refused) == (1, False)  # written, redacted: not refused
    assert hits == []
    text = "".join(p.read_text("utf-8", "replace") for p in (tmp_path / "cassettes").iterdir())
    assert "<redacted:hmac:" in text


def test_the_table_has_at_least_sixty_placements(figures: Figures) -> None:
    total = len(LIVE) + len(RULES) + len(PLUGIN_DRIFT) + len(PLUGIN_MISS)
    figures.note(f"secret placements: {total} ({len(LIVE)} live, {len(RULES)} by rule, "
                 f"{len(PLUGIN_DRIFT) + len(PLUGIN_MISS)} through the plugin's messages), "
                 "each through SQLite and file stores, trace file and cassette")
    assert total >= 60


# -- the plugin: recording, verify-mode drift, replay misses, the drift report --------------

LIVE_ENV = {"SERVICE_TOKEN": QUOTED, "UPSTREAM_API_KEY": PLAIN, "DB_PASS": CONTROL,
            "INTL_SECRET": UNICODE}
PLUGIN_DRIFT = {
    "raw": f"answer {PLAIN}",
    "quoted": {"x": QUOTED},
    "control": [CONTROL],
    "unicode": {"deep": {"er": UNICODE}},
    "base64": b64(PLAIN),
    "url": "q=" + urllib.parse.quote(QUOTED),
    "hex": PLAIN.encode().hex(),
    "key": {PLAIN: 1},
    "json-text": json.dumps({"x": QUOTED}),
    "long-cut": "y" * 100 + PLAIN + "z" * 100,  # the shown value is cut at 120 characters
    "format": fake("ghp_"),
}
PLUGIN_MISS = {
    "miss-raw": PLAIN,
    "miss-quoted": QUOTED,
    "miss-url": urllib.parse.quote(CONTROL),
    "miss-key": {UNICODE: "v"},
}

PLUGIN_APP = '''
import json
import os

from intentusnet_core import IntentusRuntime, agent


@agent("echo", intents=["Echo"])
def echo(envelope):
    if os.environ.get("LEAK") != "1":
        return {"v": "clean"}
    return {"v": json.loads(os.environ["PLACEMENTS"])[envelope.payload["name"]]}


def build():
    runtime = IntentusRuntime(store="memory://")
    runtime.register_agent(echo)
    return runtime
'''

PLUGIN_TESTS = '''
import json
import os

import pytest

from leakapp import build

DRIFT = {drift!r}
MISS = {miss!r}


@pytest.mark.intentus
@pytest.mark.parametrize("name", DRIFT)
def test_drift(name):
    build().route_intent("Echo", {{"name": name}})


@pytest.mark.intentus
@pytest.mark.parametrize("name", MISS)
def test_miss(name):
    value = json.loads(os.environ["PLACEMENTS"])[name] if os.environ.get("LEAK") else "x"
    build().route_intent("Echo", {{"name": "raw", "input": value}})
'''


@pytest.fixture
def leak_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\n"
                     "pythonpath = .\n")
    pytester.makepyfile(leakapp=PLUGIN_APP)
    pytester.makepyfile(test_leak=PLUGIN_TESTS.format(drift=sorted(PLUGIN_DRIFT),
                                                      miss=sorted(PLUGIN_MISS)))
    return pytester


def _run(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, leak: bool,
         *args: str) -> pytest.RunResult:
    with monkeypatch.context() as patch:
        patch.setenv("PLACEMENTS", json.dumps({**PLUGIN_DRIFT, **PLUGIN_MISS}))
        if leak:
            patch.setenv("LEAK", "1")
            for name, value in LIVE_ENV.items():
                patch.setenv(name, value)
        return project.runpytest_subprocess(*args, timeout=120)


@pytest.mark.parametrize("mode", ["--intentus-verify", "-ointentus_replay=step"])
def test_drift_and_miss_messages_and_the_drift_report_hide_every_secret(
        leak_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mode: str,
        figures: Figures) -> None:
    _run(leak_project, monkeypatch, False, "--intentus-record").assert_outcomes(
        passed=len(PLUGIN_DRIFT) + len(PLUGIN_MISS))
    report = leak_project.path / "out" / "drift.json"
    result = _run(leak_project, monkeypatch, True, mode, f"--intentus-drift-report={report}",
                  "-vv")
    shown = "\n".join(result.outlines + result.errlines)
    # every placement failed (drift or miss), and said so with the secret hidden
    result.assert_outcomes(failed=len(PLUGIN_DRIFT) + len(PLUGIN_MISS))
    assert shown.count("cassette miss") >= len(PLUGIN_MISS)
    assert "<redacted:$UPSTREAM_API_KEY>" in shown
    data = json.loads(report.read_text("utf-8"))
    assert len(data["tests"]) >= len(PLUGIN_DRIFT)  # written, with the drift, redacted
    hits = [hit for secret in (*LIVE_ENV.values(), PLUGIN_DRIFT["format"])
            for hit in hits_in(leak_project.path, secret, shown)]
    figures.add("canary_hits", len(hits))
    assert hits == []


def test_a_live_secret_refused_at_record_time_is_named_not_shown(
        leak_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run(leak_project, monkeypatch, True, "--intentus-record")
    shown = "\n".join(result.outlines + result.errlines)
    assert "SecretLeakError" in shown
    assert "SERVICE_TOKEN" in shown
    hits = [hit for secret in LIVE_ENV.values() for hit in hits_in(leak_project.path, secret,
                                                                    shown)]
    assert hits == []


# -- the marker -------------------------------------------------------------------------------


def test_a_six_digit_pin_cannot_be_recovered_from_its_marker(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, figures: Figures) -> None:
    monkeypatch.delenv("INTENTUSNET_REDACTION_KEY", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    pin = "493027"
    run_core(Placement("pin", pin, lambda: {"password": pin}), "file", tmp_path / "w")
    [record] = (tmp_path / "w" / "files").glob("*.json")
    marker = json.loads(record.read_text())["finalResponse"]["payload"]["password"]
    digest = marker.rsplit(":", 1)[1].rstrip(">")
    assert marker.startswith("<redacted:hmac:")
    assert len(digest) == 12
    # the key is outside the written files, in the user's cache, readable by its owner only
    key_file = tmp_path / "cache" / "intentusnet" / "redaction.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().strip() not in "".join(
        p.read_text() for p in (tmp_path / "w").rglob("*") if p.is_file())

    def enumerate_pins(target: str, salt: bytes = b"") -> list[str]:
        return [candidate for n in range(10 ** 6)
                for candidate in [f"{n:06d}"]
                if hashlib.sha256(salt + candidate.encode()).hexdigest().startswith(target)]

    # the attack works on an unkeyed marker (the old <redacted:sha256:XXXXXXXX>) ...
    old_marker = hashlib.sha256(pin.encode()).hexdigest()[:8]
    assert enumerate_pins(old_marker) == [pin]
    # ... and finds nothing in the keyed one
    assert enumerate_pins(digest) == []
    assert enumerate_pins(digest[:8]) == []
    figures.note("PIN enumeration: 10^6 six-digit candidates against a written marker, "
                 "0 matches (an unkeyed marker: 1 match)")


# -- a failed drift report write -------------------------------------------------------------

@pytest.mark.parametrize("case", ["parent-is-a-file", "is-a-directory", "leak-guard"])
def test_a_failed_drift_report_write_is_one_error_line_and_a_failed_run(
        leak_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    _run(leak_project, monkeypatch, False, "--intentus-record").assert_outcomes(
        passed=len(PLUGIN_DRIFT) + len(PLUGIN_MISS))
    root = leak_project.path
    (root / "afile").write_text("not a folder")
    (root / "adir").mkdir()
    target = root / "adir" if case == "is-a-directory" else root / "afile" / "drift.json"
    if case == "leak-guard":  # the guard refuses the report: a secret it sees, however
        target = root / "drift.json"
        leak_project.makeconftest(textwrap.dedent('''
            import pytest_intentusnet.report as report
            from intentusnet_core.errors import SecretLeakError

            def refuse(path, text, **kwargs):
                raise SecretLeakError(f"refusing to write drift report {path}: it contains "
                                      "the value of the environment variable X_TOKEN")

            report.write_text_atomic = refuse
        '''))
    result = _run(leak_project, monkeypatch, False, f"--intentus-drift-report={target}")
    errors = [line for line in result.outlines if "ERROR: the drift report" in line]
    assert len(errors) == 1, result.outlines
    assert str(target) in errors[0]
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "INTERNALERROR" not in "\n".join(result.outlines + result.errlines)
    assert any(line.startswith("intentusnet: 0 recorded") for line in result.outlines)
    assert any(" passed" in line for line in result.outlines[-2:])


KEYED_APP = '''
import pytest
from intentusnet_core import IntentusRuntime, agent


@agent("issuer", intents=["Issue"])
def issuer(envelope):
    return {"api_key": "sk-" + "cnryIssued0123456789", "for": envelope.payload.get("user")}


def run(payload):
    runtime = IntentusRuntime(store="memory://")
    runtime.register_agent(issuer)
    return runtime.route_intent("Issue", payload)


@pytest.mark.intentus
def test_secret_in_the_output():
    assert run({"user": "u1"}).status == "success"


@pytest.mark.intentus
def test_secret_in_the_input():
    assert run({"user": "u2", "password": "hunter22-cnry"}).status == "success"
'''


def test_replay_serves_markers_without_the_key_and_names_a_key_mismatch(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\n")
    pytester.makepyfile(test_keyed=KEYED_APP)
    monkeypatch.setenv("INTENTUSNET_REDACTION_KEY", "a" * 40)
    pytester.runpytest_subprocess("--intentus-record", timeout=120).assert_outcomes(passed=2)
    monkeypatch.setenv("INTENTUSNET_REDACTION_KEY", "b" * 40)  # CI, with another key
    result = pytester.runpytest_subprocess(timeout=120)
    # recorded outputs replay as recorded: no marker is computed again
    result.assert_outcomes(passed=1, failed=1)
    text = "\n".join(result.outlines)
    assert "FAILED test_keyed.py::test_secret_in_the_input" in text
    assert "redacted with redaction key" in text
    assert "INTENTUSNET_REDACTION_KEY" in text
    monkeypatch.setenv("INTENTUSNET_REDACTION_KEY", "a" * 40)  # the recording's key
    pytester.runpytest_subprocess(timeout=120).assert_outcomes(passed=2)


# -- always: any secret, any JSON encoding a writer here or elsewhere would produce ---------

_ENCODINGS: dict[str, Callable[[str], str]] = {
    "canonical": lambda s: canonical_json({"v": s}),
    "pretty": lambda s: pretty_json({"v": s}),
    "ascii": lambda s: json.dumps({"v": s}),
    "twice": lambda s: canonical_json({"v": json.dumps({"inner": s})}),
    "twice-ascii": lambda s: json.dumps({"v": json.dumps({"inner": s})}),
    "key": lambda s: canonical_json({s: 1}),
    "jsonl": lambda s: json.dumps({"a": 1}) + "\n" + json.dumps({"v": [s]}) + "\n",
}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(secret=st.text(min_size=6, max_size=40).filter(lambda s: s.strip() == s and
                                                      len(s.strip()) >= 6),
       encoding=st.sampled_from(sorted(_ENCODINGS)))
def test_the_guard_refuses_a_live_secret_in_any_json_encoding(secret: str,
                                                               encoding: str) -> None:
    text = _ENCODINGS[encoding](secret)
    with pytest.raises(SecretLeakError, match="HYPO_TOKEN"):
        guard_against_leaks(text, "property", environ={"HYPO_TOKEN": secret})


@settings(max_examples=200, deadline=None, derandomize=True)
@given(secret=st.text(min_size=6, max_size=40).filter(lambda s: len(s.strip()) >= 6),
       wrap=st.sampled_from(["raw", "repr", "json"]))
def test_shown_text_never_holds_a_live_secret(secret: str, wrap: str) -> None:
    shown = {"raw": f"got {secret} back", "repr": f"got {secret!r} -> {[secret]!r}",
             "json": json.dumps({"v": secret})}[wrap]
    hidden = hide_live_secrets(shown, environ={"HYPO_TOKEN": secret})
    assert secret not in hidden
    assert repr(secret)[1:-1] not in hidden
