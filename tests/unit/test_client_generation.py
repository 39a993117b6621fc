"""The blocking clients are generated from the asynchronous ones: the checked-in ``sync.py`` is
what ``tools/async_to_sync.py`` writes, and the generator turns every asynchronous construct
into its blocking twin, or refuses."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "tools" / "async_to_sync.py"
CLIENT = ROOT / "src" / "konstruct_memory" / "client"
SOURCE = CLIENT / "asynchronous.py"
TARGET = CLIENT / "sync.py"


def generator(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *map(str, arguments)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_checked_in_sync_client_is_what_the_async_one_generates() -> None:
    checked = generator("--check")
    assert checked.returncode == 0, checked.stderr


def test_the_check_fails_on_a_hand_edited_sync_client(tmp_path: Path) -> None:
    edited = tmp_path / "sync.py"
    edited.write_text(TARGET.read_text().replace("k: int = 10,", "k: int = 11,", 1))
    checked = generator("--check", "--target", edited)
    assert checked.returncode == 1
    assert "-        k: int = 11," in checked.stderr and "+        k: int = 10," in checked.stderr
    assert "run `python tools/async_to_sync.py`" in checked.stderr


def test_a_new_async_method_arrives_blocking(tmp_path: Path) -> None:
    source, target = tmp_path / "asynchronous.py", tmp_path / "sync.py"
    source.write_text(
        SOURCE.read_text()
        + "\n\nasync def first_hit(client: AsyncClient, query: str) -> Hit:\n"
        + "    # AsyncClient.recall, awaited in parentheses for its index.\n"
        + "    async with client:\n"
        + "        return (await client.recall(query=query, k=1))[0]\n"
    )
    written = generator("--source", source, "--target", target)
    assert written.returncode == 0, written.stderr
    generated = target.read_text()
    assert "def first_hit(client: Client, query: str) -> Hit:" in generated
    assert "    # Client.recall, awaited in parentheses for its index." in generated
    assert "    with client:\n        return client.recall(query=query, k=1)[0]\n" in generated
    asynchronous = (ast.AsyncFunctionDef, ast.AsyncWith, ast.AsyncFor, ast.Await)
    assert not [n for n in ast.walk(ast.parse(generated)) if isinstance(n, asynchronous)]


def test_an_async_name_without_a_blocking_twin_is_refused(tmp_path: Path) -> None:
    source, target = tmp_path / "asynchronous.py", tmp_path / "sync.py"
    source.write_text(
        SOURCE.read_text() + "\n\nTRANSPORT: type[httpx.AsyncHTTPTransport] | None = None\n"
    )
    refused = generator("--source", source, "--target", target)
    assert refused.returncode != 0 and not target.exists()
    assert "AsyncHTTPTransport (add its twin to NAMES)" in refused.stderr
