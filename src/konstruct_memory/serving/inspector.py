"""``/inspector``: the browser inspector's static files, served with a strict policy.

The page is plain HTML, CSS and JavaScript modules shipped in the package (no build step, no
CDN, no web font: it works offline) and talks to the same ``/v1`` API as every other client,
with the credential the user types in (kept in the tab's session storage, never a cookie, so
there is no ambient authority for another site to ride on).

The files are read once into a fixed table: a request names one of them or gets 404, so no
path from the URL ever reaches the file system.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from konstruct_memory.errors import NotFound
from konstruct_memory.operations import fields

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

# Scripts and styles only from this origin, no inline code of either, no plugins, no framing.
# Trusted Types with no policy make every HTML-parsing sink (innerHTML, insertAdjacentHTML,
# document.write) throw: stored content can only ever reach the page as text.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Small files; revalidated so that an upgraded service never runs yesterday's script.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    media_type: str


def shipped_files() -> dict[str, StaticFile]:
    """Every file of the ``konstruct_memory.inspector`` folder by its path under it."""
    root = resources.files("konstruct_memory") / "inspector"
    files: dict[str, StaticFile] = {}
    pending = [("", root)]
    while pending:
        prefix, folder = pending.pop()
        for entry in folder.iterdir():
            name = prefix + entry.name
            if entry.is_dir():
                pending.append((name + "/", entry))
                continue
            suffix = "." + entry.name.rsplit(".", 1)[-1]
            if suffix in _TYPES:
                files[name] = StaticFile(entry.read_bytes(), _TYPES[suffix])
    return files


def limits() -> StaticFile:
    """``limits.json``: the contract's limits, which the views read instead of restating them
    (the same values the CLI help and the MCP tool descriptions name)."""
    values = {
        "max_k": fields.MAX_K,
        "max_history": fields.MAX_HISTORY,
        "max_listed": fields.MAX_LISTED,
        "max_tokens": fields.MAX_TOKENS,
        "max_offset": fields.MAX_OFFSET,
        "default_max_content_bytes": fields.DEFAULT_MAX_CONTENT_BYTES,
        "default_max_batch_turns": fields.DEFAULT_MAX_BATCH_TURNS,
    }
    return StaticFile(json.dumps(values).encode(), "application/json")


def inspector_router() -> APIRouter:
    files = {**shipped_files(), "limits.json": limits()}
    router = APIRouter(include_in_schema=False)

    def answer(name: str) -> Response:
        found = files.get(name)
        if found is None:
            raise NotFound("no such file in the inspector")
        return Response(found.body, media_type=found.media_type, headers=SECURITY_HEADERS)

    @router.get("/inspector")
    def entry() -> RedirectResponse:
        # Relative URLs in the page resolve against the folder, so it is always served as one.
        return RedirectResponse("/inspector/", status_code=308)

    @router.get("/inspector/")
    def index() -> Response:
        return answer("index.html")

    @router.get("/inspector/{name:path}")
    def static(name: str) -> Response:
        return answer(name)

    return router
