"""The prompt-ready context block, and the offline token counter that keeps it in budget.

The block is structure we write around content we quote. Each turn starts a line with its
time and role; its content follows on that line, and every further line of the content is
indented behind ``CONTINUATION``, with invisible and control characters escaped
(``konstruct_memory.quoting``). So no stored text can make a line that reads as a role label
or a section header, whatever newlines, labels or Unicode separators it holds. Beside the text,
``Context.messages`` gives the same turns, in the same order, as structured data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer

from konstruct_memory.embed.model_files import model_dir
from konstruct_memory.operations import Context, Hit, StoredTurn
from konstruct_memory.operations.reads import ContextMessage
from konstruct_memory.quoting import content_lines

RECENT_HEADER = "Recent conversation:"
RECALLED_HEADER = "Relevant earlier turns:"
CONTINUATION = "  | "


class TokenCounter:
    """Counts tokens with the all-MiniLM-L6-v2 WordPiece vocabulary, from the local package.

    No LLM tokenizer ships offline here; WordPiece counts of English text run close to (a
    little above) GPT-style BPE counts, so a budget in these tokens is a safe budget.
    """

    name = "all-MiniLM-L6-v2 WordPiece"

    def __init__(self, path: Path | None = None) -> None:
        self._tokenizer = Tokenizer.from_file(str((path or model_dir()) / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


def _lines(turn: StoredTurn | Hit) -> list[str]:
    first, *more = content_lines(turn.content)
    when = turn.occurred_at.isoformat(timespec="seconds")
    return [f"[{when}] {turn.role}: {first}", *(CONTINUATION + line for line in more)]


def _in_order(recalled: Sequence[Hit]) -> list[Hit]:
    # Chronological, so the model reads the past in order.
    return sorted(recalled, key=lambda h: h.occurred_at)


def _block(recent: Sequence[StoredTurn], recalled: Sequence[Hit]) -> str:
    parts: list[str] = []
    if recalled:
        lines = [line for hit in _in_order(recalled) for line in _lines(hit)]
        parts.append("\n".join([RECALLED_HEADER, *lines]))
    if recent:
        parts.append("\n".join([RECENT_HEADER, *(line for t in recent for line in _lines(t))]))
    return "\n\n".join(parts)


def _messages(recent: Sequence[StoredTurn], recalled: Sequence[Hit]) -> list[ContextMessage]:
    """The block's turns as data, in the block's order."""
    return [
        *(ContextMessage.of(hit, "recalled") for hit in _in_order(recalled)),
        *(ContextMessage.of(turn, "recent") for turn in recent),
    ]


def _context(recent: list[StoredTurn], recalled: list[Hit], text: str, tokens: int) -> Context:
    return Context(
        recent=recent,
        recalled=recalled,
        text=text,
        tokens=tokens,
        messages=_messages(recent, recalled),
    )


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
        return _context(recent, recalled, text, tokens)
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
    return _context(recent, recalled, text, tokens)


def _truncate(text: str, max_tokens: int, counter: TokenCounter) -> str:
    low, high = 0, len(text)
    while low < high:  # the longest prefix within budget
        mid = (low + high + 1) // 2
        if counter.count(text[:mid] + "…") <= max_tokens:
            low = mid
        else:
            high = mid - 1
    return text[:low] + "…" if low else ""
