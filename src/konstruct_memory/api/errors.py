"""Every error leaves as ``{"error": {"code", "message"}}``; none echoes stored content."""

from __future__ import annotations

import logging
import math
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from konstruct_memory.errors import KonstructMemoryError, RateLimited
from konstruct_memory.operations.base import invalid_input

log = logging.getLogger("konstruct_memory.api")

_HTTP_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


def error_response(status: int, code: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def refusal(error: KonstructMemoryError) -> JSONResponse:
    """The answer to one of our errors, with ``Retry-After`` when it is a rate limit."""
    response = error_response(error.status_code, error.code, str(error))
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = retry_after(error.retry_after)
    return response


# What a request meets when the database cannot serve it: both mean "retry later".
DATABASE_ERRORS = (PoolTimeout, psycopg.OperationalError)


def database_error(exc: Exception) -> JSONResponse:
    """503 for a pool with no connection to spare, or a database that does not answer."""
    if isinstance(exc, PoolTimeout):
        return error_response(503, "unavailable", "database overloaded; retry later")
    log.warning("database error", extra={"error_class": type(exc).__name__})
    return error_response(503, "unavailable", "database unavailable; retry later")


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least one."""
    return str(max(1, math.ceil(seconds)))


def json_syntax_error(error: Any, document: object) -> str:
    """Where a body stops being JSON, as line and column (the parser's words, never the
    body's)."""
    reason = str(error.get("ctx", {}).get("error", "invalid syntax"))
    loc = error.get("loc", ())
    position = loc[-1] if loc and isinstance(loc[-1], int) else None
    if not isinstance(document, str | bytes) or position is None:
        return f"body: is not valid JSON ({reason})"
    text = document.decode("utf-8", "replace") if isinstance(document, bytes) else document
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return f"body: is not valid JSON: {reason} at line {line}, column {column}"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(KonstructMemoryError)
    async def ours(_: Request, exc: KonstructMemoryError) -> JSONResponse:
        return refusal(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if errors and errors[0].get("type") == "json_invalid":
            return error_response(422, "invalid_input", json_syntax_error(errors[0], exc.body))
        # Pydantic's msg describes the rule, never the value: safe to return.
        return error_response(422, "invalid_input", str(invalid_input(errors, located=True)))

    @app.exception_handler(HTTPException)
    async def http(_: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's "error parsing the body": undecodable, too deep, absurd numbers.
            return error_response(422, "invalid_input", "body: could not be parsed as JSON")
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = "no such route" if exc.status_code == 404 else str(exc.detail)
        return error_response(exc.status_code, code, message)

    @app.exception_handler(PoolTimeout)
    async def overloaded(_: Request, exc: PoolTimeout) -> JSONResponse:
        return database_error(exc)

    @app.exception_handler(psycopg.OperationalError)
    async def unreachable(_: Request, exc: psycopg.OperationalError) -> JSONResponse:
        return database_error(exc)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", extra={"error_class": type(exc).__name__})
        return error_response(500, "internal_error", "internal error")
