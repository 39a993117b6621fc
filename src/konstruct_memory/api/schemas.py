"""Request and response bodies of the HTTP API (they make the OpenAPI document).

Shapes only: the service validates values (and names the field) the same way for every face.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TurnIn(_Strict):
    id: UUID | None = None
    agent_id: UUID
    user_id: str
    role: Literal["user", "assistant"]
    content: str
    conversation_id: str | None = None
    occurred_at: datetime | None = Field(default=None, description="RFC 3339 with an offset")
    metadata: dict[str, Any] | None = None
    embedding: list[float] | None = Field(
        default=None, description="384 numbers, to import a turn embedded elsewhere"
    )


class RememberIn(_Strict):
    turns: list[TurnIn] = Field(min_length=1)


class StoredRef(BaseModel):
    id: UUID
    created_at: datetime


class RememberOut(BaseModel):
    turns: list[StoredRef]


class RecallIn(_Strict):
    agent_id: UUID
    user_id: str
    query: str
    k: int = Field(default=10, ge=1, le=100)
    since: datetime | None = None
    until: datetime | None = None
    conversation_id: str | None = None
    roles: list[Literal["user", "assistant"]] | None = None


class HitOut(BaseModel):
    id: UUID
    role: str
    content: str
    occurred_at: datetime
    conversation_id: str | None
    score: float


class RecallOut(BaseModel):
    hits: list[HitOut]


class TurnOut(BaseModel):
    id: UUID
    agent_id: UUID
    user_id: str
    role: str
    content: str
    conversation_id: str | None
    occurred_at: datetime
    created_at: datetime
    metadata: dict[str, Any]


class HistoryOut(BaseModel):
    turns: list[TurnOut]


class ContextIn(_Strict):
    agent_id: UUID
    user_id: str
    query: str
    recent: int = Field(default=10, ge=0, le=1000)
    k: int = Field(default=5, ge=0, le=100)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)


class ContextOut(BaseModel):
    recent: list[TurnOut]
    recalled: list[HitOut]
    text: str
    tokens: int = Field(description="Size of text in all-MiniLM-L6-v2 WordPiece tokens")


class TenantIn(_Strict):
    name: str


class TenantOut(BaseModel):
    id: UUID
    name: str
    created_at: datetime


class TenantCreated(TenantOut):
    api_key: str


class TenantList(BaseModel):
    tenants: list[TenantOut]


class KeyCreated(BaseModel):
    id: UUID
    api_key: str


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail
