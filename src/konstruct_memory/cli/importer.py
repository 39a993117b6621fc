"""``import``: JSON Lines of turns, in atomic batches, resumably and idempotently."""

from __future__ import annotations

import itertools
import json
import re
import uuid
from pathlib import Path
from typing import Any

import typer

from konstruct_memory.cli.access import ApiKey, TenantId, Url, memory_for
from konstruct_memory.errors import InvalidInput
from konstruct_memory.operations.fields import DEFAULT_MAX_BATCH_TURNS

# Turns without an id get one derived from their line, so a re-run stores nothing twice.
IMPORT_NAMESPACE = uuid.UUID("0b8f6d3e-2c41-4f7a-9e15-6a2d8c4b7f90")


def register(app: typer.Typer) -> None:
    app.command("import")(import_turns)


def import_turns(
    ctx: typer.Context,
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON Lines of turns."),
    batch_size: int = typer.Option(
        500,
        min=1,
        max=DEFAULT_MAX_BATCH_TURNS,
        help=f"Turns per atomic batch (1-{DEFAULT_MAX_BATCH_TURNS}, the service's default "
        "KONSTRUCT_MEMORY_MAX_BATCH_TURNS).",
    ),
    restart: bool = typer.Option(False, help="Ignore the progress file and start over."),
    defer_vector_index: bool = typer.Option(
        False,
        help="Drop the HNSW indexes for the load and rebuild them after (then ANALYZE the "
        "loaded tables): much faster for large loads; recall across users (every tenant) is "
        "exact and slower meanwhile. Direct only.",
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
        memory_for(ctx, api_key, url, tenant, defer_vector_index=defer_vector_index) as memory,
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
