"""Raw-SQL helpers for storage-level tests (the engine's own store has its own tests)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import numpy as np
from psycopg_pool import ConnectionPool

from konstruct_memory.db.tenant import Connection, tenant_transaction

INSERT_TURN = """
INSERT INTO conversation_embeddings
    (id, tenant_id, agent_id, user_id, role, content, embedding, embedding_model)
VALUES (%(id)s, %(tenant_id)s, %(agent_id)s, %(user_id)s, %(role)s, %(content)s,
        %(embedding)s, 'test')
RETURNING id
"""


def vector(seed: int | None = None) -> np.ndarray[Any, np.dtype[np.float32]]:
    rng = np.random.default_rng(seed if seed is not None else random.getrandbits(32))
    v = rng.normal(size=384).astype(np.float32)
    return v / np.linalg.norm(v)


def insert_turn(
    conn: Any,
    tenant_id: UUID,
    *,
    agent_id: UUID | None = None,
    user_id: str = "U1",
    content: str = "hello",
    row_id: UUID | None = None,
) -> UUID:
    row = conn.execute(
        INSERT_TURN,
        {
            "id": row_id or uuid.uuid4(),
            "tenant_id": tenant_id,
            "agent_id": agent_id or uuid.uuid4(),
            "user_id": user_id,
            "role": "user",
            "content": content,
            "embedding": vector(),
        },
    ).fetchone()
    return UUID(str(row["id"] if isinstance(row, dict) else row[0]))


def count_visible(conn: Any) -> int:
    row = conn.execute("SELECT count(*) AS n FROM conversation_embeddings").fetchone()
    return int(row["n"] if isinstance(row, dict) else row[0])


@contextmanager
def tenant_connection(pool: ConnectionPool[Connection], tenant_id: UUID) -> Iterator[Connection]:
    """The raw connection inside ``tenant_transaction``, to run hand-written statements."""
    with tenant_transaction(pool, tenant_id) as tx:
        yield tx.conn
