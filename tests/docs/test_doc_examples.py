"""The code in README.md and docs/ runs, and says what the code really does.

Conventions are in :mod:`tests.docs.doc_blocks`. Each executable block is one test, named
``<page>-block<N>``; it first replays the blocks before it on its page (they share a
project directory), so it stands alone under ``-k`` and pytest-xdist.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from .doc_blocks import (
    COMMANDS,
    DIRECTIVES,
    ROOT,
    Block,
    PageProject,
    all_blocks,
    command_lines,
    import_provider_clients,
    provider_settings,
    split_command,
)

BLOCKS = all_blocks()
BY_PAGE: dict[str, list[Block]] = defaultdict(list)
for _block in BLOCKS:
    BY_PAGE[_block.page].append(_block)
if any(b.kind == "run" and b.arg.split()[:1] == ["provider"] for b in BLOCKS):
    import_provider_clients()  # once per session, not once per test (~3 s)

# Blocks that are tests of their own; file, patch and output blocks are exercised by the
# run blocks after them.
EXECUTABLE = ("exec", "run", "cassette", "same-as")
# Illustrative blocks (a real model client, a placeholder id) must stay rare.
MAX_SKIPPED = 3
# A floor, so that a parser regression that finds no blocks cannot pass silently.
MIN_EXECUTED = 40


def _followers(block: Block) -> list[Block]:
    """The output blocks right after *block* (they check its last command)."""
    page = BY_PAGE[block.page]
    found = []
    for later in page[block.index:]:
        if later.kind != "output":
            break
        found.append(later)
    return found


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind in EXECUTABLE],
                         ids=lambda b: b.test_id)
def test_doc_block(block: Block, pytester: pytest.Pytester,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    project = PageProject(pytester, monkeypatch)
    try:
        for earlier in BY_PAGE[block.page][:block.index - 1]:
            project.execute(earlier)

        project.execute(block)

        for output in _followers(block):
            project.execute(output)
    finally:
        project.close()


# -- the conventions are followed -------------------------------------------------------------

def test_directives_are_known_and_complete() -> None:
    problems = [f"{b.where}: unknown directive {b.kind!r}" for b in BLOCKS
                if b.kind not in (*DIRECTIVES, "exec", "prose")]
    problems += [f"{b.where}: `{b.kind}` needs an argument" for b in BLOCKS
                 if b.kind in ("file", "patch", "same-as", "skip") and not b.arg]
    problems += [f"{b.where}: a run block must be a bash block" for b in BLOCKS
                 if b.kind == "run" and b.lang != "bash"]
    for block in (b for b in BLOCKS if b.kind == "run"):
        try:
            provider_settings(block)
        except ValueError as error:
            problems.append(str(error))
    assert problems == []


def test_few_blocks_are_skipped() -> None:
    skipped = [f"{b.where}: {b.arg}" for b in BLOCKS if b.kind == "skip"]
    assert len(skipped) <= MAX_SKIPPED, "\n".join(skipped)


def test_enough_blocks_are_executed() -> None:
    executed = [b for b in BLOCKS if b.kind not in ("prose", "skip")]
    assert len(executed) >= MIN_EXECUTED


def test_executed_python_blocks_assert_something() -> None:
    problems = []
    for block in (b for b in BLOCKS if b.kind == "exec"):
        tree = ast.parse(block.text)
        if not any(isinstance(node, ast.Assert) for node in ast.walk(tree)):
            problems.append(f"{block.where}: no assert; show what the example promises")
        if any(isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
               for node in tree.body):
            problems.append(f"{block.where}: defines a test; make it a `file` block and run "
                            "pytest on it")
    assert problems == []


def test_file_and_patch_blocks_are_used_by_a_later_run_block() -> None:
    unused = [b.where for b in BLOCKS if b.kind in ("file", "patch")
              and not any(later.kind == "run" for later in BY_PAGE[b.page][b.index:])]
    assert unused == []


def test_output_blocks_follow_a_run_block() -> None:
    orphans = []
    for block in (b for b in BLOCKS if b.kind == "output"):
        before = [b for b in BY_PAGE[block.page][:block.index - 1] if b.kind != "output"]
        if not before or before[-1].kind != "run":
            orphans.append(block.where)
    assert orphans == []


def test_run_blocks_use_supported_commands() -> None:
    problems = []
    for block in (b for b in BLOCKS if b.kind == "run"):
        for line in command_lines(block):
            _, argv, _ = split_command(line)
            if not argv or argv[0] not in COMMANDS:
                problems.append(f"{block.where}: `{line}`")
    assert problems == []


# -- links ------------------------------------------------------------------------------------

_LINK = re.compile(r"\]\((?!https?://|mailto:)([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown page."""
    anchors = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_relative_links_resolve() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        for target in _LINK.findall(page.read_text(encoding="utf-8")):
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []
