"""The docs that the code already says are written from it, and every face states the limits
of the one place that holds them.

``tools/generate_docs.py --check`` fails when a generated part of the docs (settings, CLI
reference, module table, route index) differs from what the code would write. The module
table is also compared with the tree here, independently of the generator, and the CLI help,
the MCP tool descriptions and the inspector's ``limits.json`` must name the contract's current
limits.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer.main
from mcp.server import MCPServer

import konstruct_memory
from konstruct_memory.cli import app
from konstruct_memory.mcp.server import MemoryServer
from konstruct_memory.operations import fields
from konstruct_memory.serving.inspector import limits

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "tools" / "generate_docs.py"
PACKAGE = ROOT / "src" / "konstruct_memory"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def test_the_generated_docs_are_what_the_code_says() -> None:
    checked = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_module_table_lists_every_module_and_only_those() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    table = text.split("<!-- generated: modules -->", 1)[1].split("<!-- end generated -->", 1)[0]
    listed = re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE)
    on_disk = [
        path.relative_to(PACKAGE).as_posix()
        for path in [*PACKAGE.rglob("*.py"), *(PACKAGE / "inspector").rglob("*.js")]
    ]
    assert len(listed) == len(set(listed)), "a module is listed twice"
    assert sorted(set(on_disk) - set(listed)) == [], "modules missing from docs/architecture.md"
    assert sorted(set(listed) - set(on_disk)) == [], "docs/architecture.md lists missing modules"


def test_the_version_is_the_installed_distributions() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    written = re.search(r'^version = "([^"]+)"', pyproject, flags=re.MULTILINE)
    assert written is not None
    assert konstruct_memory.__version__ == written.group(1)


def _option_help(command: str, option: str) -> str:
    found: Any = typer.main.get_command(app)
    for name in command.split():
        found = found.commands[name]
    (param,) = [p for p in found.params if option in p.opts]
    return str(param.help)


def test_the_cli_help_names_the_current_limits() -> None:
    assert f"1-{fields.MAX_K}" in _option_help("recall", "--k")
    assert f"1-{fields.MAX_K}" in _option_help("recall-across-users", "--k")
    assert f"0-{fields.MAX_K}" in _option_help("context", "--k")
    assert f"0-{fields.MAX_HISTORY}" in _option_help("context", "--recent")
    assert f"1-{fields.MAX_HISTORY}" in _option_help("history", "--limit")
    assert f"1-{fields.MAX_LISTED}" in _option_help("scopes", "--limit")
    assert f"1-{fields.MAX_LISTED}" in _option_help("erasures", "--limit")
    assert f"1-{fields.MAX_LISTED}" in _option_help("audit", "--limit")
    assert f"1-{fields.DEFAULT_MAX_BATCH_TURNS}" in _option_help("import", "--batch-size")


def test_the_mcp_tool_descriptions_name_the_current_limits() -> None:
    # The tools as registered, before any key narrows them (no backend is reached).
    tools = asyncio.run(MCPServer.list_tools(MemoryServer(backend=None)))  # type: ignore[arg-type]
    described = {tool.name: tool.description or "" for tool in tools}
    assert f"1 to {fields.MAX_K}" in described["recall"]
    assert f"1 to {fields.MAX_HISTORY}" in described["history"]
    assert f"0 to {fields.MAX_HISTORY}" in described["context"]
    assert f"0 to {fields.MAX_K}" in described["context"]
    assert str(fields.DEFAULT_MAX_CONTENT_BYTES) in described["remember"]


def test_the_inspector_reads_its_limits_from_the_service() -> None:
    served = json.loads(limits().body)
    assert served["max_k"] == fields.MAX_K
    assert served["max_history"] == fields.MAX_HISTORY
    assert served["max_listed"] == fields.MAX_LISTED
    views = PACKAGE / "inspector" / "js" / "views"
    for script in views.glob("*.js"):
        source = script.read_text(encoding="utf-8")
        restated = re.findall(r"\bmax: *\d{3,}|length === *\d{3,}|limit: *\d{3,}", source)
        assert restated == [], f"{script.name} restates a limit: {restated}"
