"""Recall on small scopes: users with 1-50 turns of everyday chat, through the public library.

    python bench/small_scopes.py                  # every template, seeds 0-4
    python bench/small_scopes.py --half 0         # only the first half of each pattern's list
    python bench/small_scopes.py --tuning keyword_weight=0.5

Each scope is one user's memory built from bench/small_scope_templates.py: the pattern under
test (a stated fact and its echoing acknowledgement; a fact corrected later; a question the
assistant answered), other users' kinds of facts with their acknowledgements, and small talk,
in a seeded random order and size. Its paraphrased question is then recalled (k=10). Printed:
precision@1 and MRR of the answering turn, by pattern and by scope size, and how many turns
with no own relevance (ranking.has_own_relevance: no keyword in common, cosine at or under
ranking.RELEVANCE_FLOOR) ranked above an answer. ``--half`` scores one half of the templates,
to check that a choice made while looking at the other half holds on facts it was not made on.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from retrieval_quality import parse_tuning, print_bands
from small_scope_templates import ANSWERED, CORRECTED, FILLER, STATED, Answered, Corrected, Stated

from konstruct_memory.config import Settings
from konstruct_memory.engine import ranking
from konstruct_memory.library import Memory

AGENT = uuid.UUID("5a11c0de-0000-4000-8000-000000000001")
SIZES = [1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50]
Template = Stated | Corrected | Answered


@dataclass
class Case:
    user_id: str
    pattern: str
    turns: list[tuple[str, str]]  # (role, content), oldest first
    answer: int  # index into turns
    question: str


def pattern_turns(item: Template) -> list[tuple[str, str]]:
    if isinstance(item, Stated):
        return [("user", item.fact), ("assistant", item.ack)]
    if isinstance(item, Corrected):
        return [("user", item.fact), ("assistant", item.ack)]
    return [("user", item.ask), ("assistant", item.answer)]


def answer_of(item: Template) -> tuple[str, str]:
    if isinstance(item, Stated):
        return ("user", item.fact)
    if isinstance(item, Corrected):
        return ("user", item.correction)
    return ("assistant", item.answer)


def build_case(item: Template, size: int, others: list[Template], rng: random.Random) -> Case:
    """One scope of ``size`` turns holding ``item``'s pattern, its answer included."""
    answer = answer_of(item)
    if size == 1:
        turns = [answer]
    else:
        pattern = pattern_turns(item)
        blocks: list[list[tuple[str, str]]] = []
        budget = size - len(pattern) - (1 if isinstance(item, Corrected) else 0)
        while budget >= 2:
            if rng.random() < 0.4:
                blocks.append(pattern_turns(rng.choice(others)))
            else:
                start = rng.randrange(0, len(FILLER) - 1, 2)
                blocks.append(list(FILLER[start : start + 2]))
            budget -= 2
        if budget == 1:
            blocks.append([rng.choice(FILLER)])
        at = rng.randint(0, len(blocks))
        blocks.insert(at, pattern[: max(1, min(2, size - (isinstance(item, Corrected))))])
        if isinstance(item, Corrected):  # the correction comes later than the statement
            blocks.insert(rng.randint(at + 1, len(blocks)), [answer])
        turns = [turn for block in blocks for turn in block]
    kind = type(item).__name__.lower()
    return Case("", kind, turns, turns.index(answer), item.question)


def cases(seeds: list[int], half: int | None) -> list[Case]:
    lists: list[list[Template]] = [list(STATED), list(CORRECTED), list(ANSWERED)]
    if half is not None:
        lists = [items[half::2] for items in lists]
    items = [item for group in lists for item in group]
    built = []
    for seed in seeds:
        rng = random.Random(seed)  # noqa: S311 (a seeded layout, not a secret)
        for n, item in enumerate(items):
            others = [o for o in items if o is not item]
            case = build_case(item, SIZES[(n + seed) % len(SIZES)], others, rng)
            case.user_id = f"s{seed}-u{n}"
            built.append(case)
    return built


def store(memory: Memory, all_cases: list[Case]) -> Any:
    tenant = memory.tenant(memory.create_tenant(f"small-{uuid.uuid4().hex[:6]}").id)
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    batch = []
    for case in all_cases:
        for i, (role, content) in enumerate(case.turns):
            batch.append(
                {
                    "agent_id": AGENT,
                    "user_id": case.user_id,
                    "role": role,
                    "content": content,
                    "occurred_at": start + timedelta(hours=i),
                }
            )
    for i in range(0, len(batch), 200):
        tenant.remember(batch[i : i + 200])
    return tenant


def evaluate(tenant: Any, all_cases: list[Case], verbose: bool = False) -> dict[str, Any]:
    first: dict[str, list[float]] = defaultdict(list)
    reciprocal: dict[str, list[float]] = defaultdict(list)
    unrelated_above = 0
    answers_unrelated = 0
    missed = 0
    scored: list[tuple[float, bool]] = []
    for case in all_cases:
        hits = tenant.recall(AGENT, case.user_id, case.question, k=10)
        answer = case.turns[case.answer][1]
        rank = next((r for r, h in enumerate(hits, start=1) if h.content == answer), None)
        scored += [(h.score, h.content == answer) for h in hits]
        if rank is None:
            missed += 1
        elif not has_own_relevance(hits[rank - 1]):
            answers_unrelated += 1  # nothing ranks it: what is above it is no fault
        else:
            unrelated_above += sum(1 for h in hits[: rank - 1] if not has_own_relevance(h))
        if verbose and rank != 1:
            show(case, hits, rank)
        size = len(case.turns)
        band = "1-5" if size <= 5 else "6-15" if size <= 15 else "16-50"
        for group in ("all", case.pattern, f"{band} turns"):
            first[group].append(1.0 if rank == 1 else 0.0)
            reciprocal[group].append(1.0 / rank if rank else 0.0)
    return {
        "p1": first,
        "mrr": reciprocal,
        "unrelated_above": unrelated_above,
        "answers_unrelated": answers_unrelated,
        "missed": missed,
        "scored": scored,
    }


def show(case: Case, hits: list[Any], rank: int | None) -> None:
    print(f"[{case.pattern}, {len(case.turns)} turns] {case.question!r}: answer at {rank}")
    for hit in hits[: (rank or 3)]:
        p = hit.parts
        print(
            f"   {hit.score:.3f} cos {p.similarity or 0:.2f} kw {p.keyword:.2f} act {p.act:.2f}"
            f" lent {p.neighbour:.2f} {hit.content[:60]!r}"
        )


def has_own_relevance(hit: Any) -> bool:
    parts = hit.parts
    similarity = parts.similarity if parts.similarity is not None else -1.0
    return ranking.has_own_relevance(similarity, parts.keyword, ranking.RecallTuning())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--half", type=int, choices=[0, 1], help="score one half of the templates")
    parser.add_argument("--verbose", action="store_true", help="show each miss's top hits")
    parser.add_argument("--tuning", nargs="*", default=[], help="RecallTuning overrides, a=b")
    args = parser.parse_args()
    all_cases = cases(args.seeds, args.half)
    with tempfile.TemporaryDirectory(prefix="km-small-") as data_dir:
        settings = Settings(data_dir=Path(data_dir), database_url=None, admin_database_url=None)
        with Memory.open(settings, tuning=parse_tuning(args.tuning)) as memory:
            tenant = store(memory, all_cases)
            result = evaluate(tenant, all_cases, args.verbose)
    sizes = [len(c.turns) for c in all_cases]
    print(
        f"{len(all_cases)} scopes of {min(sizes)}-{max(sizes)} turns "
        f"(median {statistics.median(sizes):.0f}), seeds {args.seeds}, half {args.half}"
    )
    print("group | n | P@1 | MRR")
    for group in result["p1"]:
        n = len(result["p1"][group])
        p1 = statistics.fmean(result["p1"][group])
        mrr = statistics.fmean(result["mrr"][group])
        print(f"{group} | {n} | {p1:.3f} | {mrr:.3f}")
    print(f"turns with no own relevance ranked above an answer: {result['unrelated_above']}")
    print(f"answers with no own relevance themselves: {result['answers_unrelated']}")
    print(f"answers not in the top 10: {result['missed']}")
    print_bands(result["scored"], "hits in the top 10", "answers")


if __name__ == "__main__":
    main()
