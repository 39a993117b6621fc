"""Tenant API keys: random, shown once, stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "km_"


def new_key() -> str:
    """A fresh key: 32 random bytes, URL-safe, with a recognisable prefix."""
    return PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> bytes:
    """What is stored and looked up. Keys are 256-bit random, so a plain hash suffices."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
