"""The default ONNX model and the NumPy forward pass match each other and the reference
implementation; the HTTP provider works against a local OpenAI-compatible stand-in; model
names keep vector spaces apart."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import numpy as np
import pytest

from konstruct_memory.config import Settings
from konstruct_memory.embed import Embedder, from_settings
from konstruct_memory.embed.http import HttpEmbedder
from konstruct_memory.embed.minilm import MiniLMEmbedder, model_dir
from konstruct_memory.embed.onnx_minilm import OnnxMiniLMEmbedder
from konstruct_memory.errors import ConfigurationError, EmbeddingUnavailable
from konstruct_memory.library import Memory
from tests.conftest import DatabaseUnderTest
from tests.fakes import BagOfWordsEmbedder

TEXTS = [
    "Hi!",
    "Caroline: I went to the LGBTQ support group yesterday and it was so powerful.",
    "Melanie: We took the kids camping near the lake last weekend 🏕️",
    "Order #ZX-48213 shipped on 2026-03-01; tracking says Tuesday.",
    "Ünïcödé, 中文, and émojis 🎉 should embed too.",
    "a " * 400,  # longer than the model's 256-token window: truncated, as upstream
]


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_minilm_matches_sentence_transformers(minilm: MiniLMEmbedder) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_dir()), device="cpu")
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
def onnx_minilm() -> OnnxMiniLMEmbedder:
    return OnnxMiniLMEmbedder()


def test_the_onnx_model_matches_the_numpy_forward_pass_and_the_reference(
    minilm: MiniLMEmbedder, onnx_minilm: OnnxMiniLMEmbedder
) -> None:
    from sentence_transformers import SentenceTransformer

    ours = onnx_minilm.embed(TEXTS)
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * minilm.embed(TEXTS)).sum(axis=1).min() >= 0.9999
    reference = SentenceTransformer(str(model_dir()), device="cpu")
    expected = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert (ours * expected).sum(axis=1).min() >= 0.9999
    single = np.vstack([onnx_minilm.embed([t]) for t in TEXTS])
    assert np.allclose(single, ours, atol=1e-5), "batching and order change nothing"
    assert onnx_minilm.embed([]).shape == (0, 384)
    assert onnx_minilm.model_name == minilm.model_name, "the same vector space"


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
    assert done.stdout.split() == ["OnnxMiniLMEmbedder", "False"]
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
    assert isinstance(from_settings(Settings(embedder="local")), OnnxMiniLMEmbedder)
    http = from_settings(Settings(embedder="http", embedding_url=stand_in, embedding_model="m"))
    assert http.model_name == "m"
    with pytest.raises(ConfigurationError, match="EMBEDDING_URL"):
        from_settings(Settings(embedder="http"))


def test_search_compares_only_vectors_of_one_model(
    database: DatabaseUnderTest, stand_in: str
) -> None:
    settings = Settings(database_url=database.runtime_url, admin_database_url=database.admin_url)
    agent = uuid.uuid4()
    with Memory.open(settings, embedder=BagOfWordsEmbedder()) as first:
        tenant_id = first.create_tenant("two-models").id
        first.tenant(tenant_id).remember(
            [
                {
                    "agent_id": agent,
                    "user_id": "U1",
                    "role": "user",
                    "content": "stored with the first model",
                }
            ]
        )
    with Memory.open(settings, embedder=HttpEmbedder(stand_in, "other-model")) as second:
        other = second.tenant(tenant_id)
        assert other.recall(agent, "U1", "stored with the first model") == []
        other.remember(
            [
                {
                    "agent_id": agent,
                    "user_id": "U1",
                    "role": "user",
                    "content": "stored with the second model",
                }
            ]
        )
        hits = other.recall(agent, "U1", "stored model")
        assert [h.content for h in hits] == ["stored with the second model"]
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
