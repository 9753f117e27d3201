"""Finds the fenced code blocks of the documentation and runs them.

An HTML comment on the line right before a fence says what a block is
(``<!-- doc-test: KIND ARGUMENT -->``); without one, a ``python`` block is executed and any
other block is prose (a shell session to read, an output excerpt, a config snippet):

================  =====================================================================
(none), python    exec'd in a fresh namespace, in the page's project directory; it must
                  contain an ``assert``
``file NAME``     written to NAME in the page's project, for the ``run`` blocks after it
``patch NAME``    a ``diff`` block: its ``-`` lines (with the context lines) are replaced
                  by its ``+`` lines in NAME, which must hold them exactly once
``run``           a ``bash`` block, run line by line in the page's project (see below);
                  ``run provider [NAME=VALUE ...]``: with the page's fake model provider
``output``        every line must appear, in order, in the output of the last command of
                  the ``run`` block before it; ``...`` inside a line matches anything
``cassette``      a ``json`` block that must load as a hash-verified cassette and be
                  byte for byte what the plugin would write
``same-as PATH``  the block is the repository file PATH, byte for byte
``skip REASON``   not run (it calls a real model, say); counted, and kept few
================  =====================================================================

Commands of ``run`` blocks: ``pytest ARGS`` (in this process, through ``pytester``),
``intentusnet ARGS`` (``intentusnet_core.cli.main``), ``cat PATH`` and ``ls DIR``; ``> FILE``
writes a command's output to FILE.
``NAME=value`` before a command sets an environment variable for that command only; a
trailing comment that says ``exit N`` expects exit status N instead of 0.

The blocks of one page share a project directory and run in page order. Stores an
executed example leaves open are closed before it ends (see :func:`_close_stores`).

A page whose examples call the OpenAI or Anthropic SDK marks its first such ``run`` block
``run provider``. That starts the page's fake provider (``tests/llm/fake_provider.py``: the
OpenAI and Anthropic APIs on 127.0.0.1), stopped by :meth:`PageProject.close`, and points
``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``ANTHROPIC_BASE_URL`` and ``ANTHROPIC_API_KEY``
at it for the rest of the page, later python blocks included. ``NAME=VALUE`` words after
``provider`` change a setting of the server (see ``PROVIDER_SETTINGS``) for that block's
commands only: a provider that moved a model alias to a new snapshot, say. The SDKs are
imported when the provider starts, so that in-process runs keep them, as they keep
hypothesis (see :class:`PageProject`).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis  # noqa: F401  (see PageProject)
import pytest

from intentusnet_core import IntentusRuntime, SQLiteExecutionStore
from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.cli import main as intentusnet_main

__all__ = ["COMMANDS", "DIRECTIVES", "PROVIDER_CLIENTS", "PROVIDER_SETTINGS", "ROOT", "Block",
           "PageProject", "all_blocks", "command_lines", "import_provider_clients",
           "provider_settings", "split_command"]

ROOT = Path(__file__).resolve().parents[2]
DIRECTIVES = ("file", "patch", "run", "output", "cassette", "same-as", "skip")
COMMANDS = ("pytest", "intentusnet", "cat", "ls")
PROVIDER_SETTINGS = ("model", "decision")  # FakeProvider attributes a run block may set
# imported when a page's provider starts (see PageProject): the SDKs, and the frameworks
# whose module-level HTTP clients would otherwise be dropped, unclosed, after each run
PROVIDER_CLIENTS = ("openai", "anthropic", "pydantic_ai", "langchain_openai")

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*doc-test:\s*(?P<kind>\S+)\s*(?P<arg>.*?)\s*-->\s*$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_EXIT = re.compile(r"#.*\bexit (\d+)\b")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    page: str  # repository-relative, forward slashes
    index: int  # 1-based position among the page's fenced blocks
    line: int  # line of the opening fence
    lang: str
    kind: str  # "exec", "prose" or one of DIRECTIVES
    arg: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line} (block {self.index}, {self.kind})"

    @property
    def test_id(self) -> str:
        return f"{self.page}-block{self.index}"


def parse_page(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file, with their directives."""
    page = path.relative_to(ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    number = 0
    while number < len(lines):
        opening = _FENCE.match(lines[number])
        if opening is None:
            number += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        info = opening["info"].strip()
        lang = info.split()[0] if info else ""
        end = number + 1
        while end < len(lines) and not _closes(lines[end], fence):
            end += 1
        if end == len(lines):
            raise ValueError(f"{page}:{number + 1}: code fence {fence} is never closed")
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip()
                for line in lines[number + 1:end]]
        directive = _DIRECTIVE.match(lines[number - 1]) if number else None
        if directive is not None:
            kind, arg = directive["kind"], directive["arg"]
        else:
            kind, arg = ("exec" if lang == "python" else "prose"), ""
        blocks.append(Block(page, len(blocks) + 1, number + 1, lang, kind, arg,
                            "\n".join(body) + "\n"))
        number = end + 1
    return blocks


def _close_stores(namespace: dict[str, Any]) -> None:
    """Close the stores an example left open, while its directory is still the working
    directory: a SQLite store opened with a relative path flushes its journal to the path
    resolved when it flushes, and would otherwise do so at interpreter exit, wherever the
    process then is."""
    for value in namespace.values():
        store = value.store if isinstance(value, IntentusRuntime) else value
        if isinstance(store, SQLiteExecutionStore):
            store.close()


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def all_blocks() -> list[Block]:
    """Every fenced block of README.md and docs/**/*.md, page by page."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [block for page in pages for block in parse_page(page)]


def command_lines(block: Block) -> list[str]:
    """The commands of a ``run`` block: comment-only and blank lines dropped, ``\\``
    continuations joined."""
    commands: list[str] = []
    pending = ""
    for raw in block.text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line and not line.startswith("#"):
            commands.append(line)
    return commands


def import_provider_clients() -> None:
    """Import ``PROVIDER_CLIENTS`` (see :class:`PageProject`). Call it at import time to
    keep them for the whole session: ``pytester`` also drops, when a test ends, the modules
    imported during it."""
    for name in PROVIDER_CLIENTS:
        importlib.import_module(name)


def provider_settings(block: Block) -> dict[str, str] | None:
    """The fake-provider settings of a ``run provider NAME=VALUE ...`` block, or None for a
    plain ``run`` block. Raises ValueError for any other argument."""
    words = block.arg.split()
    if not words:
        return None
    settings = dict(word.partition("=")[::2] for word in words[1:])
    wrong = [word for word in words[1:] if "=" not in word
             or word.partition("=")[0] not in PROVIDER_SETTINGS]
    if words[0] != "provider" or wrong:
        raise ValueError(f"{block.where}: a run block takes no argument or `provider "
                         f"[NAME=VALUE ...]` with NAME one of {', '.join(PROVIDER_SETTINGS)}; "
                         f"got {block.arg!r}")
    return settings


def split_command(line: str) -> tuple[dict[str, str], list[str], int]:
    """``(environment, argv, expected exit status)`` of one command line."""
    words = shlex.split(line, comments=True)
    env: dict[str, str] = {}
    while words and _ENV.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if words[:3] == ["python", "-m", "pytest"]:
        words = ["pytest", *words[3:]]
    expected = _EXIT.search(line)
    return env, words, int(expected.group(1)) if expected else 0


class PageProject:
    """The project directory of one page; blocks executed in it keep its state.

    In-process pytest runs drop the modules they imported when they end. hypothesis' pytest
    plugin imports all of hypothesis in its terminal summary, so this module imports it
    once up front: otherwise every run would import it again (most of a run's time). The
    SDKs and frameworks (``PROVIDER_CLIENTS``) are imported when the page's provider starts,
    for the same reason and two more: HTTP capture patches ``httpx2`` once per process, and
    a copy imported again by a later run would not be patched; and the HTTP clients the
    frameworks cache in their modules would be dropped with them, their sockets unclosed
    (a ``ResourceWarning``, an error under this suite's ``filterwarnings``).
    """

    def __init__(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pytester = pytester
        self.path = pytester.path
        self.monkeypatch = monkeypatch
        self.last_output: str | None = None
        self.last_command: str | None = None
        self.provider: Any = None  # the page's FakeProvider, once a `run provider` block ran
        monkeypatch.chdir(self.path)
        # pins the rootdir; a page may write its own pytest.ini
        (self.path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")

    def execute(self, block: Block) -> None:
        """Run *block* and check what it promises; raise AssertionError naming it."""
        handler = {
            "exec": self._exec, "file": self._file, "patch": self._patch, "run": self._run,
            "output": self._output, "cassette": self._cassette, "same-as": self._same_as,
        }.get(block.kind)
        if handler is not None:
            handler(block)

    def close(self) -> None:
        """Stop the page's fake provider, if a block started it."""
        if self.provider is not None:
            self.provider.stop()
            self.provider = None

    def _start_provider(self) -> Any:
        if self.provider is None:
            from llm.fake_provider import FakeProvider  # tests/llm; the standard library only

            import_provider_clients()
            self.provider = FakeProvider()
            for name, value in self.provider.env().items():
                self.monkeypatch.setenv(name, value)
        return self.provider

    # -- block kinds ------------------------------------------------------------------------

    def _exec(self, block: Block) -> None:
        code = compile(block.text, block.where, "exec")
        namespace: dict[str, Any] = {"__name__": f"doc_example_{block.index}"}
        try:
            exec(code, namespace)
        finally:
            _close_stores(namespace)

    def _file(self, block: Block) -> None:
        target = self.path / block.arg
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text, encoding="utf-8")

    def _patch(self, block: Block) -> None:
        old: list[str] = []
        new: list[str] = []
        for line in block.text.splitlines():
            sign, rest = line[:1], line[1:]
            if sign in ("-", " "):
                old.append(rest)
            if sign in ("+", " "):
                new.append(rest)
        target = self.path / block.arg
        text = target.read_text(encoding="utf-8")
        before, after = "\n".join(old) + "\n", "\n".join(new) + "\n"
        assert text.count(before) == 1, \
            f"{block.where}: the '-' lines must occur exactly once in {block.arg}:\n{before}"
        target.write_text(text.replace(before, after), encoding="utf-8")

    def _run(self, block: Block) -> None:
        settings = provider_settings(block)
        if settings is None:
            self._run_commands(block)
            return
        provider = self._start_provider()
        before = {name: getattr(provider, name) for name in settings}
        try:
            for name, value in settings.items():
                setattr(provider, name, value)
            self._run_commands(block)
        finally:
            for name, value in before.items():
                setattr(provider, name, value)

    def _run_commands(self, block: Block) -> None:
        for line in command_lines(block):
            env, argv, expected = split_command(line)
            with self.monkeypatch.context() as patch:
                for name, value in env.items():
                    patch.setenv(name, value)
                if ">" in argv:  # stdout to a file, as in a shell
                    target = self.path / argv[argv.index(">") + 1]
                    status, output = self._command(block, argv[:argv.index(">")])
                    target.write_text(output, encoding="utf-8")
                else:
                    status, output = self._command(block, argv)
            self.last_command, self.last_output = line, output
            assert status == expected, (f"{block.where}: `{line}` exited {status}, the page "
                                        f"expects {expected}. Output:\n{output}")

    def _command(self, block: Block, argv: list[str]) -> tuple[int, str]:
        program, args = argv[0], argv[1:]
        if program == "pytest":
            result = self.pytester.runpytest_inprocess(*args)
            return int(result.ret), "\n".join([*result.outlines, *result.errlines])
        if program == "intentusnet":
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    status = intentusnet_main(args)
                except SystemExit as exit_:  # argparse usage errors
                    status = int(exit_.code or 0)
            return status, out.getvalue() + err.getvalue()
        if program == "cat":
            return 0, "".join((self.path / name).read_text(encoding="utf-8") for name in args)
        if program == "ls":
            names = [entry.name for name in args for entry in (self.path / name).iterdir()]
            return 0, "\n".join(sorted(names))
        raise AssertionError(f"{block.where}: unsupported command {program!r}; run blocks "
                             f"may use {', '.join(COMMANDS)}")

    def _output(self, block: Block) -> None:
        assert self.last_output is not None, f"{block.where}: no run block before it"
        lines = self.last_output.splitlines()
        position = 0
        for wanted in block.text.splitlines():
            wanted = wanted.strip()
            if not wanted or wanted == "...":
                continue
            pattern = re.compile(".*".join(re.escape(part) for part in wanted.split("...")))
            for offset, line in enumerate(lines[position:], start=position):
                if pattern.search(line):
                    position = offset + 1
                    break
            else:
                raise AssertionError(
                    f"{block.where}: {wanted!r} is not in the output of "
                    f"`{self.last_command}` (after line {position}). Output:\n"
                    f"{self.last_output}")

    def _cassette(self, block: Block) -> None:
        cassette = CassetteFile.from_wire(json.loads(block.text), source=Path(block.where))
        assert cassette.records, f"{block.where}: an example cassette should hold a record"
        assert cassette.dumps() == block.text, (
            f"{block.where}: not what the plugin writes now; after a format change, run "
            "python docs/reference/regenerate.py")

    def _same_as(self, block: Block) -> None:
        original = (ROOT / block.arg).read_text(encoding="utf-8")
        assert block.text == original, f"{block.where}: differs from {block.arg}"
