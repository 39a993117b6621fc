"""Commands for quick use: remember, recall, history and bulk import.

Each works over HTTP with a tenant API key (``--api-key`` / KONSTRUCT_MEMORY_API_KEY, against
``--url``), or directly on the database as ``--tenant ID`` (library use, owner of the machine).
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

from konstruct_memory.config import Settings
from konstruct_memory.errors import ConfigurationError, InvalidInput

# Turns without an id get one derived from their line, so a re-run stores nothing twice.
IMPORT_NAMESPACE = uuid.UUID("0b8f6d3e-2c41-4f7a-9e15-6a2d8c4b7f90")

ApiKey = typer.Option(
    None,
    "--api-key",
    envvar="KONSTRUCT_MEMORY_API_KEY",
    help="Tenant API key: talk to the HTTP service at --url.",
)
Url = typer.Option(
    "http://127.0.0.1:8080",
    "--url",
    envvar="KONSTRUCT_MEMORY_URL",
    help="Base URL of the HTTP service.",
)
TenantId = typer.Option(None, "--tenant", help="Tenant id: use the database directly instead.")
AsJson = typer.Option(False, "--json", help="One JSON object per line.")


def register(app: typer.Typer) -> None:
    app.command("remember")(remember)
    app.command("recall")(recall)
    app.command("history")(history)
    app.command("import")(import_turns)


@contextmanager
def _memory(
    api_key: str | None, url: str, tenant: str | None, *, defer_vector_index: bool = False
) -> Iterator[Any]:
    """A Client (HTTP) or a TenantMemory (direct): the same method names either way."""
    if (api_key is None) == (tenant is None):
        raise ConfigurationError("give exactly one of --api-key (HTTP) or --tenant (direct)")
    if api_key is not None:
        if defer_vector_index:
            raise ConfigurationError(
                "--defer-vector-index drops an index of the whole database: it needs --tenant "
                "(direct, owner connection), not --api-key"
            )
        from konstruct_memory.client import Client

        with Client(url, api_key) as client:
            yield client
        return
    from konstruct_memory.memory import Memory

    with Memory.open(Settings()) as memory:
        deferred = memory.vector_index_deferred() if defer_vector_index else nullcontext()
        with deferred:
            yield memory.tenant(str(tenant))


def _print(items: list[Any], as_json: bool) -> None:
    for item in items:
        if as_json:
            typer.echo(json.dumps(asdict(item), default=str))
            continue
        score = f"{item.score:.4f}  " if hasattr(item, "score") else ""
        when = item.occurred_at.isoformat(timespec="seconds")
        typer.echo(f"{score}{item.id}  {when}  {item.role}: {item.content}")


def remember(
    agent_id: str = typer.Option(..., help="Agent UUID."),
    user_id: str = typer.Option(..., help="User id (e.g. a Slack user id)."),
    content: str = typer.Argument(..., help="What was said."),
    role: str = typer.Option("user", help="'user' or 'assistant'."),
    conversation_id: str | None = typer.Option(None, help="Thread id."),
    turn_id: str | None = typer.Option(None, "--id", help="Turn UUID (makes retries safe)."),
    api_key: str | None = ApiKey,
    url: str = Url,
    tenant: str | None = TenantId,
) -> None:
    """Store one turn; prints its id."""
    turn = {
        "agent_id": agent_id,
        "user_id": user_id,
        "role": role,
        "content": content,
        "conversation_id": conversation_id,
        "id": turn_id,
    }
    with _memory(api_key, url, tenant) as memory:
        stored = memory.remember_one({k: v for k, v in turn.items() if v is not None})
    typer.echo(str(stored.id))


def recall(
    query: str = typer.Argument(..., help="The new message to find older relevant turns for."),
    agent_id: str = typer.Option(..., help="Agent UUID."),
    user_id: str = typer.Option(..., help="User id."),
    k: int = typer.Option(10, help="How many turns (1-100)."),
    api_key: str | None = ApiKey,
    url: str = Url,
    tenant: str | None = TenantId,
    as_json: bool = AsJson,
) -> None:
    """The turns most relevant to QUERY, best first: score, id, time, role and content."""
    with _memory(api_key, url, tenant) as memory:
        _print(memory.recall(agent_id, user_id, query, k=k), as_json)


def history(
    agent_id: str = typer.Option(..., help="Agent UUID."),
    user_id: str = typer.Option(..., help="User id."),
    limit: int = typer.Option(20, help="How many turns (1-1000)."),
    before: str | None = typer.Option(None, help="Turn id: show turns older than it."),
    conversation_id: str | None = typer.Option(None, help="Only this thread."),
    api_key: str | None = ApiKey,
    url: str = Url,
    tenant: str | None = TenantId,
    as_json: bool = AsJson,
) -> None:
    """The most recent turns, oldest first."""
    with _memory(api_key, url, tenant) as memory:
        turns = memory.history(
            agent_id, user_id, limit=limit, conversation_id=conversation_id, before=before
        )
        _print(turns, as_json)


def import_turns(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON Lines of turns."),
    batch_size: int = typer.Option(500, min=1, max=1000, help="Turns per atomic batch."),
    restart: bool = typer.Option(False, help="Ignore the progress file and start over."),
    defer_vector_index: bool = typer.Option(
        False,
        help="Drop the HNSW index for the load and rebuild it after: much faster for large "
        "loads; recall across users (every tenant) is exact and slower meanwhile. Direct only.",
    ),
    api_key: str | None = ApiKey,
    url: str = Url,
    tenant: str | None = TenantId,
) -> None:
    """Load turns from JSON Lines, in batches, resumably and idempotently.

    Each line is a turn object as `remember` takes it (an "embedding" of 384 numbers skips
    embedding). Lines without "id" get one derived from their line number and text, so
    re-running stores nothing twice. Progress is kept in PATH.progress; an invalid line stops
    the import naming the line, with every earlier batch stored.
    """
    from rich.progress import Progress

    progress_file = path.with_name(path.name + ".progress")
    done = 0 if restart or not progress_file.exists() else int(progress_file.read_text())
    with path.open(encoding="utf-8") as lines:
        total = sum(1 for _ in lines)
    stored = 0
    with (
        _memory(api_key, url, tenant, defer_vector_index=defer_vector_index) as memory,
        Progress() as bar,
        path.open(encoding="utf-8") as lines,
    ):
        task = bar.add_task("importing", total=total, completed=done)
        numbered = itertools.islice(enumerate(lines), done, None)
        while chunk := list(itertools.islice(numbered, batch_size)):
            parsed = [(n, _parse_line(n, line.rstrip("\n"))) for n, line in chunk]
            batch = [(n, turn) for n, turn in parsed if turn is not None]
            if batch:
                try:
                    memory.remember([turn for _, turn in batch])
                except InvalidInput as exc:
                    raise _on_line(exc, [n for n, _ in batch]) from None
                stored += len(batch)
            done = chunk[-1][0] + 1
            progress_file.write_text(str(done))
            bar.update(task, completed=done)
    typer.echo(f"{stored} turns sent ({total} lines); already stored turns were skipped")


def _on_line(exc: InvalidInput, numbers: list[int]) -> InvalidInput:
    """Say which line of the file a batch error is about: turns[3].role -> line 1204: role."""
    match = re.match(r"turns\[(\d+)\]\.?(.*)", exc.field)
    if not match:
        return exc
    line = numbers[int(match.group(1))] + 1
    return InvalidInput(
        f"line {line}" + (f": {match.group(2)}" if match.group(2) else ""), exc.problem
    )


def _parse_line(index: int, line: str) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        turn = json.loads(line)
    except ValueError:
        raise InvalidInput(f"line {index + 1}", "is not valid JSON") from None
    if not isinstance(turn, dict):
        raise InvalidInput(f"line {index + 1}", "must be a JSON object")
    turn.setdefault("id", str(uuid.uuid5(IMPORT_NAMESPACE, f"{index}:{line}")))
    return turn
