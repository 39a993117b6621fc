"""Texts longer than the model's window, embedded whole (``KONSTRUCT_MEMORY_LONG_TEXT``).

A BERT encoder reads at most its window (256 word pieces for all-MiniLM-L6-v2, [CLS] and
[SEP] included); past that, sentence-transformers and the model's own pipeline read the start
only. With ``whole`` (the default) a longer text's tokens are cut into windows of the model's
length that overlap by ``OVERLAP`` tokens, each window starting with the text's leading
special tokens and prefix and ending with its trailing ones; the last window is aligned to the
text's end, so every window is full length and batches of windows carry no padding. Each
window is embedded, and the text's vector is the mean of the (unit-length) window vectors,
made unit length again: one 384-d vector per text, in the model's own space.

A text within the window is one window: its tokens and its batch run exactly as before, so
the vectors of short turns do not change. ``first_window`` keeps the earlier behaviour (the
start only) for every text.

The window vectors of a longer text are kept as well (``Windowed``): the store records them
beside the turn (``turn_windows``), and recall scores a long turn by its best window too, as a
fact of one sentence moves the mean of many windows too little to be found by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from tokenizers import Encoding

LongText = Literal["whole", "first_window"]
OVERLAP = 32  # tokens each window shares with the previous one

Matrix = npt.NDArray[np.float32]


def windows(
    ids: Sequence[int], lead: int, trail: int, max_tokens: int, mode: LongText = "whole"
) -> list[list[int]]:
    """The token sequences to run for one text: ``[ids]`` if it fits ``max_tokens``, else
    windows of exactly ``max_tokens`` over its body (``ids`` without the first ``lead`` and
    the last ``trail`` tokens, which every window repeats), or only the first with
    ``first_window``. The first window is what truncation to ``max_tokens`` gives."""
    if len(ids) <= max_tokens:
        return [list(ids)]
    head, tail = list(ids[:lead]), list(ids[len(ids) - trail :])
    body = ids[lead : len(ids) - trail]
    size = max_tokens - lead - trail
    if size <= OVERLAP:
        raise ValueError(f"max_tokens={max_tokens} leaves no room for a window after the prefix")
    if mode == "first_window":
        return [head + list(body[:size]) + tail]
    starts = [*range(0, len(body) - size, size - OVERLAP), len(body) - size]
    return [head + list(body[s : s + size]) + tail for s in starts]


def pool(vectors: Matrix, owners: Sequence[int], count: int) -> Matrix:
    """One unit-length row per text: the mean of its windows' rows (``owners[i]`` is the text
    of row i; a text's windows are consecutive), normalised. A text of one window keeps its
    row unchanged, bit for bit."""
    if len(owners) == count:
        return vectors
    owner = np.asarray(owners)
    sums = np.zeros((count, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, owner, vectors)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    out: Matrix = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
    single = np.bincount(owner, minlength=count) == 1
    out[single] = vectors[np.searchsorted(owner, np.flatnonzero(single))]
    return out


@dataclass(frozen=True)
class Windowed:
    """Texts embedded for storage: one pooled row per text (``vectors``), and the window rows
    of the texts longer than one window (``windows``; row i belongs to text ``owners[i]``, a
    text's windows consecutive and in order). Embedders that do not cut texts give none."""

    vectors: Matrix
    windows: Matrix = field(default_factory=lambda: np.empty((0, 0), dtype=np.float32))
    owners: list[int] = field(default_factory=list)

    def by_text(self) -> dict[int, Matrix]:
        """The window rows of each text that has several, by the text's number."""
        rows: dict[int, list[int]] = {}
        for i, owner in enumerate(self.owners):
            rows.setdefault(owner, []).append(i)
        return {text: self.windows[picked] for text, picked in rows.items()}


def windowed(vectors: Matrix, owners: Sequence[int], count: int) -> Windowed:
    """``pool`` of the rows, with the rows of the texts of several windows kept."""
    counts = np.bincount(np.asarray(owners, dtype=np.int64), minlength=count)
    kept = [i for i, owner in enumerate(owners) if counts[owner] > 1]
    return Windowed(pool(vectors, owners, count), vectors[kept], [owners[i] for i in kept])


def plan(
    encodings: Sequence[Encoding], prefix_tokens: int, max_tokens: int, mode: LongText
) -> tuple[list[list[int]], list[int]]:
    """The token sequences to run for ``encodings`` (untruncated), in order, and for each the
    index of the text it belongs to."""
    sequences: list[list[int]] = []
    owners: list[int] = []
    for i, encoding in enumerate(encodings):
        ids = encoding.ids
        if len(ids) <= max_tokens:
            pieces = [ids]
        else:
            lead, trail = special_counts(encoding.special_tokens_mask, prefix_tokens)
            pieces = windows(ids, lead, trail, max_tokens, mode)
        sequences.extend(pieces)
        owners.extend([i] * len(pieces))
    return sequences, owners


def special_counts(special_tokens_mask: Sequence[int], prefix_tokens: int) -> tuple[int, int]:
    """How many tokens lead every window (leading special tokens, then the prefix's) and how
    many trail it (trailing special tokens), from one encoding's special-tokens mask."""
    lead = 0
    while lead < len(special_tokens_mask) and special_tokens_mask[lead]:
        lead += 1
    trail = 0
    while trail < len(special_tokens_mask) - lead and special_tokens_mask[-1 - trail]:
        trail += 1
    return lead + prefix_tokens, trail
