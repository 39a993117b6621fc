"""Erasure, the erasure ledger, the read audit trail and retention runs, for operators.

``erase``, ``erasures`` and ``audit`` work over HTTP with a tenant API key (``--api-key``) or
directly as ``--tenant ID``; ``erase export``, ``erase replay`` and ``retention run`` span
every tenant and need the owner connection.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from konstruct_memory.cli.access import (
    ApiKey,
    TenantId,
    Url,
    agent_option,
    memory_for,
    user_option,
)
from konstruct_memory.cli.settings import settings_of
from konstruct_memory.errors import InvalidInput
from konstruct_memory.operations import AuditEntry, Erasure
from konstruct_memory.operations.fields import MAX_LISTED

# Its help is the callback's docstring: `erase --tenant T --user U` erases, its subcommands
# keep the ledger across backups.
erase_app = typer.Typer(invoke_without_command=True)
retention_app = typer.Typer(help="Apply the tenants' retention windows.", no_args_is_help=True)

Since = typer.Option(None, help="Only entries at or after this RFC 3339 time.")
Until = typer.Option(None, help="Only entries before this RFC 3339 time.")
Limit = typer.Option(100, help=f"At most this many entries (1-{MAX_LISTED}).")


class Order(StrEnum):
    """The order of a listing: oldest first (asc) or newest first (desc)."""

    asc = "asc"
    desc = "desc"


ByTime = typer.Option(Order.asc, "--order", help="asc: oldest first; desc: newest first.")
AsJson = typer.Option(False, "--json", help="One JSON object per line.")


def register(app: typer.Typer) -> None:
    app.add_typer(erase_app, name="erase")
    app.command("erasures")(erasures)
    app.command("audit")(audit)
    app.add_typer(retention_app, name="retention")


@erase_app.callback()
def erase(
    ctx: typer.Context,
    agent_id: str | None = agent_option("Erase this agent's turns (with --user: its user's)."),
    user_id: str | None = user_option("Erase this user's turns (with --agent: of that agent)."),
    turn_ids: list[str] | None = typer.Option(
        None,
        "--turn",
        "--turn-id",
        help="Erase only this turn (repeat for more; within --agent and --user if given).",
    ),
    tenant_id: str | None = TenantId,
    api_key: str | None = ApiKey,
    url: str = Url,
    as_json: bool = AsJson,
) -> None:
    """Erase every stored turn of an agent, a user, or one agent's user, with their read-audit
    rows, or only the turns named with --turn; prints the ledger entry. Erasing again erases 0.
    A key needs the 'erase' scope. `erase export` and `erase replay` carry the ledger across
    backup restores."""
    if ctx.invoked_subcommand is not None:
        return
    if agent_id is None and user_id is None and not turn_ids and api_key is None:
        raise typer.BadParameter("name --agent, --user, both, or --turn")
    with memory_for(ctx, api_key, url, tenant_id) as memory:
        entry = memory.erase(agent_id=agent_id, user_id=user_id, turn_ids=turn_ids or None)
    _print(entry, as_json)


@erase_app.command("export")
def export(
    ctx: typer.Context,
    out: Path | None = typer.Option(
        None, "--out", help="Write here (JSON Lines) instead of standard output."
    ),
) -> None:
    """Write every tenant's erasure ledger as JSON Lines: keep it apart from database backups,
    so that `erase replay` can re-apply erasures a restored backup predates."""
    from konstruct_memory.library import Memory

    with Memory.open(settings_of(ctx)) as memory:
        entries = memory.export_erasures()
    lines = "".join(entry.model_dump_json() + "\n" for entry in entries)
    if out is None:
        sys.stdout.write(lines)
    else:
        out.write_text(lines)
        typer.echo(f"{len(entries)} ledger entries written to {out}", err=True)


@erase_app.command("replay")
def replay(
    ctx: typer.Context,
    ledger: Path | None = typer.Argument(
        None,
        help="A file written by `erase export` (default: KONSTRUCT_MEMORY_LEDGER_EXPORT, the file "
        "the ledger is appended to as it is written).",
    ),
) -> None:
    """After restoring a backup: erase again what the exported ledger records and the restored
    database lacks (only turns stored before each original erasure). Safe to repeat."""
    from konstruct_memory.engine.ledger_file import read_entries
    from konstruct_memory.library import Memory

    settings = settings_of(ctx)
    path = ledger or settings.ledger_export
    if path is None:
        raise InvalidInput(
            "ledger", "name the exported ledger file, or set KONSTRUCT_MEMORY_LEDGER_EXPORT"
        )
    entries = read_entries(path)
    with Memory.open(settings) as memory:
        report = memory.replay_erasures(entries)
    typer.echo(
        f"replayed {report.entries_replayed} erasures ({report.turns_erased} turns); "
        f"{report.entries_present} already applied; {report.entries_unmatched} with no "
        "stored turns left"
    )


def erasures(
    ctx: typer.Context,
    since: str | None = Since,
    until: str | None = Until,
    limit: int = Limit,
    order: Order = ByTime,
    before: str | None = typer.Option(
        None, "--before", help="Only entries older than this erasure (its id): the next page."
    ),
    tenant_id: str | None = TenantId,
    api_key: str | None = ApiKey,
    url: str = Url,
    as_json: bool = AsJson,
) -> None:
    """List the tenant's erasure ledger (requests and retention batches), oldest first
    (--order desc: newest first)."""
    with memory_for(ctx, api_key, url, tenant_id) as memory:
        entries = memory.list_erasures(since, until, limit, order.value, before)
    for entry in entries:
        _print(entry, as_json)


def audit(
    ctx: typer.Context,
    since: str | None = Since,
    until: str | None = Until,
    limit: int = Limit,
    agent_id: str | None = typer.Option(None, "--agent-id", help="Only reads of this agent."),
    user_id: str | None = typer.Option(None, "--user-id", help="Only reads of this user."),
    order: Order = ByTime,
    before: int | None = typer.Option(
        None, "--before", min=1, help="Only entries older than this one (its id): the next page."
    ),
    tenant_id: str | None = TenantId,
    api_key: str | None = ApiKey,
    url: str = Url,
    as_json: bool = AsJson,
) -> None:
    """List audited reads (recorded while the tenant's audit_reads is on), oldest first
    (--order desc: newest first)."""
    with memory_for(ctx, api_key, url, tenant_id) as memory:
        # The parameters' order is the operation's, on the library and the client alike.
        entries = memory.list_audit(since, until, limit, agent_id, user_id, order.value, before)
    for entry in entries:
        _print(entry, as_json)


@retention_app.command("run")
def run_retention(
    ctx: typer.Context,
    batch: int | None = typer.Option(
        None, min=1, max=100_000, help="Turns per transaction (default: the setting)."
    ),
) -> None:
    """Remove what every tenant's retention window no longer keeps, in short batches, each
    recorded in the ledger. `serve` does this periodically on its own."""
    from konstruct_memory.library import Memory

    with Memory.open(settings_of(ctx)) as memory:
        report = memory.apply_retention(batch)
    typer.echo(
        f"{report.tenants} tenants with a retention window: removed {report.turns_erased} "
        f"turns and {report.audit_rows_erased} audit rows in {report.batches} batches"
    )


def _print(entry: Erasure | AuditEntry, as_json: bool) -> None:
    """A ledger entry or an audited read: as JSON, or as one line."""
    typer.echo(entry.model_dump_json() if as_json else _line(entry))


def _line(entry: Erasure | AuditEntry) -> str:
    if isinstance(entry, Erasure):
        when = entry.completed_at.isoformat(timespec="seconds")
        return (
            f"{entry.id}  {when}  {entry.kind}  turns_erased={entry.turns_erased}  "
            f"audit_rows_erased={entry.audit_rows_erased}"
        )
    when = entry.at.isoformat(timespec="seconds")
    who = f"key={entry.key_id or 'owner'}"
    scope = f"agent={entry.agent_id} user={entry.user_id or '*'}"
    return f"{when}  {entry.operation}  {who}  {scope}  turns={len(entry.turn_ids)}"
