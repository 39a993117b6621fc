"""Settings, read from the environment with the ``KONSTRUCT_MEMORY_`` prefix."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from konstruct_memory.operations.fields import DEFAULT_MAX_BATCH_TURNS, DEFAULT_MAX_CONTENT_BYTES


def default_data_dir() -> Path:
    """Where the embedded server keeps its data when no directory is configured.

    Root gets a system location: PostgreSQL refuses to run as root, so the server runs as
    a dedicated system user that must be able to reach the directory, and ``/root`` is
    normally closed to other users.
    """
    if os.name == "posix" and os.geteuid() == 0:
        return Path("/var/lib/konstruct-memory")
    return Path(platformdirs.user_data_dir("konstruct-memory", appauthor=False))


class Settings(BaseSettings):
    """Runtime configuration. Every field can be set as ``KONSTRUCT_MEMORY_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="KONSTRUCT_MEMORY_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="Runtime connection (least-privilege role). Unset: use the embedded server.",
    )
    admin_database_url: str | None = Field(
        default=None,
        description="Owner connection for migrations and tenant administration.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        json_schema_extra={
            "shown_default": "the per-user data directory (as root: /var/lib/konstruct-memory)"
        },
        description="Directory of the embedded PostgreSQL server and its credentials.",
    )
    embedder: Literal["local", "numpy", "http"] = Field(
        default="local",
        description="'local': all-MiniLM-L6-v2 in-process on ONNX Runtime; 'numpy': the same "
        "model in NumPy (the reference, slower); 'http': an OpenAI-compatible endpoint.",
    )
    model_path: Path | None = Field(
        default=None,
        description="Directory of the local model's files (model.safetensors, tokenizer.json); "
        "unset: the copy `model install` put in the data directory, or the installed package.",
    )
    query_prefix: str | None = Field(
        default=None,
        description="Text put before each query for a local model; unset: the model's own "
        "'query' prompt, if it has one (e.g. 'query: ' for e5).",
    )
    passage_prefix: str | None = Field(
        default=None,
        description="Text put before each stored turn for a local model; unset: the model's "
        "own 'document' or 'passage' prompt, if it has one.",
    )
    long_text: Literal["whole", "first_window"] = Field(
        default="whole",
        description="How a local model embeds a stored turn longer than its window (256 "
        "word pieces for all-MiniLM-L6-v2): 'whole', overlapping windows pooled into one "
        "vector; 'first_window', its start only (the behaviour before 'whole').",
    )
    embedding_url: str | None = Field(
        default=None, description="API root of the HTTP embedder, e.g. https://api.openai.com/v1"
    )
    embedding_model: str | None = Field(
        default=None,
        description="Model name for the HTTP embedder; for a local model from model_path, the "
        "name recorded with its vectors (default local/<directory name>).",
    )
    embedding_api_key: str | None = Field(
        default=None, description="Bearer key for the HTTP embedder."
    )
    max_content_bytes: int = Field(
        default=DEFAULT_MAX_CONTENT_BYTES,
        ge=1,
        description="Largest turn content (and query) in UTF-8 bytes.",
    )
    max_batch_turns: int = Field(
        default=DEFAULT_MAX_BATCH_TURNS, ge=1, description="Most turns in one remember call."
    )
    admin_token: str | None = Field(
        default=None,
        description="Bearer token of the admin routes; `serve` generates one if unset and "
        "refuses one under 32 characters.",
    )
    erasure_key: str | None = Field(
        default=None,
        description="Key of the erasure ledger's subject hashes (HMAC); generated once and "
        "kept in the data directory if unset. Keep it apart from database backups.",
    )
    retention_interval_s: float = Field(
        default=3600.0,
        ge=0,
        description="Seconds between the retention runs of `serve`; 0 turns them off.",
    )
    retention_batch: int = Field(
        default=2000, ge=1, le=100_000, description="Turns removed per retention transaction."
    )
    vacuum_after_erasure: bool = Field(
        default=True,
        description="VACUUM the turns table (owner connection) after erasures and retention.",
    )
    vacuum_cost_delay_ms: float = Field(
        default=20.0,
        description="That VACUUM (and `Memory.vacuum()`) sleeps this long each time its page "
        "work reaches vacuum_cost_limit, so recall keeps its share of the machine (0-100; "
        "0: unthrottled, PostgreSQL's default for a manual VACUUM).",
    )
    vacuum_cost_limit: int = Field(
        default=200,
        description="Page work (PostgreSQL cost units) between two of those sleeps (1-10000).",
    )
    vacuum_niceness: int = Field(
        default=19,
        description="On the embedded server, that VACUUM's server process runs at this CPU "
        "niceness (0-19; 19: the lowest priority, 0: as readers), so that it takes the time "
        "recall leaves rather than its share; a server the service did not start is not "
        "touched.",
    )
    vacuum_window: str | None = Field(
        default=None,
        description="Start the VACUUM after removals only within this daily UTC window, e.g. "
        "02:00-05:00 (22:00-04:00 spans midnight); a request outside it waits for it. Unset: "
        "right away.",
    )
    max_request_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest HTTP request body."
    )
    max_in_flight: int = Field(
        default_factory=lambda: 2 * (os.cpu_count() or 1),
        json_schema_extra={"shown_default": "2 per core"},
        ge=1,
        description="HTTP requests served at once (default 2 per core); more wait "
        "queue_wait_s, then get 503 with Retry-After.",
    )
    max_in_flight_per_tenant: int | None = Field(
        default=None,
        ge=1,
        description="Requests of one tenant served at once; more get 429 with Retry-After "
        "while other tenants are still served. Unset: half of max_in_flight, rounded up.",
    )
    queue_wait_s: float = Field(
        default=0.025, ge=0, le=10, description="Longest wait for an in-flight slot."
    )
    request_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="A request whose head and body have not arrived within this is dropped.",
    )
    max_connections: int = Field(
        default=1000, ge=1, description="Open HTTP connections; requests beyond get 503."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (comma separated, e.g. 127.0.0.1 or 10.0.0.0/8); "
        "unset: none, and the client address is the connection's peer.",
    )
    failed_auth_per_s: float = Field(
        default=1.0, gt=0, description="Failed authentications allowed per client address."
    )
    failed_auth_burst: int = Field(
        default=20, ge=1, description="Failed authentications an address may make at once."
    )
    replica_url: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Streaming read replicas (postgresql:// URLs of the runtime role, comma "
        "separated): recall, history, context and other reads go there; writes, "
        "administration and authentication stay on the primary.",
    )
    replica_max_lag_s: float = Field(
        default=5.0, gt=0, description="A replica further behind the primary is not read from."
    )
    replica_wait_s: float = Field(
        default=0.05,
        ge=0,
        description="How long a read after the caller's own write waits for a replica to "
        "replay it before reading from the primary instead.",
    )
    replica_check_interval_s: float = Field(
        default=1.0, gt=0, description="How often each replica's state and lag are sampled."
    )
    tenant_switch: Literal["set_config", "set_local"] = Field(
        default="set_config",
        description="How a transaction's tenant is set: set_config(), or SET LOCAL through "
        "konstruct_set_tenant() (what Citus propagates to its workers; docs/citus.md).",
    )
    ledger_export: Path | None = Field(
        default=None,
        description="A JSON Lines file each erasure ledger entry is appended to (fsync'd) once "
        "committed; entries it lacks are appended at start. `erase replay` reads it after a "
        "backup restore (docs/operations.md, 'Erasure, retention and audit').",
    )
    pool_min_size: int = Field(default=1, ge=0, description="Database connections kept open.")
    pool_max_size: int = Field(
        default=10,
        ge=1,
        description="Most database connections (also the threads that run recall's keyword stage).",
    )
    pool_timeout: float = Field(
        default=0.5,
        gt=0,
        description="Seconds a request waits for a pooled connection before its 503 (short, so "
        "requests fail fast while the database is unreachable).",
    )

    @field_validator("replica_url", "trusted_proxies", mode="before")
    @classmethod
    def _urls(cls, value: object) -> object:
        """One value, several separated by commas, or a list."""
        if isinstance(value, str):
            return [url.strip() for url in value.split(",") if url.strip()]
        return value

    # PostgreSQL's own bounds of vacuum_cost_delay and vacuum_cost_limit, and the kernel's of a
    # niceness, checked here so that a wrong value stops the start rather than every VACUUM.
    @field_validator("vacuum_cost_delay_ms")
    @classmethod
    def _cost_delay(cls, value: float) -> float:
        return _within(value, 0, 100, "VACUUM_COST_DELAY_MS", " (milliseconds; 0: unthrottled)")

    @field_validator("vacuum_cost_limit")
    @classmethod
    def _cost_limit(cls, value: int) -> int:
        return _within(value, 1, 10_000, "VACUUM_COST_LIMIT")

    @field_validator("vacuum_niceness")
    @classmethod
    def _niceness(cls, value: int) -> int:
        return _within(value, 0, 19, "VACUUM_NICENESS", " (19: the lowest CPU priority)")

    @field_validator("vacuum_window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        VacuumWindow.parse(value)
        return value.strip()

    @property
    def vacuum_window_utc(self) -> VacuumWindow | None:
        return VacuumWindow.parse(self.vacuum_window) if self.vacuum_window else None

    @property
    def uses_embedded_server(self) -> bool:
        return self.database_url is None

    @property
    def tenant_share(self) -> int:
        """The most requests one tenant may have in flight."""
        return self.max_in_flight_per_tenant or -(-self.max_in_flight // 2)


_N = TypeVar("_N", int, float)


def _within(value: _N, low: _N, high: _N, variable: str, unit: str = "") -> _N:
    """``value`` if ``low <= value <= high``; else the error naming the setting's variable."""
    if not low <= value <= high:
        raise ValueError(
            f"KONSTRUCT_MEMORY_{variable} must be from {low:g} to {high:g}{unit}, not {value:g}"
        )
    return value


_WINDOW = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


@dataclass(frozen=True)
class VacuumWindow:
    """A daily stretch of UTC time (KONSTRUCT_MEMORY_VACUUM_WINDOW); one whose end comes
    before its start spans midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> VacuumWindow:
        """``HH:MM-HH:MM``, or ValueError naming the variable and the expected form."""
        problem = (
            f"KONSTRUCT_MEMORY_VACUUM_WINDOW must be a daily UTC window HH:MM-HH:MM "
            f"(e.g. 02:00-05:00), not {text!r}"
        )
        found = _WINDOW.fullmatch(text)
        if found is None:
            raise ValueError(problem)
        start_h, start_m, end_h, end_m = (int(part) for part in found.groups())
        if max(start_h, end_h) > 23 or max(start_m, end_m) > 59:
            raise ValueError(problem)
        start, end = time(start_h, start_m), time(end_h, end_m)
        if start == end:
            raise ValueError(f"{problem}: it starts where it ends")
        return cls(start, end)

    def contains(self, at: datetime) -> bool:
        moment = at.astimezone(UTC).time()
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def seconds_until_open(self, now: datetime) -> float:
        """0 within the window; else the seconds until it next opens."""
        if self.contains(now):
            return 0.0
        now = now.astimezone(UTC)
        opening = datetime.combine(now.date(), self.start, tzinfo=UTC)
        if opening <= now:
            opening += timedelta(days=1)
        return (opening - now).total_seconds()

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} UTC"
