"""A tenant's rate limit, counted once for every process and host.

Revision ID: 016
Revises: 015
Create Date: 2026-12-03

``rate_limit_per_s`` (migration 008) was a token bucket in each ``serve`` process, so N
processes allowed N times the rate. ``rate_buckets`` keeps one bucket per limited tenant in
PostgreSQL, where every process sees it: ``tokens`` as of ``updated_at``, refilled at the rate
up to a burst of one second. A tenant without a limit never has a row.

* ``konstruct_take_rate_token(rate, burst)`` takes a token in one call (one round trip): it
  locks the tenant's row (creating it full on the first request), refills it by the time
  passed on the database's clock (one clock for every host), and spends a token if there is
  one. It answers 0 (admitted) or the seconds until a token will be there. A refusal writes
  nothing, so a tenant hammering past its limit does not push its own refill further out.
* It runs as the caller (SECURITY INVOKER) and reads the tenant from the transaction's
  setting, naming it in every statement (Citus routes by it). The runtime role may SELECT,
  INSERT and UPDATE this table only, never DELETE; row-level security is forced by tenant with
  the turns' policy, so one tenant's transaction cannot see nor change another's bucket.
* Every admitted request writes a new version of the row: room on its page (fillfactor 50)
  keeps those updates HOT, and the commit does not wait for the WAL flush
  (``synchronous_commit`` off for that transaction: a crash may forget the last moments of a
  bucket, which lets a few requests more through, and nothing else).
* ``lock_timeout`` of 200 ms inside the function: one busy tenant's requests queue on its row,
  and a wait longer than that means a crowd of that tenant's requests; the service refuses
  that one request for a moment (``api/tenant_rates.py``).
* The row goes with its tenant (ON DELETE CASCADE). Distributed by ``tenant_id`` under Citus
  (docs/citus.md), with the foreign key to the reference table ``tenants``.
"""

from __future__ import annotations

from alembic import op

from konstruct_memory.migrations import blocks

revision: str = "016"
down_revision: str | None = "015"

_TAKE_FUNCTION = """
CREATE FUNCTION konstruct_take_rate_token(p_rate double precision, p_burst double precision)
RETURNS double precision
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '200ms'
AS $$
DECLARE
    v_tenant uuid := NULLIF(current_setting('app.current_tenant', true), '')::uuid;
    v_tokens double precision;
    v_since timestamptz;
    v_now timestamptz;
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'no tenant is set for this transaction' USING ERRCODE = '42501';
    END IF;
    IF p_rate IS NULL OR p_rate <= 0 OR p_burst IS NULL OR p_burst < 1 THEN
        RAISE EXCEPTION 'a rate above 0 and a burst of at least 1 are needed'
            USING ERRCODE = '22023';
    END IF;
    -- A bucket is soft state: losing its last updates in a crash lets a few requests more
    -- through, so its commit does not wait for the WAL to reach the disk (set for the rest
    -- of the transaction, which is this call's).
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT tokens, updated_at INTO v_tokens, v_since FROM public.rate_buckets
    WHERE tenant_id = v_tenant FOR UPDATE;
    IF NOT FOUND THEN
        -- The first request: a full bucket. Two first requests at once both insert; the
        -- second does nothing and both then lock the one row.
        INSERT INTO public.rate_buckets (tenant_id, tokens, updated_at)
        VALUES (v_tenant, p_burst, clock_timestamp())
        ON CONFLICT (tenant_id) DO NOTHING;
        SELECT tokens, updated_at INTO v_tokens, v_since FROM public.rate_buckets
        WHERE tenant_id = v_tenant FOR UPDATE;
    END IF;
    -- The clock after the lock, not the transaction's start: a request that queued behind
    -- others must not count time from before the previous holder wrote.
    v_now := clock_timestamp();
    v_tokens := least(p_burst,
                      v_tokens + p_rate * greatest(0, extract(epoch FROM v_now - v_since)));
    IF v_tokens < 1 THEN
        RETURN (1 - v_tokens) / p_rate;
    END IF;
    UPDATE public.rate_buckets SET tokens = v_tokens - 1, updated_at = v_now
    WHERE tenant_id = v_tenant;
    RETURN 0;
END
$$
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE rate_buckets (
            tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
            tokens double precision NOT NULL,
            updated_at timestamptz NOT NULL
        ) WITH (fillfactor = 50)
        """
    )
    op.execute(
        "COMMENT ON TABLE rate_buckets IS "
        "'Token bucket of each rate-limited tenant, shared by every serve process'"
    )
    blocks.confine_to_tenant("rate_buckets")
    op.execute("GRANT SELECT, INSERT, UPDATE ON rate_buckets TO konstruct_app")
    op.execute(_TAKE_FUNCTION)
    blocks.callable_by_runtime("konstruct_take_rate_token(double precision, double precision)")


def downgrade() -> None:
    op.execute("DROP FUNCTION konstruct_take_rate_token(double precision, double precision)")
    op.execute("REVOKE ALL ON rate_buckets FROM konstruct_app")
    op.execute("DROP TABLE rate_buckets")
