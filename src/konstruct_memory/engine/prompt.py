"""The prompt-ready context block, and the offline token counter that keeps it in budget."""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import Tokenizer

from konstruct_memory.embed.minilm import model_dir
from konstruct_memory.operations import Context, Hit, StoredTurn

RECENT_HEADER = "Recent conversation:"
RECALLED_HEADER = "Relevant earlier turns:"


class TokenCounter:
    """Counts tokens with the all-MiniLM-L6-v2 WordPiece vocabulary, from the local package.

    No LLM tokenizer ships offline here; WordPiece counts of English text run close to (a
    little above) GPT-style BPE counts, so a budget in these tokens is a safe budget.
    """

    name = "all-MiniLM-L6-v2 WordPiece"

    def __init__(self) -> None:
        self._tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


def _line(turn: StoredTurn | Hit) -> str:
    return f"[{turn.occurred_at.isoformat(timespec='seconds')}] {turn.role}: {turn.content}"


def _block(recent: Sequence[StoredTurn], recalled: Sequence[Hit]) -> str:
    parts: list[str] = []
    if recalled:
        # Chronological, so the model reads the past in order.
        lines = [_line(h) for h in sorted(recalled, key=lambda h: h.occurred_at)]
        parts.append("\n".join([RECALLED_HEADER, *lines]))
    if recent:
        parts.append("\n".join([RECENT_HEADER, *(_line(t) for t in recent)]))
    return "\n\n".join(parts)


def render_context(
    recent: list[StoredTurn],
    recalled: list[Hit],
    max_tokens: int | None,
    counter: TokenCounter,
) -> Context:
    """Build the block; over budget, drop the least relevant recalled turns, then the oldest
    recent ones, keeping at least the newest turn (truncated if it alone is too long)."""
    text = _block(recent, recalled)
    tokens = counter.count(text)
    if max_tokens is None or tokens <= max_tokens:
        return Context(recent=recent, recalled=recalled, text=text, tokens=tokens)
    recent, recalled = list(recent), list(recalled)
    while tokens > max_tokens and (recalled or len(recent) > 1):
        if recalled:
            recalled.pop()  # hits are best first: the last is the least relevant
        else:
            recent.pop(0)
        text = _block(recent, recalled)
        tokens = counter.count(text)
    if tokens > max_tokens:
        text = _truncate(text, max_tokens, counter)
        tokens = counter.count(text)
    return Context(recent=recent, recalled=recalled, text=text, tokens=tokens)


def _truncate(text: str, max_tokens: int, counter: TokenCounter) -> str:
    low, high = 0, len(text)
    while low < high:  # the longest prefix within budget
        mid = (low + high + 1) // 2
        if counter.count(text[:mid] + "…") <= max_tokens:
            low = mid
        else:
            high = mid - 1
    return text[:low] + "…" if low else ""
