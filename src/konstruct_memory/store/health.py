"""Whether the database answers: the probe behind ``Memory.check_health`` and ``/healthz``."""

from __future__ import annotations

from typing import Any

import psycopg

_PROBE = "SELECT 1"


def probe(conn: psycopg.Connection[Any]) -> None:
    """Raises the driver's error unless the server runs a statement on ``conn``."""
    conn.execute(_PROBE)
