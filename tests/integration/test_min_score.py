"""``min_score`` on recall, recall across users and context: the library, HTTP (and its 422s),
both clients and the CLI leave out exactly the hits scoring below it, and nothing else."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from konstruct_memory.cli import app as cli_app
from konstruct_memory.client import AsyncClient, Client
from konstruct_memory.errors import InvalidInput
from konstruct_memory.library import Memory, TenantMemory
from konstruct_memory.operations import Hit
from konstruct_memory.serving import create_app
from tests.conftest import DatabaseUnderTest
from tests.scored import (
    AGENT,
    N_ALL,
    N_USER,
    OTHER_USER,
    QUERY,
    SAID,
    USER,
    Scene,
    ids,
    kept,
    middle_threshold,
    stored_scene,
)

ROUTES = ["/v1/recall", "/v1/recall/across-users", "/v1/context"]
ROLES = ("user", "assistant")


@pytest.fixture(scope="module")
def scene(memory: Memory) -> Scene:
    return stored_scene(memory)


@pytest.fixture(scope="module")
def owner(memory: Memory, scene: Scene) -> TenantMemory:
    return memory.tenant(scene.tenant_id)


@pytest.fixture(scope="module")
def unthresholded(owner: TenantMemory) -> list[Hit]:
    """Every turn of the user, as recall ranks them without a threshold."""
    hits = owner.recall(AGENT, USER, QUERY, k=N_USER)
    assert len(hits) == N_USER
    return hits


@pytest.fixture(scope="module")
def http(memory: Memory) -> Iterator[TestClient]:
    app = create_app(memory.settings, memory=memory, admin_token="min-score-admin")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def body_for(path: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"agent_id": AGENT, "query": QUERY, **fields}
    if path != "/v1/recall/across-users":
        body["user_id"] = USER
    return body


# -- the library -----------------------------------------------------------------------------


def test_hits_below_min_score_are_left_out_and_the_rest_kept_in_order(
    owner: TenantMemory, unthresholded: list[Hit]
) -> None:
    threshold = middle_threshold(unthresholded)
    answer = owner.recall(AGENT, USER, QUERY, k=N_USER, min_score=threshold)
    assert ids(answer) == kept(unthresholded, threshold)
    assert [hit.score for hit in answer] == [
        hit.score for hit in unthresholded if hit.score >= threshold
    ]
    # k still bounds the answer: the threshold drops from the top k, never adds past it.
    assert ids(owner.recall(AGENT, USER, QUERY, k=1, min_score=threshold)) == ids(unthresholded)[:1]


def test_a_hit_scoring_exactly_min_score_is_kept(
    owner: TenantMemory, unthresholded: list[Hit]
) -> None:
    """The bound is the score as answered: a threshold copied from a hit keeps that hit."""
    for level in sorted({hit.score for hit in unthresholded})[1:]:
        answer = owner.recall(AGENT, USER, QUERY, k=N_USER, min_score=level)
        assert ids(answer) == kept(unthresholded, level), f"min_score={level}"


def test_min_score_zero_drops_nothing_and_one_keeps_only_perfect_hits(
    owner: TenantMemory, unthresholded: list[Hit]
) -> None:
    assert owner.recall(AGENT, USER, QUERY, k=N_USER, min_score=0) == unthresholded
    assert owner.recall(AGENT, USER, QUERY, k=N_USER, min_score=0.0) == unthresholded
    perfect = owner.recall(AGENT, USER, QUERY, k=N_USER, min_score=1.0)
    assert ids(perfect) == [hit.id for hit in unthresholded if hit.score >= 1.0]
    assert all(hit.score == 1.0 for hit in perfect)


def test_recall_across_users_and_context_take_min_score(owner: TenantMemory) -> None:
    across = owner.recall_across_users(AGENT, QUERY, k=N_ALL)
    assert {hit.user_id for hit in across} == {USER, OTHER_USER}
    threshold = middle_threshold(across)
    answer = owner.recall_across_users(AGENT, QUERY, k=N_ALL, min_score=threshold)
    assert ids(answer) == kept(across, threshold)

    # Context recalls from the same ranking: with no recent window, the same turns.
    full = owner.context(AGENT, USER, QUERY, recent=0, k=N_USER)
    assert len(full.recalled) == N_USER
    threshold = middle_threshold(full.recalled)
    narrowed = owner.context(AGENT, USER, QUERY, recent=0, k=N_USER, min_score=threshold)
    assert set(ids(narrowed.recalled)) == set(kept(full.recalled, threshold))
    assert all(hit.score >= threshold for hit in narrowed.recalled)
    dropped = [hit.content for hit in full.recalled if hit.score < threshold]
    assert not any(content in narrowed.text for content in dropped)
    # The recent window is not thresholded: only what is recalled is.
    recent = owner.context(AGENT, USER, QUERY, recent=N_USER, k=N_USER, min_score=1.0)
    assert len(recent.recent) == N_USER and recent.recalled == []


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.5", True, float("nan"), float("inf")])
def test_the_library_refuses_a_bad_min_score_naming_it(owner: TenantMemory, bad: Any) -> None:
    for call in (
        lambda: owner.recall(AGENT, USER, QUERY, min_score=bad),
        lambda: owner.recall_across_users(AGENT, QUERY, min_score=bad),
        lambda: owner.context(AGENT, USER, QUERY, min_score=bad),
    ):
        with pytest.raises(InvalidInput) as refused:
            call()
        assert refused.value.field == "min_score"


# -- HTTP ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.5", True, 2])
def test_a_bad_min_score_is_422_naming_the_field(
    http: TestClient, scene: Scene, path: str, bad: Any
) -> None:
    headers = {"Authorization": f"Bearer {scene.api_key}"}
    response = http.post(path, json=body_for(path, min_score=bad), headers=headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["message"].startswith("min_score: ")


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_json_literals_are_422_naming_the_field(
    http: TestClient, scene: Scene, path: str, literal: bytes
) -> None:
    body = json.dumps(body_for(path, min_score=0.5)).encode().replace(b"0.5", literal)
    headers = {"Authorization": f"Bearer {scene.api_key}", "Content-Type": "application/json"}
    response = http.post(path, content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith("min_score: ")


def test_http_thresholds_as_the_library_does_and_null_means_none(
    http: TestClient, scene: Scene, unthresholded: list[Hit]
) -> None:
    headers = {"Authorization": f"Bearer {scene.api_key}"}
    threshold = middle_threshold(unthresholded)
    hits = http.post(
        "/v1/recall", json=body_for("/v1/recall", k=N_USER, min_score=threshold), headers=headers
    ).json()["hits"]
    assert ids(hits) == kept(unthresholded, threshold)
    unset = http.post(
        "/v1/recall", json=body_for("/v1/recall", k=N_USER, min_score=None), headers=headers
    )
    assert ids(unset.json()["hits"]) == ids(unthresholded)
    context = http.post(
        "/v1/context",
        json=body_for("/v1/context", recent=0, k=N_USER, min_score=threshold),
        headers=headers,
    ).json()
    assert set(ids(context["recalled"])) == set(kept(unthresholded, threshold))


def test_the_openapi_schema_shows_min_score_on_the_three_bodies(http: TestClient) -> None:
    schema = http.get("/openapi.json").json()
    for name in ("RecallRequest", "RecallAcrossUsersRequest", "ContextRequest"):
        field = schema["components"]["schemas"][name]["properties"]["min_score"]
        number = next(option for option in field["anyOf"] if option.get("type") == "number")
        assert (number["minimum"], number["maximum"]) == (0, 1), name
        assert {"type": "null"} in field["anyOf"] and field.get("default") is None
        assert "below" in field.get("description", number.get("description", "")), name
        assert "min_score" not in schema["components"]["schemas"][name].get("required", [])


# -- the clients -----------------------------------------------------------------------------


def test_both_clients_pass_min_score(
    base_url: str, scene: Scene, owner: TenantMemory, unthresholded: list[Hit]
) -> None:
    threshold = middle_threshold(unthresholded)
    across = owner.recall_across_users(AGENT, QUERY, k=N_ALL)
    across_threshold = middle_threshold(across)
    with Client(base_url, scene.api_key) as client:
        assert ids(client.recall(user_id=USER, query=QUERY, k=N_USER, min_score=threshold)) == (
            kept(unthresholded, threshold)
        )
        assert ids(
            client.recall_across_users(query=QUERY, k=N_ALL, min_score=across_threshold)
        ) == kept(across, across_threshold)
        context = client.context(user_id=USER, query=QUERY, recent=0, k=N_USER, min_score=1.0)
        assert ids(context.recalled) == [hit.id for hit in unthresholded if hit.score >= 1.0]
        with pytest.raises(InvalidInput) as refused:
            client.recall(user_id=USER, query=QUERY, min_score=1.5)
        assert refused.value.field == "min_score"

    async def from_the_async_client() -> tuple[list[Hit], list[Hit], list[Hit]]:
        async with AsyncClient(base_url, scene.api_key) as client:
            return (
                await client.recall(user_id=USER, query=QUERY, k=N_USER, min_score=threshold),
                await client.recall_across_users(query=QUERY, k=N_ALL, min_score=across_threshold),
                (
                    await client.context(
                        user_id=USER, query=QUERY, recent=0, k=N_USER, min_score=threshold
                    )
                ).recalled,
            )

    recalled, recalled_across, in_context = asyncio.run(from_the_async_client())
    assert ids(recalled) == kept(unthresholded, threshold)
    assert ids(recalled_across) == kept(across, across_threshold)
    assert set(ids(in_context)) == set(kept(unthresholded, threshold))


# -- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def cli(database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("KONSTRUCT_MEMORY_DATABASE_URL", database.runtime_url)
    monkeypatch.setenv("KONSTRUCT_MEMORY_ADMIN_DATABASE_URL", database.admin_url)
    monkeypatch.delenv("KONSTRUCT_MEMORY_API_KEY", raising=False)
    return CliRunner()


def run(cli: CliRunner, *args: str, ok: bool = True) -> str:
    result = cli.invoke(cli_app, list(args), catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines()]


def scored(output: str) -> list[Hit]:
    return [Hit.model_validate(line) for line in json_lines(output)]


def check_the_cli(cli: CliRunner, reach: list[str]) -> None:
    """Each thresholded command answers what its unthresholded run answers at or above it."""
    where = [*reach, "--agent-id", AGENT]
    one_user = [*where, "--user-id", USER, QUERY]
    whole = scored(run(cli, "recall", *one_user, "--k", str(N_USER), "--json"))
    assert len(whole) == N_USER
    threshold = middle_threshold(whole)
    hits = run(
        cli, "recall", *one_user, "--k", str(N_USER), "--min-score", repr(threshold), "--json"
    )
    assert ids(scored(hits)) == kept(whole, threshold)

    wide = scored(run(cli, "recall-across-users", *where, QUERY, "--k", str(N_ALL), "--json"))
    assert len(wide) == N_ALL
    wide_threshold = middle_threshold(wide)
    found = run(
        cli, "recall-across-users", *where, QUERY, "--k", str(N_ALL),
        "--min-score", repr(wide_threshold), "--json",
    )  # fmt: skip
    assert ids(scored(found)) == kept(wide, wide_threshold)

    context = run(
        cli, "context", *one_user, "--recent", "0", "--k", str(N_USER),
        "--min-score", repr(threshold), "--json",
    )  # fmt: skip
    assert set(ids(json.loads(context)["recalled"])) == set(kept(whole, threshold))

    refused = run(cli, "recall", *one_user, "--min-score", "1.5", ok=False)
    assert "min_score: " in refused
    assert "min_score: " in run(cli, "context", *one_user, "--min-score", "-1", ok=False)
    assert "--min-score" in run(cli, "recall", *one_user, "--min-score", "high", ok=False)


def test_the_cli_takes_min_score_over_http(cli: CliRunner, base_url: str, scene: Scene) -> None:
    check_the_cli(cli, ["--api-key", scene.api_key, "--url", base_url])


def test_the_cli_takes_min_score_directly(cli: CliRunner, tmp_path: Path) -> None:
    """Directly on the database, as the tenant (turns embedded by the configured model)."""
    output = run(cli, "tenant", "create", "min-score-cli")
    tenant = dict(re.findall(r"^(\w+): (\S+)$", output, flags=re.M))["tenant_id"]
    lines = tmp_path / "turns.jsonl"
    lines.write_text(
        "".join(
            json.dumps({"agent_id": AGENT, "user_id": user, "role": ROLES[i % 2], "content": said})
            + "\n"
            for user, contents in SAID.items()
            for i, said in enumerate(contents)
        )
    )
    run(cli, "import", str(lines), "--tenant", tenant)
    check_the_cli(cli, ["--tenant", tenant])


@pytest.mark.parametrize("command", ["recall", "recall-across-users", "context"])
def test_the_cli_help_says_what_min_score_does(cli: CliRunner, command: str) -> None:
    # Rich draws the options in a box: its borders go, the words stay.
    shown = " ".join(run(cli, command, "--help").replace("│", " ").split())
    assert "--min-score" in shown and "scoring below this" in shown
