"""The consistency token: read-your-writes across processes and hosts.

Every write answers with the position in the primary's write-ahead log at which it committed
(PostgreSQL's ``pg_lsn``, e.g. ``16/B374D848``), in the ``Konstruct-Memory-Position`` header.
A read that carries a position is answered from a replica only once that replica has replayed
it (waiting up to ``replica_wait_s``), else from the primary: whichever process or host serves
it. The clients keep the newest position they were given and send it on every later request.

Pure functions only: the clients import this module, and must not need a database driver.
"""

from __future__ import annotations

import re

from konstruct_memory.errors import InvalidInput

HEADER = "Konstruct-Memory-Position"
_LSN = re.compile(r"[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}")


def lsn_of(text: str | None) -> int | None:
    """A pg_lsn ('16/B374D848') as an integer, comparable and subtractable."""
    return None if text is None else _lsn(text)


def _lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def position_text(lsn: int) -> str:
    """An integer position as PostgreSQL writes a pg_lsn."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_position(text: str | None) -> int | None:
    """The position a request carries (None: none); anything else than a pg_lsn is refused,
    naming the header."""
    if text is None or not text.strip():
        return None
    if not _LSN.fullmatch(text.strip()):
        raise InvalidInput(HEADER, "must be a position a write answered with, like 16/B374D848")
    return _lsn(text.strip())


def newest(known: str | None, given: str | None) -> str | None:
    """The later of two positions (either may be None); a malformed ``given`` is ignored."""
    if given is None or not _LSN.fullmatch(given.strip()):
        return known
    given = given.strip()
    return given if known is None or _lsn(given) > _lsn(known) else known
