"""Retrieval quality on LoCoMo-format data, through the public library API.

    python bench/retrieval_quality.py ../shared/data/locomo-dev.json

Mapping (the one every quoted figure uses): one (tenant, agent, user) scope per conversation;
speaker_a -> role 'user', speaker_b -> role 'assistant'; content "<speaker>: <text>";
occurred_at from the session's date (turns a second apart, in order); each session its own
conversation_id (a chat app's thread: "session_<n>"); questions of
categories 1-4; metric = turn-level evidence recall@k (share of a question's evidence turns
among the top k hits, averaged over questions).

Turn ids are derived from the conversation and dialogue ids, so a re-run against the same data
directory stores nothing new (idempotent retries) and skips straight to the questions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from konstruct_memory.config import Settings
from konstruct_memory.engine.ranking import RecallTuning
from konstruct_memory.library import Memory, TenantMemory

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
NAMESPACE = uuid.UUID("6f1d3c2a-5b4e-4c8d-9a7f-0e1b2c3d4e5f")
AGENT = uuid.uuid5(NAMESPACE, "agent")


def session_time(text: str) -> datetime:
    """'1:56 pm on 8 May, 2023' -> an aware datetime (UTC)."""
    return datetime.strptime(text, "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def turns_of(sample: dict[str, Any]) -> list[dict[str, Any]]:
    conv = sample["conversation"]
    roles = {conv["speaker_a"]: "user", conv["speaker_b"]: "assistant"}
    turns = []
    n = 1
    while f"session_{n}" in conv:
        start = session_time(conv[f"session_{n}_date_time"])
        for i, turn in enumerate(conv[f"session_{n}"]):
            turns.append(
                {
                    "id": uuid.uuid5(NAMESPACE, f"{sample['sample_id']}/{turn['dia_id']}"),
                    "agent_id": AGENT,
                    "user_id": sample["sample_id"],
                    "role": roles[turn["speaker"]],
                    "content": f"{turn['speaker']}: {turn['text']}",
                    "occurred_at": start + timedelta(seconds=i),
                    "conversation_id": f"session_{n}",
                    "metadata": {"dia_id": turn["dia_id"]},
                }
            )
        n += 1
    return turns


def ingest(memory: Memory, samples: list[dict[str, Any]]) -> tuple[dict[str, TenantMemory], float]:
    tenants = {t.name: t.id for t in memory.list_tenants()}
    scoped, stored, seconds = {}, 0, 0.0
    for sample in samples:
        name = f"locomo-{sample['sample_id']}"
        tenant_id = tenants.get(name) or memory.create_tenant(name).id
        scoped[sample["sample_id"]] = memory.tenant(tenant_id)
        turns = turns_of(sample)
        started = time.perf_counter()
        for i in range(0, len(turns), 100):
            scoped[sample["sample_id"]].remember(turns[i : i + 100])
        seconds += time.perf_counter() - started
        stored += len(turns)
    return scoped, stored / seconds if seconds else 0.0


BANDS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.7]


def evaluate(
    scoped: dict[str, TenantMemory],
    samples: list[dict[str, Any]],
    ks: list[int],
    scored: list[tuple[float, bool]] | None = None,
) -> tuple[dict[int, dict[str, list[float]]], list[float]]:
    """Per k, per category: the recall of each question; and each recall call's latency.
    With ``scored``, every hit's (score, is evidence) is appended to it."""
    recalls: dict[int, dict[str, list[float]]] = {k: defaultdict(list) for k in ks}
    latencies = []
    for sample in samples:
        memory = scoped[sample["sample_id"]]
        ids = {t["metadata"]["dia_id"]: t["id"] for t in turns_of(sample)}
        for qa in sample["qa"]:
            evidence = {ids[e] for e in qa.get("evidence", []) if e in ids}
            if qa["category"] not in CATEGORIES or not evidence:
                continue
            started = time.perf_counter()
            hits = memory.recall(AGENT, sample["sample_id"], qa["question"], k=max(ks))
            latencies.append(time.perf_counter() - started)
            ranked = [h.id for h in hits]
            if scored is not None:
                scored += [(h.score, h.id in evidence) for h in hits]
            for k in ks:
                found = len(evidence & set(ranked[:k])) / len(evidence)
                recalls[k][CATEGORIES[qa["category"]]].append(found)
                recalls[k]["overall"].append(found)
                recalls[k][f"conversation {sample['sample_id']}"].append(found)
    return recalls, latencies


def parse_tuning(pairs: list[str]) -> RecallTuning:
    tuning = RecallTuning()
    types = {f.name: type(getattr(tuning, f.name)) for f in fields(tuning)}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in types:
            sys.exit(f"unknown tuning knob {name!r}; known: {', '.join(types)}")
        tuning = replace(tuning, **{name: types[name](value)})
    return tuning


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="LoCoMo-format JSON file")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "konstruct-memory-bench",
        help="embedded server data directory (reused between runs)",
    )
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--tuning", nargs="*", default=[], help="RecallTuning overrides, a=b")
    parser.add_argument(
        "--grid",
        nargs="+",
        metavar="CANDIDATE",
        help="leave-one-conversation-out: candidate tunings, each 'a=b c=d' ('' = defaults); "
        "for each conversation, the candidate best on the others is scored on it",
    )
    args = parser.parse_args()
    if args.grid:
        leave_one_out(args.path, args.data_dir, args.grid)
        return

    samples = json.loads(args.path.read_text())
    settings = Settings(data_dir=args.data_dir, database_url=None, admin_database_url=None)
    tuning = parse_tuning(args.tuning)
    with Memory.open(settings, tuning=tuning) as memory:
        scoped, ingest_rate = ingest(memory, samples)
        scored: list[tuple[float, bool]] = []
        recalls, latencies = evaluate(scoped, samples, args.k, scored)

    n_turns = sum(len(turns_of(s)) for s in samples)
    print(f"data: {args.path.name}, {len(samples)} conversations, {n_turns} turns")
    print(f"tuning: {tuning}")
    print(f"ingest: {ingest_rate:.0f} turns/s (0 work if already stored)")
    header = ["category", "n"] + [f"recall@{k}" for k in args.k]
    print(" | ".join(header))
    conversations = [f"conversation {s['sample_id']}" for s in samples]
    for name in ["overall", *CATEGORIES.values(), *conversations]:
        row = [name, str(len(recalls[args.k[0]][name]))]
        row += [f"{statistics.fmean(recalls[k][name]):.3f}" for k in args.k]
        print(" | ".join(row))
    print_bands(scored, f"hits in the top {max(args.k)}", "evidence")
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print(
        f"recall latency: median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms "
        f"over {len(ms)} queries (query embedding included)"
    )


def print_bands(scored: list[tuple[float, bool]], hits: str, truth: str) -> None:
    """What a score means on this data: for each threshold, the share of the true hits scoring
    at least that much, and the share of the hits at least that high that are true."""
    true = sum(1 for _, good in scored if good)
    print(f"score bands ({len(scored)} {hits}, {true} of them {truth}):")
    print(f"min_score | {truth} kept | hits kept | {truth} among hits kept")
    for band in BANDS:
        kept = [good for score, good in scored if score >= band]
        share = sum(kept) / true if true else 0.0
        precision = sum(kept) / len(kept) if kept else 0.0
        print(f"{band:.1f} | {share:.3f} | {len(kept) / len(scored):.3f} | {precision:.3f}")


def leave_one_out(path: Path, data_dir: Path, grid: list[str]) -> None:
    """Choose a tuning on all conversations but one, score it on that one, for each one."""
    samples = json.loads(path.read_text())
    settings = Settings(data_dir=data_dir, database_url=None, admin_database_url=None)
    names = [f"conversation {s['sample_id']}" for s in samples]
    # recall@10 of each question, by candidate and conversation
    results: dict[str, dict[str, list[float]]] = {}
    for candidate in grid:
        with Memory.open(settings, tuning=parse_tuning(candidate.split())) as memory:
            scoped, _ = ingest(memory, samples)
            recalls, _ = evaluate(scoped, samples, [10])
        results[candidate] = {name: recalls[10][name] for name in names}
        scores = " ".join(f"{statistics.fmean(results[candidate][n]):.3f}" for n in names)
        print(f"candidate {candidate or '(defaults)'!r}: recall@10 per conversation {scores}")
    held_out: list[float] = []
    for name in names:
        others = [n for n in names if n != name]

        def on_others(candidate: str, others: list[str] = others) -> float:
            return statistics.fmean(x for n in others for x in results[candidate][n])

        chosen = max(grid, key=on_others)
        score = statistics.fmean(results[chosen][name])
        held_out += results[chosen][name]
        print(f"held out {name}: chose {chosen or '(defaults)'!r}, recall@10 {score:.3f}")
    print(f"leave-one-conversation-out recall@10: {statistics.fmean(held_out):.3f}")


if __name__ == "__main__":
    main()
