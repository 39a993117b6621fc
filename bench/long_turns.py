"""Facts inside long turns: found by a paraphrased question, by position in the turn.

    python bench/long_turns.py                    # seeds 0 1, vector-only and library
    python bench/long_turns.py --no-library       # vector-only (no database)

Each case is one user's memory, built from bench/long_turn_templates.py: a long assistant
answer (300-1,500 words of paragraphs on one subject) holding one fact as a sentence at its
start, its middle or its end, the user's request before it, a second long answer on the same
subject without the fact, a long answer on another subject, and small talk. Each of the twenty
facts is placed at each position; its question shares no keyword with it (checked).

Printed, for ``KONSTRUCT_MEMORY_LONG_TEXT=first_window`` (a long turn embedded from its start,
as before) and ``whole`` (windows pooled into one vector):

- vector-only: the answer's rank among its user's turns by the cosine of the stored vector and
  the query's, computed with the embedder (no database); also the pooling alternatives;
- library: the answer's rank in ``recall`` (k=10) through the public library, whatever the
  ranking is, on an embedded server in a temporary data directory: start only, the pooled
  vector alone (the window vectors withheld, as before ``turn_windows``), and the default
  (pooled vector and window vectors);
- ingest cost: median milliseconds to embed one turn, and to remember one turn through the
  library, for long and for short turns.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from long_turn_templates import FACTS, GENERAL, SMALL_TALK, TOPICS, Fact

from konstruct_memory.config import Settings
from konstruct_memory.embed.local import LocalEmbedder
from konstruct_memory.embed.windows import OVERLAP, LongText, special_counts, windows
from konstruct_memory.library import Memory

AGENT = uuid.UUID("10e6c0de-0000-4000-8000-000000000001")
POSITIONS = ("start", "middle", "end")
LENGTHS = (300, 600, 900, 1200, 1500)  # target words of the answer holding the fact
MODES: tuple[LongText, ...] = ("first_window", "whole")
# Through the library: start only; the pooled vector alone (before turn_windows); the pooled
# vector and the window vectors (the default).
LIBRARY_MODES = ("first_window", "whole, pooled only", "whole + windows")
POOLED_ONLY = ("first_window", "whole, pooled only")
STOPWORDS = set(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "i",
        "me",
        "my",
        "you",
        "your",
        "it",
        "its",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "by",
        "from",
        "with",
        "and",
        "or",
        "so",
        "if",
        "do",
        "does",
        "did",
        "what",
        "which",
        "who",
        "whom",
        "when",
        "where",
        "how",
        "why",
        "until",
        "still",
        "after",
        "than",
        "that",
        "this",
        "there",
        "their",
        "they",
        "them",
        "our",
        "we",
        "us",
        "has",
        "have",
        "had",
        "give",
        "gave",
        "must",
        "should",
        "can",
        "into",
        "less",
        "most",
        "not",
        "no",
        "any",
        "some",
    ]
)


@dataclass
class Case:
    user_id: str
    fact: Fact
    position: str
    turns: list[tuple[str, str]]  # (role, content), oldest first
    answer: int  # index of the long turn holding the fact


def keywords(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {w.rstrip("s") for w in words if w not in STOPWORDS and len(w) > 1}


def answer_text(paragraphs: list[str], words: int, fact: str | None, position: str) -> str:
    """Paragraphs in order until ``words`` words; the fact as the first sentence, the first
    sentence of the paragraph nearest the middle, or the last sentence."""
    chosen: list[str] = []
    for paragraph in paragraphs:
        if sum(len(p.split()) for p in chosen) >= words:
            break
        chosen.append(paragraph)
    if fact is not None:
        if position == "start":
            chosen[0] = f"{fact} {chosen[0]}"
        elif position == "end":
            chosen[-1] = f"{chosen[-1]} {fact}"
        else:
            half = sum(len(p.split()) for p in chosen) / 2
            starts = np.cumsum([0] + [len(p.split()) for p in chosen[:-1]])
            at = int(np.argmin(np.abs(starts - half)))
            chosen[at] = f"{fact} {chosen[at]}"
    return "\n\n".join(chosen)


def paragraphs_of(topic: str, rng: random.Random) -> list[str]:
    own, general = list(TOPICS[topic].paragraphs), list(GENERAL)
    rng.shuffle(own)
    rng.shuffle(general)
    return own + general


def build_cases(seeds: list[int]) -> list[Case]:
    for fact in FACTS:
        shared = keywords(fact.fact) & keywords(fact.question)
        if shared:
            sys.exit(f"template error: {fact.question!r} shares {sorted(shared)} with its fact")
    built = []
    for seed in seeds:
        rng = random.Random(seed)  # noqa: S311 (a seeded layout, not a secret)
        for n, fact in enumerate(FACTS):
            for p, position in enumerate(POSITIONS):
                words = LENGTHS[(n + p + seed) % len(LENGTHS)]
                topic = TOPICS[fact.topic]
                other = rng.choice([t for t in TOPICS if t != fact.topic])
                target = answer_text(paragraphs_of(fact.topic, rng), words, fact.fact, position)
                same = answer_text(
                    paragraphs_of(fact.topic, rng), rng.choice(LENGTHS[:3]), None, ""
                )
                away = answer_text(paragraphs_of(other, rng), rng.choice(LENGTHS[:3]), None, "")
                blocks = [
                    [("user", topic.asks[0]), ("assistant", target)],
                    [("user", topic.asks[1]), ("assistant", same)],
                    [("user", TOPICS[other].asks[0]), ("assistant", away)],
                    *([turn] for turn in rng.sample(SMALL_TALK, 3)),
                ]
                rng.shuffle(blocks)
                turns = [turn for block in blocks for turn in block]
                user = f"s{seed}-f{n}-{position}"
                built.append(Case(user, fact, position, turns, turns.index(("assistant", target))))
    return built


def window_vectors(embedder: LocalEmbedder, text: str) -> tuple[Any, Any, list[int]]:
    """The unit vectors of a text's windows as the embedder cuts them (the last aligned with
    the text's end); the vector of the last window left unaligned instead (shorter, starting
    where the stride puts it); and with unaligned windows, each one's count of new tokens."""
    encoding = embedder._tokenizer.encode(text)
    ids, max_tokens = encoding.ids, embedder.config.max_tokens
    lead, trail = special_counts(encoding.special_tokens_mask, 0)
    pieces = windows(ids, lead, trail, max_tokens)
    vectors = embedder._forward(pieces)
    if len(pieces) == 1:
        return vectors, vectors[0], [len(ids)]
    body, size = ids[lead : len(ids) - trail], max_tokens - lead - trail
    start = (len(pieces) - 1) * (size - OVERLAP)
    last = ids[:lead] + body[start:] + ids[len(ids) - trail :]
    new = [size] + [size - OVERLAP] * (len(pieces) - 2) + [len(body) - start - OVERLAP]
    return vectors, embedder._forward([last])[0], new


def unit(vector: Any) -> Any:
    return vector / np.linalg.norm(vector)


def pooled(vectors: Any, last: Any, new: list[int]) -> dict[str, Any]:
    """A text's vector by each method measured, from its windows' vectors."""
    unaligned = np.vstack([vectors[:-1], last])
    weighted = unit((unaligned * np.asarray(new, dtype=np.float32)[:, None]).sum(axis=0))
    return {
        "first_window (start only, as before)": vectors[0],
        "whole: mean of windows (the turn's own vector)": unit(vectors.mean(axis=0)),
        "whole: length-weighted, last window unaligned": weighted,
        "whole: mean, first window counted twice": unit(
            vectors.mean(axis=0) + vectors[0] / len(vectors)
        ),
        "best window (reference: a row per window)": vectors,
        "whole + windows: best of the mean and each window (the default)": np.vstack(
            [unit(vectors.mean(axis=0)), vectors]
        ),
    }


def vector_ranks(cases: list[Case]) -> dict[str, dict[str, list[int]]]:
    """Per method, per position: the answer's rank by cosine among its user's turns."""
    ranks: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    embedder = LocalEmbedder()
    contents = sorted({content for case in cases for _, content in case.turns})
    methods = {c: pooled(*window_vectors(embedder, c)) for c in contents}
    queries = dict(zip(FACTS, embedder.embed_queries([f.question for f in FACTS]), strict=True))
    for case in cases:
        query = queries[case.fact]
        for method in methods[contents[0]]:
            scores = [
                float(np.max(np.atleast_2d(methods[c][method]) @ query)) for _, c in case.turns
            ]
            ranks[method][case.position].append(1 + sum(s > scores[case.answer] for s in scores))
    return ranks


class PooledOnly:
    """The local embedder without its window vectors: turns are stored with their pooled
    vector alone, as before ``turn_windows`` (migration 013)."""

    def __init__(self, embedder: LocalEmbedder) -> None:
        self._embedder = embedder
        self.model_name = embedder.model_name
        self.dimension = embedder.dimension

    def embed(self, texts: list[str]) -> Any:
        return self._embedder.embed(texts)

    def embed_queries(self, texts: list[str]) -> Any:
        return self._embedder.embed_queries(texts)


def library_ranks(
    cases: list[Case], library_mode: str, data_dir: Path
) -> tuple[dict[str, list[int]], dict[str, list[float]]]:
    """The answer's rank in recall (11 when not in the top 10), per position; and the seconds
    of single-turn remember calls, long and short."""
    ranks: dict[str, list[int]] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)
    mode: LongText = "first_window" if library_mode == "first_window" else "whole"
    settings = Settings(
        data_dir=data_dir, database_url=None, admin_database_url=None, long_text=mode
    )
    embedder = PooledOnly(LocalEmbedder(long_text=mode)) if library_mode in POOLED_ONLY else None
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    with Memory.open(settings, embedder=embedder) as memory:
        tenant = memory.tenant(memory.create_tenant(f"long-{mode}-{uuid.uuid4().hex[:6]}").id)
        for case in cases:
            turns = [
                {"agent_id": AGENT, "user_id": case.user_id, "role": role, "content": content,
                 "occurred_at": start + timedelta(minutes=i)}
                for i, (role, content) in enumerate(case.turns)
            ]  # fmt: skip
            for turn in turns:
                began = time.perf_counter()
                tenant.remember([turn])
                kind = "long" if len(str(turn["content"]).split()) >= 300 else "short"
                seconds[kind].append(time.perf_counter() - began)
        for case in cases:
            hits = tenant.recall(AGENT, case.user_id, case.fact.question, k=10)
            answer = case.turns[case.answer][1]
            rank = next((r for r, h in enumerate(hits, start=1) if h.content == answer), 11)
            ranks[case.position].append(rank)
    return ranks, seconds


def embed_seconds(cases: list[Case]) -> dict[tuple[str, str], list[float]]:
    """Seconds to embed one turn alone (as a one-turn remember does), per mode and kind; the
    modes take turns text by text, so a busy machine slows both alike."""
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    longs = sorted({c.turns[c.answer][1] for c in cases})
    shorts = sorted({content for _, content in SMALL_TALK} | {t.asks[0] for t in TOPICS.values()})
    embedders = {mode: LocalEmbedder(long_text=mode) for mode in MODES}
    for embedder in embedders.values():
        embedder.embed(shorts[:1])  # warm up
    for kind, texts in (("long", longs), ("short", shorts * 5)):
        for text in texts:
            for mode, embedder in embedders.items():
                began = time.perf_counter()
                embedder.embed([text])
                out[(mode, kind)].append(time.perf_counter() - began)
    return out


def table(title: str, ranks: dict[str, dict[str, list[int]]]) -> None:
    print(f"\n{title}\nmethod | " + " | ".join(f"{p} R@1 | {p} MRR" for p in (*POSITIONS, "all")))
    for method, by_position in ranks.items():
        cells = []
        for position in (*POSITIONS, "all"):
            got = (
                [r for p in POSITIONS for r in by_position[p]]
                if position == "all"
                else by_position[position]
            )
            cells.append(f"{statistics.fmean(r == 1 for r in got):.2f}")
            cells.append(f"{statistics.fmean(1 / r if r <= 10 else 0.0 for r in got):.2f}")
        print(f"{method} | " + " | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--no-library", action="store_true", help="vector-only, no database")
    args = parser.parse_args()
    cases = build_cases(args.seeds)
    longs = [c.turns[c.answer][1] for c in cases]
    tokens = [len(LocalEmbedder()._tokenizer.encode(t).ids) for t in longs]
    print(
        f"{len(cases)} cases ({len(FACTS)} facts x {len(POSITIONS)} positions x seeds "
        f"{args.seeds}), {statistics.median(len(c.turns) for c in cases):.0f} turns per user; "
        f"answers {min(len(t.split()) for t in longs)}-{max(len(t.split()) for t in longs)} "
        f"words, median {statistics.median(tokens):.0f} word pieces"
    )
    table(
        "Vector-only (cosine of stored vector and query, among the user's turns)",
        vector_ranks(cases),
    )
    if not args.no_library:
        library: dict[str, dict[str, list[int]]] = {}
        remembered: dict[str, dict[str, list[float]]] = {}
        with tempfile.TemporaryDirectory(prefix="km-long-") as data_dir:
            for mode in LIBRARY_MODES:
                library[f"library recall, {mode}"], remembered[mode] = library_ranks(
                    cases, mode, Path(data_dir)
                )
        table("Library recall (k=10; rank 11 = not returned)", library)
    costs = embed_seconds(cases)
    print("\nIngest cost per turn, median ms (one turn per call)")
    print("mode | embed long | embed short")
    for mode in MODES:
        row = [statistics.median(costs[(mode, k)]) * 1000 for k in ("long", "short")]
        print(f"{mode} | " + " | ".join(f"{v:.1f}" for v in row))
    if not args.no_library:
        print("library mode | remember long | remember short")
        for mode in LIBRARY_MODES:
            row = [statistics.median(remembered[mode][k]) * 1000 for k in ("long", "short")]
            print(f"{mode} | " + " | ".join(f"{v:.1f}" for v in row))


if __name__ == "__main__":
    main()
