"""``maintenance status``: what the VACUUM after erasures and retention has to do and is
doing, read on the owner connection."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

import typer

from konstruct_memory.cli.settings import owner_connection, settings_of
from konstruct_memory.config import Settings
from konstruct_memory.db.vacuum import VacuumThrottle
from konstruct_memory.store import maintenance
from konstruct_memory.store.maintenance import TableVacuumState, VacuumInProgress


def register(app: typer.Typer) -> None:
    """``maintenance``: one group, for now with ``status`` alone."""
    group = typer.Typer(
        help="The VACUUM of the tables erasure and retention remove rows from.",
        no_args_is_help=True,
    )
    group.command("status")(status)
    app.add_typer(group, name="maintenance")


def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Print, for each table the service vacuums, its live and dead tuples and its last
    VACUUM and autovacuum, then any VACUUM of them in progress (phase, heap blocks scanned of
    the total), and how the VACUUM after removals is configured. Owner connection
    (KONSTRUCT_MEMORY_ADMIN_DATABASE_URL, or the embedded server)."""
    settings = settings_of(ctx)
    with owner_connection(ctx) as conn:
        tables = maintenance.table_states(conn)
        running = maintenance.in_progress(conn)
    if as_json:
        typer.echo(json.dumps(_as_json(settings, tables, running)))
        return
    typer.echo(_configuration(settings))
    typer.echo(f"{'table':<24} {'live':>10} {'dead':>10}  {'last vacuum':<25}  last autovacuum")
    for table in tables:
        typer.echo(
            f"{table.table_name:<24} {table.live_tuples:>10} {table.dead_tuples:>10}  "
            f"{_when(table.last_vacuum):<25}  {_when(table.last_autovacuum)}"
        )
    if not running:
        typer.echo("no VACUUM of these tables in progress")
    for vacuum in running:
        since = "" if vacuum.running_s is None else f", for {vacuum.running_s:.0f} s"
        typer.echo(
            f"VACUUM in progress: {vacuum.table_name} (pid {vacuum.pid}{since}): "
            f"{vacuum.phase}, heap blocks scanned {vacuum.heap_blocks_scanned} of "
            f"{vacuum.heap_blocks_total}, index passes {vacuum.index_passes}"
        )


def _configuration(settings: Settings) -> str:
    if not settings.vacuum_after_erasure:
        return "VACUUM after removals: off (KONSTRUCT_MEMORY_VACUUM_AFTER_ERASURE)"
    window = settings.vacuum_window_utc
    when = f"within {window}" if window else "right away"
    return f"VACUUM after removals: {when}, {VacuumThrottle.of(settings)}"


def _when(at: datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at else "never"


def _as_json(
    settings: Settings, tables: list[TableVacuumState], running: list[VacuumInProgress]
) -> dict[str, Any]:
    return {
        "vacuum_after_erasure": settings.vacuum_after_erasure,
        "vacuum_cost_delay_ms": settings.vacuum_cost_delay_ms,
        "vacuum_cost_limit": settings.vacuum_cost_limit,
        "vacuum_niceness": VacuumThrottle.of(settings).niceness,
        "vacuum_window": str(settings.vacuum_window_utc) if settings.vacuum_window else None,
        "tables": [
            {
                **asdict(table),
                "last_vacuum": _instant(table.last_vacuum),
                "last_autovacuum": _instant(table.last_autovacuum),
            }
            for table in tables
        ],
        "in_progress": [asdict(vacuum) for vacuum in running],
    }


def _instant(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
