"""The README's Python example runs as written (against the test database, real model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import DatabaseUnderTest

README = Path(__file__).resolve().parents[2] / "README.md"


def test_python_example_runs(
    database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    [example] = [block for block in blocks if "Memory.open()" in block]
    monkeypatch.setenv("KONSTRUCT_MEMORY_DATABASE_URL", database.runtime_url)
    monkeypatch.setenv("KONSTRUCT_MEMORY_ADMIN_DATABASE_URL", database.admin_url)
    exec(compile(example, str(README), "exec"), {})  # noqa: S102 - our own README
    out = capsys.readouterr().out
    first_hit = out.splitlines()[0]
    assert "Biscuit" in first_hit
    assert "Relevant earlier turns:" in out or "Recent conversation:" in out
