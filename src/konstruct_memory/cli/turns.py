"""Commands for quick use: remember, recall (one user or across users), history, context, one
turn by id, and the scopes that hold turns.

Each works over HTTP with a tenant API key (``--api-key`` / KONSTRUCT_MEMORY_API_KEY, against
``--url``), or directly on the database as ``--tenant ID`` (library use, owner of the machine).
Parameters are the operations' own, with the same names.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from konstruct_memory.cli.access import ApiKey, TenantId, Url, memory_for
from konstruct_memory.errors import InvalidInput
from konstruct_memory.operations import Hit, ScopeSummary, StoredTurn
from konstruct_memory.operations.fields import MAX_HISTORY, MAX_K, MAX_LISTED

AsJson = typer.Option(False, "--json", help="One JSON object per line.")
Agent = typer.Option(None, "--agent-id", help="Agent UUID (omit it with an agent-bound key).")
User = typer.Option(
    None, "--user-id", help="User id, e.g. a Slack user id (omit it with a user-bound key)."
)
Since = typer.Option(None, help="Only turns at or after this RFC 3339 time.")
Until = typer.Option(None, help="Only turns before this RFC 3339 time.")
Thread = typer.Option(None, "--conversation-id", help="Only this thread.")
Roles = typer.Option(None, "--role", help="Only turns of this role; repeat for both.")
AsOf = typer.Option(
    None,
    "--as-of",
    help="Only turns stored at or before this RFC 3339 time (when the service stored them, "
    "not their occurred_at): what memory held then. Erased turns stay erased.",
)
MinScore = typer.Option(
    None,
    "--min-score",
    help="Leave out turns scoring below this (0-1); then fewer than k may come back.",
)


def register(app: typer.Typer) -> None:
    app.command("remember")(remember)
    app.command("recall")(recall)
    app.command("recall-across-users")(recall_across_users)
    app.command("history")(history)
    app.command("context")(context)
    app.command("turn")(turn)
    app.command("scopes")(scopes)
    app.command("whoami")(whoami)


def _print(items: list[Hit] | list[StoredTurn], as_json: bool) -> None:
    for item in items:
        if as_json:
            typer.echo(item.model_dump_json())
            continue
        score = f"{item.score:.4f}  " if isinstance(item, Hit) else ""
        when = item.occurred_at.isoformat(timespec="seconds")
        typer.echo(f"{score}{item.id}  {when}  {item.role}: {item.content}")


def remember(
    ctx: typer.Context,
    content: str = typer.Argument(..., help="What was said."),
    agent_id: str | None = Agent,
    user_id: str | None = User,
    role: str = typer.Option("user", help="'user' or 'assistant'."),
    conversation_id: str | None = typer.Option(None, help="Thread id."),
    id: str | None = typer.Option(None, "--id", help="Turn UUID (makes retries safe)."),
    occurred_at: str | None = typer.Option(None, help="When it was said (RFC 3339)."),
    metadata: str | None = typer.Option(None, help="A JSON object stored with the turn."),
    api_key: str | None = ApiKey,
    url: str = Url,
    tenant: str | None = TenantId,
) -> None:
    """Store one turn; prints its id. (Bulk loads and embeddings: `import`.)"""
    turn: dict[str, Any] = {
        "agent_id": agent_id,
        "user_id": user_id,
        "role": role,
        "content": content,
        "conversation_id": conversation_id,
        "id": id,
        "occurred_at": occurred_at,
        "metadata": _json_object(metadata, "metadata"),
    }
    with memory_for(ctx, api_key, url, tenant) as memory:
        stored = memory.remember_one({k: v for k, v in turn.items() if v is not None})
    typer.echo(str(stored.id))


def recall(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="The new message to find older relevant turns for."),
    agent_id: str | None = Agent,
    user_id: str | None = User,
    k: int = typer.Option(10, help=f"How many turns (1-{MAX_K})."),
    since: str | None = Since,
    until: str | None = Until,
    conversation_id: str | None = Thread,
    roles: list[str] | None = Roles,
    min_score: float | None = MinScore,
    as_of: str | None = AsOf,
    api_key: str | None = ApiKey,
    url: str = Url,
    tenant: str | None = TenantId,
    as_json: bool = AsJson,
) -> None:
    """The turns most relevant to QUERY, best first: score, id, time, role and content."""
    with memory_for(ctx, api_key, url, tenant) as memory:
        hits = memory.recall(
            agent_id,
            user_id,
            query,
            k,
            since,
            until,
            conversation_id,
            roles or None,
            min_score,
            as_of=as_of,
        )
    _print(hits, as_json)


def recall_across_users(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="The new message to find older relevant turns for."),
    agent_id: str | None = Agent,
    k: int = typer.Option(10, help=f"How many turns (1-{MAX_K})."),
    since: str | None = Since,
    until: str | None = Until,
    conversation_id: str | None = Thread,
    roles: list[str] | None = Roles,
    min_score: float | None = MinScore,
    as_of: str | None = AsOf,
    api_key: str | None = ApiKey,
    url: str = Url,
    tenant: str | None = TenantId,
    as_json: bool = AsJson,
) -> None:
    """Like recall, over every user of the agent."""
    with memory_for(ctx, api_key, url, tenant) as memory:
        hits = memory.recall_across_users(
            agent_id, query, k, since, until, conversation_id, roles or None, min_score, as_of=as_of
        )
    _print(hits, as_json)


def history(
    ctx: typer.Context,
    agent_id: str | None = Agent,
    user_id: str | None = User,
    limit: int = typer.Option(20, help=f"How many turns (1-{MAX_HISTORY})."),
    before: str | None = typer.Option(None, help="Turn id: show turns older than it."),
    conversation_id: str | None = Thread,
    since: str | None = Since,
    until: str | None = Until,
    roles: list[str] | None = Roles,
    as_of: str | None = AsOf,
    api_key: str | None = ApiKey,
    url: str = Url,
    tenant: str | None = TenantId,
    as_json: bool = AsJson,
) -> None:
    """The most recent turns, oldest first."""
    with memory_for(ctx, api_key, url, tenant) as memory:
        turns = memory.history(
            agent_id, user_id, limit, conversation_id, before, since, until, roles or None, as_of
        )
    _print(turns, as_json)


def context(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="The new message the agent is about to answer."),
    agent_id: str | None = Agent,
    user_id: str | None = User,
    recent: int = typer.Option(10, help=f"How many recent turns (0-{MAX_HISTORY})."),
    k: int = typer.Option(5, help=f"How many recalled older turns (0-{MAX_K})."),
    max_tokens: int | None = typer.Option(None, help="Budget of the text block, in tokens."),
    conversation_id: str | None = Thread,
    min_score: float | None = typer.Option(
        None, "--min-score", help="Leave out recalled turns scoring below this (0-1)."
    ),
    as_of: str | None = AsOf,
    api_key: str | None = ApiKey,
    url: str = Url,
    tenant: str | None = TenantId,
    as_json: bool = AsJson,
) -> None:
    """The prompt-ready context block for QUERY (with --json: the whole answer)."""
    with memory_for(ctx, api_key, url, tenant) as memory:
        answer = memory.context(
            agent_id, user_id, query, recent, k, max_tokens, conversation_id, min_score, as_of
        )
    typer.echo(answer.model_dump_json() if as_json else answer.text)


def turn(
    ctx: typer.Context,
    turn_id: str = typer.Argument(..., help="The turn's UUID."),
    agent_id: str | None = typer.Option(None, "--agent-id", help="Only a turn of this agent."),
    user_id: str | None = typer.Option(None, "--user-id", help="Only a turn of this user."),
    api_key: str | None = ApiKey,
    url: str = Url,
    tenant: str | None = TenantId,
    as_json: bool = AsJson,
) -> None:
    """One stored turn by id (with --json: with its metadata)."""
    with memory_for(ctx, api_key, url, tenant) as memory:
        found = memory.get_turn(turn_id, agent_id=agent_id, user_id=user_id)
    if as_json:
        typer.echo(found.model_dump_json())
    else:
        _print([found], as_json=False)


def scopes(
    ctx: typer.Context,
    agent_id: str | None = Agent,
    user_id: str | None = User,
    limit: int = typer.Option(100, help=f"How many scopes (1-{MAX_LISTED})."),
    offset: int = typer.Option(0, help="Skip this many (paging)."),
    api_key: str | None = ApiKey,
    url: str = Url,
    tenant: str | None = TenantId,
    as_json: bool = AsJson,
) -> None:
    """The (agent, user, conversation) scopes holding turns: turn count and time span."""
    with memory_for(ctx, api_key, url, tenant) as memory:
        found: list[ScopeSummary] = memory.list_scopes(agent_id, user_id, limit, offset)
    for scope in found:
        if as_json:
            typer.echo(scope.model_dump_json())
            continue
        span = f"{scope.first_occurred_at:%Y-%m-%d} .. {scope.last_occurred_at:%Y-%m-%d}"
        thread = scope.conversation_id if scope.conversation_id is not None else "-"
        typer.echo(f"{scope.agent_id}  {scope.user_id}  {thread}  {scope.turns} turns  {span}")


def whoami(
    ctx: typer.Context,
    api_key: str | None = ApiKey,
    url: str = Url,
    tenant: str | None = TenantId,
) -> None:
    """The key's tenant, scopes and binding (with --tenant: the tenant's owner)."""
    with memory_for(ctx, api_key, url, tenant) as memory:
        typer.echo(memory.whoami().model_dump_json(indent=2))


def _json_object(text: str | None, name: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        raise InvalidInput(name, "is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidInput(name, "must be a JSON object")
    return value
