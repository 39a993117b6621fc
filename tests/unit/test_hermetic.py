"""The suite cannot reach the user's installation: its data directory is a temporary one, and a
test (or a process it starts) that reaches for the default data directory or port 8080 fails,
saying why."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from konstruct_memory.config import Settings
from tests.conftest import process_env

PROBE = (
    "from konstruct_memory.config import Settings\n"
    "try:\n"
    "    Settings()\n"
    "except RuntimeError as exc:\n"
    "    print('refused:', exc)\n"
    "else:\n"
    "    print('reached the default data directory')\n"
)


def test_the_run_has_a_temporary_data_directory_and_home() -> None:
    temporary = Path(tempfile.gettempdir())
    assert temporary in Settings().data_dir.parents
    assert temporary in Path.home().parents


def test_reaching_the_default_data_directory_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KONSTRUCT_MEMORY_DATA_DIR")
    with pytest.raises(RuntimeError, match="reached the default data directory"):
        Settings()


def test_a_process_the_tests_start_is_guarded_too() -> None:
    env = process_env()
    assert Path(env["KONSTRUCT_MEMORY_DATA_DIR"]) == Settings().data_dir
    del env["KONSTRUCT_MEMORY_DATA_DIR"]
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("refused: a test reached the default data directory")


def test_the_default_port_is_refused() -> None:
    with pytest.raises(RuntimeError, match="port 8080"):
        httpx.get("http://127.0.0.1:8080/healthz")
    with socket.socket() as sock, pytest.raises(RuntimeError, match="bind port 8080"):
        sock.bind(("127.0.0.1", 8080))
