"""The README's Python examples run as written (against the test database, real model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from konstruct_memory.client import AdminClient
from tests.conftest import ADMIN_TOKEN, DatabaseUnderTest

README = Path(__file__).resolve().parents[2] / "README.md"


def example(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    [found] = [block for block in blocks if marker in block]
    return found


def run_served_example(base_url: str, marker: str, *, tenant: str) -> None:
    """Run the README example holding ``marker`` against the served API, with a new tenant's
    key in place of the example's placeholder."""
    with AdminClient(base_url, ADMIN_TOKEN) as admin:
        key = admin.create_tenant(tenant).api_key
    code = example(marker).replace("http://127.0.0.1:8080", base_url)
    code = code.replace('api_key="km_…"', f"api_key={key!r}")
    exec(compile(code, str(README), "exec"), {})  # noqa: S102 - our own README


def test_library_example_runs(
    database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KONSTRUCT_MEMORY_DATABASE_URL", database.runtime_url)
    monkeypatch.setenv("KONSTRUCT_MEMORY_ADMIN_DATABASE_URL", database.admin_url)
    code = example("Memory.open()")
    exec(compile(code, str(README), "exec"), {})  # noqa: S102 - our own README
    out = capsys.readouterr().out
    first_hit = out.splitlines()[0]
    assert "Biscuit" in first_hit
    assert "Relevant earlier turns:" in out or "Recent conversation:" in out


def test_client_example_runs(base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    run_served_example(base_url, "async with AsyncClient(", tenant="readme-client")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "I moved to Porto last month"
    assert "Recent conversation:" in out[1] or "Relevant earlier turns:" in out[1]


def test_langchain_example_runs(base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    run_served_example(base_url, "KonstructChatMessageHistory(", tenant="readme-langchain")
    out = capsys.readouterr().out.splitlines()
    assert out == ["['I moved to Porto last month', 'Congrats!']", "I moved to Porto last month"]


def test_llamaindex_example_runs(base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    run_served_example(base_url, "KonstructMemoryBlock(", tenant="readme-llamaindex")
    out = capsys.readouterr().out
    assert "Relevant earlier turns:" in out and "I moved to Porto last month" in out


def test_langgraph_example_runs(base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    run_served_example(base_url, "KonstructStore(", tenant="readme-langgraph")
    assert capsys.readouterr().out.splitlines() == ["['I moved to Porto last month']"]
