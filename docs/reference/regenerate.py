"""Regenerates the reference parts that are made from the code.

    python docs/reference/regenerate.py

* ``record.schema.json``: the JSON Schema of an execution record, generated from the
  :class:`intentusnet_core.ExecutionRecord` model (pydantic, by alias: the camelCase keys
  written on disk);
* the example cassette in ``formats.md``: recorded again by running pytest on the page's
  ``test_greeting.py`` in a temporary project.

tests/docs checks both: the committed schema must be what :func:`schema_text` returns, and
the example must be byte for byte what the plugin writes. Run this after a format change.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from intentusnet_core.records import FORMAT_VERSION, ExecutionRecord
from intentusnet_core.wire_format import SUPPORTED_FORMAT_VERSIONS

HERE = Path(__file__).resolve().parent
SCHEMA_PATH = HERE / "record.schema.json"
FORMATS_PATH = HERE / "formats.md"

_TEST_FILE = re.compile(r"<!-- doc-test: file test_greeting.py -->\n```python\n(.*?)```",
                        re.DOTALL)
_EXAMPLE = re.compile(r"(<!-- doc-test: cassette -->\n```json\n)(.*?)(```)", re.DOTALL)


def record_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the records this version writes and reads (every
    supported ``formatVersion``, each with its own events)."""
    schema = ExecutionRecord.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://intentusnet.dev/schemas/execution-record-v{FORMAT_VERSION}.json"
    versions = " or ".join(map(str, SUPPORTED_FORMAT_VERSIONS))
    schema["title"] = (f"intentusnet execution record, formatVersion {versions} "
                       f"(written: {FORMAT_VERSION})")
    return schema


def schema_text() -> str:
    return json.dumps(record_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def record_example_cassette(markdown: str) -> str:
    """The cassette that formats.md's ``test_greeting.py`` records, as the plugin writes it."""
    match = _TEST_FILE.search(markdown)
    if match is None:
        raise SystemExit(f"{FORMATS_PATH}: no `file test_greeting.py` block")
    with tempfile.TemporaryDirectory() as directory:
        project = Path(directory)
        (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        (project / "test_greeting.py").write_text(match.group(1), encoding="utf-8")
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--intentus-record"], cwd=project, check=True)
        path = project / "cassettes" / "test_greeting" / "test_greeting.json"
        return path.read_text(encoding="utf-8")


def main() -> None:
    SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")
    markdown = FORMATS_PATH.read_text(encoding="utf-8")
    cassette = record_example_cassette(markdown)
    updated, count = _EXAMPLE.subn(lambda m: m.group(1) + cassette + m.group(3), markdown)
    if count != 1:
        raise SystemExit(f"{FORMATS_PATH}: expected one `cassette` block, found {count}")
    FORMATS_PATH.write_text(updated, encoding="utf-8")
    print(f"wrote {SCHEMA_PATH} and the example cassette in {FORMATS_PATH}")


if __name__ == "__main__":
    main()
