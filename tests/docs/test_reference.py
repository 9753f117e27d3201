"""docs/reference/ documents every option, ini key, marker argument, fixture, command,
error and file field that the code has, and the generated parts match the code."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import re
from types import ModuleType
from typing import Any

import pytest

import intentusnet_core.errors as errors_module
from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.cli import build_parser
from intentusnet_core.drift import DriftReport
from intentusnet_core.errors import ErrorCode, IntentusError
from intentusnet_core.records import EVENT_TYPES, ExecutionRecord
from intentusnet_core.signing import generate_keys, sign_file
from pytest_intentusnet import Counters, Mode, TestSettings
from pytest_intentusnet import plugin as plugin_module

from .doc_blocks import ROOT

REFERENCE = ROOT / "docs" / "reference"


def _page(name: str) -> str:
    return (REFERENCE / name).read_text(encoding="utf-8")


def _regenerate_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("regenerate", REFERENCE / "regenerate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _section(text: str, heading: str) -> str:
    """The text under *heading* (a full heading line) up to the next heading of its level."""
    level = heading.split(" ", 1)[0]
    start = text.index(heading + "\n")
    end = re.compile(rf"^{re.escape(level)} ", re.MULTILINE).search(text, start + 1)
    return text[start:end.start() if end else len(text)]


# -- generated parts --------------------------------------------------------------------------

def test_committed_record_schema_is_the_one_generated_from_the_model() -> None:
    committed = (REFERENCE / "record.schema.json").read_text(encoding="utf-8")

    assert committed == _regenerate_script().schema_text(), \
        "the record model changed: run python docs/reference/regenerate.py"


def test_record_schema_lists_every_field_of_the_record_model() -> None:
    schema = json.loads((REFERENCE / "record.schema.json").read_text(encoding="utf-8"))

    aliases = {field.alias for field in ExecutionRecord.model_fields.values()}
    assert set(schema["properties"]) == aliases
    assert schema["additionalProperties"] is False


# -- the CLI ----------------------------------------------------------------------------------

def _commands(parser: argparse.ArgumentParser,
              path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...],
                                                         argparse.ArgumentParser]]:
    """Every leaf command of the ``intentusnet`` parser with its path."""
    children = [action for action in parser._actions
                if isinstance(action, argparse._SubParsersAction)]
    if not children:
        return [(path, parser)]
    return [leaf for name, child in children[0].choices.items()
            for leaf in _commands(child, (*path, name))]


def _arguments(parser: argparse.ArgumentParser) -> list[str]:
    names = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.option_strings:
            names.extend(action.option_strings)
        else:
            names.append(str(action.metavar or action.dest.upper()))
    return names


LEAF_COMMANDS = _commands(build_parser())


def test_the_cli_has_the_commands_of_the_spec() -> None:
    assert {" ".join(path) for path, _ in LEAF_COMMANDS} >= {
        "records list", "records show", "replay", "diff", "verify", "sign", "keys generate",
        "recover", "cassettes list", "cassettes verify", "cassettes prune", "demo"}


@pytest.mark.parametrize(("path", "parser"), LEAF_COMMANDS,
                         ids=[" ".join(path) for path, _ in LEAF_COMMANDS])
def test_every_cli_command_has_a_section_with_its_arguments_and_exit_codes(
        path: tuple[str, ...], parser: argparse.ArgumentParser) -> None:
    section = _section(_page("cli.md"), f"## `intentusnet {' '.join(path)}`")
    synopsis = section[section.index("```text\n"):section.index("\n```\n")]

    arguments = _arguments(parser)
    assert [name for name in arguments if name not in synopsis] == []
    options = [name for name in arguments if name.startswith("--")]
    assert [name for name in options if f"| `{name}" not in section] == []
    assert re.search(r"\bexit (codes|[0-9])", section, re.IGNORECASE), \
        f"intentusnet {' '.join(path)}: no exit status documented"


def test_the_global_store_option_is_documented() -> None:
    section = _section(_page("cli.md"), "## Global option")

    assert _arguments(build_parser()) == ["--store"]
    assert "`--store STORE`" in section


# -- the plugin -------------------------------------------------------------------------------

class _RecordingParser:
    """Stands in for pytest's parser: records what the plugin registers."""

    def __init__(self) -> None:
        self.options: list[str] = []
        self.ini: list[str] = []

    def getgroup(self, *args: Any, **kwargs: Any) -> _RecordingParser:
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        self.options.extend(names)

    def addini(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.ini.append(name)


@pytest.fixture(scope="module")
def registered() -> _RecordingParser:
    parser = _RecordingParser()
    plugin_module.pytest_addoption(parser)  # type: ignore[arg-type]
    return parser


def test_every_command_line_option_is_documented(registered: _RecordingParser) -> None:
    section = _section(_page("plugin.md"), "## Options")

    assert registered.options
    assert [name for name in registered.options if f"`{name}" not in section] == []


def test_every_ini_key_is_documented(registered: _RecordingParser) -> None:
    section = _section(_page("plugin.md"), "## ini keys")

    assert registered.ini
    assert [name for name in registered.ini if f"| `{name}` |" not in section] == []


def test_every_marker_argument_is_documented() -> None:
    section = _section(_page("plugin.md"), "## The `intentus` marker")
    # ``signature`` comes from the ini keys intentus_require_signature/_signature_key only
    arguments = [field.name for field in dataclasses.fields(TestSettings)
                 if field.name != "signature"]

    assert [name for name in arguments if f"| `{name}` |" not in section] == []
    assert all(f"{name}=" in section for name in arguments)


def test_every_mode_and_counter_is_documented() -> None:
    plugin = _page("plugin.md")

    assert [mode.name for mode in Mode if f"`{mode.name}` (`\"{mode.value}\"`)"
            not in plugin] == []
    assert [f.name for f in dataclasses.fields(Counters) if f"`{f.name}`" not in plugin] == []


def test_every_fixture_is_documented(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_inprocess("--fixtures")
    lines = result.outlines
    start = next(index for index, line in enumerate(lines)
                 if "fixtures defined from pytest_intentusnet.plugin" in line)
    names = []
    for line in lines[start + 1:]:
        if line.startswith(("-", "=")):
            break
        if line and not line.startswith(" "):
            names.append(line.split(" ", 1)[0])
    section = _section(_page("plugin.md"), "## Fixtures")

    assert sorted(names) == ["intentus_cassette", "intentus_config", "intentus_golden",
                             "intentus_runtime"]
    assert [name for name in names if f"| `{name}` |" not in section] == []


# -- errors -----------------------------------------------------------------------------------

def _error_classes() -> list[type[IntentusError]]:
    found: list[type[IntentusError]] = [IntentusError]
    for cls in found:
        found.extend(sub for sub in cls.__subclasses__()
                     if sub.__module__ == errors_module.__name__ and sub not in found)
    return found


def test_every_error_class_has_a_section() -> None:
    page = _page("errors.md")
    classes = _error_classes()

    assert len(classes) >= 18
    assert [cls.__name__ for cls in classes if f"### `{cls.__name__}`\n" not in page] == []


def _drawn_parents(page: str) -> dict[str, str]:
    """``{class: parent}`` as the tree on the errors page draws them."""
    tree = page[page.index("```text\nIntentusError\n"):]
    rows = tree[:tree.index("```\n", 8)].splitlines()[2:]  # after the fence and the root
    ancestors: list[str] = []
    parents = {}
    for row in rows:
        match = re.search(r"[├└]── (\w+)", row)
        assert match, row
        level = match.start() // 4
        ancestors[level:] = [match.group(1)]
        parents[match.group(1)] = ancestors[level - 1] if level else "IntentusError"
    return parents


def test_the_error_tree_on_the_page_is_the_class_tree() -> None:
    actual = {cls.__name__: next(base for base in cls.__bases__
                                 if issubclass(base, IntentusError)).__name__
              for cls in _error_classes()[1:]}

    assert _drawn_parents(_page("errors.md")) == actual


def test_every_error_code_is_documented() -> None:
    page = _page("errors.md")

    assert [code.value for code in ErrorCode if f"| `{code.value}` |" not in page] == []


# -- file formats -----------------------------------------------------------------------------

def test_every_record_field_and_event_type_is_in_formats() -> None:
    page = _page("formats.md")
    schema = json.loads((REFERENCE / "record.schema.json").read_text(encoding="utf-8"))

    assert [name for name in schema["properties"] if f"| `{name}` |" not in page] == []
    assert [name for name in EVENT_TYPES if f"| `{name}` |" not in page] == []


def test_every_cassette_key_is_in_formats(tmp_path: Any) -> None:
    section = _section(_page("formats.md"), "## Cassettes")
    keys = CassetteFile(node_id="test_x.py::test_x").to_wire()

    assert [key for key in keys if f"| `{key}` |" not in section] == []
    assert [key for key in keys["hashes"] if f"`{key}`" not in section] == []


def test_every_drift_report_key_is_in_formats() -> None:
    section = _section(_page("formats.md"), "## Drift report")
    keys = [key for entry in DriftReport().to_dict() for key in entry.split(", ")]

    assert [key for key in keys if f"`{key}`" not in section] == []
    assert [f.name for f in dataclasses.fields(Counters) if f"`{f.name}`" not in section] == []
    assert all(f"`{mode.value}`" in section for mode in Mode)


def test_every_signature_field_is_in_formats(tmp_path: Any) -> None:
    section = _section(_page("formats.md"), "## Signature files")
    target = tmp_path / "file.json"
    target.write_text("{}\n", encoding="utf-8")
    private, _ = generate_keys(tmp_path / "keys")
    fields = json.loads(sign_file(target, private).read_text(encoding="utf-8"))

    assert [key for key in fields if f"| `{key}` |" not in section] == []


def test_every_public_name_has_a_row_in_the_api_reference() -> None:
    import intentusnet_core
    import pytest_intentusnet

    page = _page("api.md")
    names = [*intentusnet_core.__all__, *pytest_intentusnet.__all__]

    assert [name for name in names if f"| `{name}` |" not in page] == []
