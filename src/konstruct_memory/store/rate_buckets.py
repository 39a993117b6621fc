"""The shared token buckets of rate-limited tenants (migration 016): one call takes a token
from the tenant the transaction is confined to."""

from __future__ import annotations

from typing import Any

import psycopg

from konstruct_memory.db.tenant import TenantConnection
from konstruct_memory.errors import KonstructMemoryError

_TAKE = "SELECT konstruct_take_rate_token(%(rate)s, %(burst)s) AS wait"


class TokenAnswer:
    """The database's answer to ``take_token``, read when wanted: in pipeline mode only after
    the transaction's COMMIT has been sent with it (``TenantRates`` does so)."""

    def __init__(self, cursor: psycopg.Cursor[dict[str, Any]]) -> None:
        self._cursor = cursor

    def seconds_to_wait(self) -> float:
        """0 if a token was spent, else the seconds until there will be one (none spent)."""
        row = self._cursor.fetchone()
        if row is None or row["wait"] is None:
            raise KonstructMemoryError("taking a rate token returned no answer")
        return float(row["wait"])


def take_token(tx: TenantConnection, rate: float, burst: float) -> TokenAnswer:
    """Spend one of the tenant's tokens if it has one. The function locks the tenant's row
    until the transaction ends."""
    return TokenAnswer(tx.conn.execute(_TAKE, {"rate": float(rate), "burst": float(burst)}))
