"""Secrets the service generates once and keeps in its data directory, readable by its user
only: the admin token and the erasure key, when they are not configured."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from konstruct_memory.config import Settings


def kept(path: Path, prefix: str = "") -> str:
    """The secret stored at ``path``, generated on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = prefix + secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    try:
        os.link(tmp, path)  # atomic: a concurrent process that won keeps its secret
    except FileExistsError:
        secret = path.read_text().strip()
    finally:
        tmp.unlink()
    return secret


def admin_token(settings: Settings) -> tuple[str, Path | None]:
    """The configured admin token, or one generated once and kept in the data directory."""
    if settings.admin_token:
        return settings.admin_token, None
    path = settings.data_dir / "admin-token"
    return kept(path, "kma_"), path


def erasure_key(settings: Settings) -> bytes:
    """The key of the erasure ledger's subject hashes: configured, or generated once and kept
    in the data directory. Every instance of a deployment must use the same key, and it must
    outlive backups: with another key, a repeated request no longer matches, and ``erase
    replay`` cannot find the subjects of the ledger's entries."""
    if settings.erasure_key:
        return settings.erasure_key.encode()
    return kept(settings.data_dir / "erasure-key").encode()
