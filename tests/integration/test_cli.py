"""The operator CLI, in-process, against the test database and the served API."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from konstruct_memory.cli import app
from tests.conftest import DatabaseUnderTest

AGENT = "55555555-5555-4555-8555-555555555555"
COMMANDS = [
    [],
    ["migrate"],
    ["db-url"],
    ["serve"],
    ["tenant"],
    ["tenant", "create"],
    ["tenant", "list"],
    ["tenant", "update"],
    ["erase"],
    ["erase", "export"],
    ["erase", "replay"],
    ["erasures"],
    ["audit"],
    ["retention"],
    ["retention", "run"],
    ["maintenance"],
    ["maintenance", "status"],
    ["model"],
    ["model", "install"],
    ["model", "path"],
    ["key", "create"],
    ["key", "list"],
    ["key", "revoke"],
    ["remember"],
    ["recall"],
    ["recall-across-users"],
    ["history"],
    ["context"],
    ["import"],
    ["vector-index"],
    ["vector-index", "status"],
    ["vector-index", "drop"],
    ["vector-index", "build"],
    ["server"],
    ["server", "start"],
    ["server", "stop"],
    ["server", "status"],
    ["server", "standby"],
]


@pytest.fixture
def cli(database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("KONSTRUCT_MEMORY_DATABASE_URL", database.runtime_url)
    monkeypatch.setenv("KONSTRUCT_MEMORY_ADMIN_DATABASE_URL", database.admin_url)
    monkeypatch.delenv("KONSTRUCT_MEMORY_API_KEY", raising=False)
    return CliRunner()


def run(cli: CliRunner, *args: str, ok: bool = True) -> str:
    result = cli.invoke(app, list(args), catch_exceptions=False)
    if not ok:
        assert "error: " in result.output or "Error" in result.output, result.output
    assert (result.exit_code == 0) == ok, result.output
    return result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(cli: CliRunner, command: list[str]) -> None:
    assert "Usage" in run(cli, *command, "--help")


def created(output: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+): (\S+)$", output, flags=re.M))


def test_tenants_and_keys(cli: CliRunner) -> None:
    tenant = created(run(cli, "tenant", "create", "cli-co"))
    assert tenant["api_key"].startswith("km_")
    assert f"{tenant['tenant_id']}" in run(cli, "tenant", "list")
    key = created(run(cli, "key", "create", tenant["tenant_id"]))
    assert "revoked" in run(cli, "key", "revoke", key["api_key_id"])
    assert "no such API key" in run(cli, "key", "revoke", str(uuid.uuid4()), ok=False)
    assert "no such tenant" in run(cli, "key", "create", str(uuid.uuid4()), ok=False)


def test_bound_keys_and_listing(cli: CliRunner) -> None:
    tenant = created(run(cli, "tenant", "create", "bound-cli"))["tenant_id"]
    bound = ["--tenant", tenant, "--agent", AGENT, "--user", "U1", "--scope", "read"]
    key = created(run(cli, "key", "create", *bound, "--name", "support"))
    assert (key["scopes"], key["agent_id"], key["user_id"]) == ("read", AGENT, "U1")
    listing = run(cli, "key", "list", "--tenant", tenant)
    assert f"{key['api_key_id']}  live  read  agent={AGENT} user=U1  support" in listing
    assert key["api_key"] not in listing, "secrets are shown once, never listed"
    assert "scopes" in run(cli, "key", "create", "--tenant", tenant, "--scope", "all", ok=False)
    assert "once" in run(cli, "key", "create", tenant, "--tenant", tenant, ok=False)


def test_direct_remember_recall_history(cli: CliRunner) -> None:
    tenant = created(run(cli, "tenant", "create", "direct"))["tenant_id"]
    where = ["--tenant", tenant, "--agent-id", AGENT, "--user-id", "U1"]
    run(cli, "remember", *where, "My sister lives in Lisbon")
    run(cli, "remember", *where, "--role", "assistant", "Lovely city!")
    assert "user: My sister lives in Lisbon" in run(
        cli, "recall", *where, "where is my sister?", "--k", "1"
    )
    turns = [json.loads(line) for line in run(cli, "history", *where, "--json").splitlines()]
    assert [t["content"] for t in turns] == ["My sister lives in Lisbon", "Lovely city!"]
    mine = run(cli, "history", *where, "--role", "user", "--since", turns[0]["occurred_at"])
    assert "My sister lives in Lisbon" in mine and "Lovely city!" not in mine
    assert "role" in run(cli, "remember", *where, "--role", "bot", "x", ok=False)
    across = run(cli, "recall-across-users", "--tenant", tenant, "--agent-id", AGENT, "sister")
    assert "My sister lives in Lisbon" in across
    block = run(cli, "context", *where, "where does my sister live?", "--recent", "1")
    assert "Recent conversation:" in block and "Lovely city!" in block
    assert "roles" in run(cli, "recall", *where, "x", "--role", "bot", ok=False)
    assert "exactly one of" in run(cli, "history", "--agent-id", AGENT, "--user-id", "U1", ok=False)


def test_erasure_retention_and_audit_from_the_command_line(cli: CliRunner) -> None:
    tenant = created(run(cli, "tenant", "create", "lifecycle-cli"))["tenant_id"]
    where = ["--tenant", tenant, "--agent-id", AGENT, "--user-id", "U1"]
    run(cli, "remember", *where, "I was here", "--occurred-at", "2020-01-01T00:00:00+00:00")
    run(cli, "remember", *where, "so was I")
    updated = run(cli, "tenant", "update", tenant, "--retention-days", "365", "--audit-reads")
    assert "retention: 365 days  audit_reads: true" in updated
    assert "a number, or 'keep'" in run(
        cli, "tenant", "update", tenant, "--retention-days", "x", ok=False
    )
    limited = run(cli, "tenant", "update", tenant, "--rate-limit-per-s", "2.5")
    assert "rate_limit: 2.5/s" in limited
    assert "rate_limit: none" in run(cli, "tenant", "update", tenant, "--rate-limit-per-s", "none")
    assert "removed" in run(cli, "retention", "run", "--batch", "10")
    run(cli, "history", *where)
    audit = run(cli, "audit", "--tenant", tenant, "--json").splitlines()
    assert [json.loads(line)["operation"] for line in audit] == ["history"]
    erased = run(cli, "erase", "--tenant", tenant, "--user", "U1")
    assert "  user  turns_erased=1  audit_rows_erased=1" in erased
    assert "name --agent, --user" in run(cli, "erase", "--tenant", tenant, ok=False)
    ledger = run(cli, "erasures", "--tenant", tenant)
    assert "retention  turns_erased=1" in ledger and "user  turns_erased=1" in ledger
    newest = run(cli, "erasures", "--tenant", tenant, "--order", "desc", "--json").splitlines()
    assert [json.loads(line)["kind"] for line in newest] == ["user", "retention"]
    older = run(cli, "erasures", "--tenant", tenant, "--before", json.loads(newest[0])["id"])
    assert "retention  turns_erased=1" in older and "user  turns_erased" not in older
    kept = run(cli, "tenant", "update", tenant, "--retention-days", "keep", "--no-audit-reads")
    assert "retention: forever  audit_reads: false" in kept


def test_http_path_takes_the_tenant_from_the_key(cli: CliRunner, base_url: str) -> None:
    key = created(run(cli, "tenant", "create", "over-http"))["api_key"]
    http = ["--api-key", key, "--url", base_url, "--agent-id", AGENT, "--user-id", "U7"]
    turn_id = run(cli, "remember", *http, "The wifi password is on the fridge").strip()
    uuid.UUID(turn_id)
    assert turn_id in run(cli, "recall", *http, "wifi password")
    assert "The wifi password" in run(cli, "history", *http)
    bad = ["--api-key", "km_nope", "--url", base_url, "--agent-id", AGENT, "--user-id", "U7"]
    assert "revoked API key" in run(cli, "history", *bad, ok=False)


def test_import_is_batched_resumable_and_idempotent(cli: CliRunner, tmp_path: Path) -> None:
    tenant = created(run(cli, "tenant", "create", "importer"))["tenant_id"]
    lines = [
        json.dumps(
            {
                "agent_id": AGENT,
                "user_id": "U9",
                "role": "user",
                "content": f"imported line {i}",
                "occurred_at": f"2026-02-01T10:00:{i:02d}+00:00",
            }
        )
        for i in range(7)
    ]
    vector = [0.0] * 384
    vector[3] = 1.0
    lines.insert(
        3,
        json.dumps(
            {
                "agent_id": AGENT,
                "user_id": "U9",
                "role": "assistant",
                "content": "with a vector",
                "embedding": vector,
                "occurred_at": "2026-02-01T10:00:03+00:00",
            }
        ),
    )
    path = tmp_path / "turns.jsonl"
    path.write_text("\n".join(lines) + "\n\n")
    run(cli, "import", str(path), "--tenant", tenant, "--batch-size", "3")
    assert (tmp_path / "turns.jsonl.progress").read_text() == str(len(lines) + 1)
    run(cli, "import", str(path), "--tenant", tenant, "--restart")
    history = run(
        cli, "history", "--tenant", tenant, "--agent-id", AGENT, "--user-id", "U9", "--json"
    )
    assert len(history.splitlines()) == 8, "re-running stored nothing twice"

    broken = tmp_path / "broken.jsonl"
    broken.write_text(lines[0] + "\n" + lines[1] + "\n{oops\n")
    assert "line 3" in run(
        cli, "import", str(broken), "--tenant", tenant, "--batch-size", "2", ok=False
    )
    assert (tmp_path / "broken.jsonl.progress").read_text() == "2"
    invalid = tmp_path / "invalid.jsonl"
    invalid.write_text(
        lines[0]
        + "\n"
        + json.dumps({"agent_id": AGENT, "user_id": "U9", "role": "bot", "content": "x"})
        + "\n"
    )
    assert "line 2: role" in run(cli, "import", str(invalid), "--tenant", tenant, ok=False)
