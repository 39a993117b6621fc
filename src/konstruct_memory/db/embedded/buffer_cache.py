"""The embedded server's buffer cache (``shared_buffers``): a quarter of the machine's memory.

PostgreSQL's default buffer cache (128 MB) holds a small part of a large HNSW graph (about 2 GB
per million turns at m = 32): every insert's graph search then reads most of its pages from the
operating system's cache and evicts others, and at a million turns that was half of the
database's time per insert (BENCHMARKS.md, "Ingest by concurrent writers"). The embedded server
takes a quarter of the machine's memory (PostgreSQL's usual advice), 128 MB to 8 GB; shared
memory is taken only as pages are used, so a small database costs no more. The line is added
once, at the first start of a data directory that lacks it; an operator's ALTER SYSTEM
(postgresql.auto.conf, read after it) still wins.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_MARK = "# konstruct-memory: buffer cache"
_MIN_MB, _MAX_MB = 128, 8192


def buffer_cache_mb(memory: int | None = None) -> int:
    """The embedded server's ``shared_buffers`` in MB: a quarter of ``memory`` (bytes; default
    the machine's, or its control group's limit if lower), 128 MB to 8 GB."""
    if memory is None:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        with contextlib.suppress(OSError, ValueError):  # "max", or no cgroup v2
            memory = min(memory, int(Path("/sys/fs/cgroup/memory.max").read_text()))
    return max(_MIN_MB, min(_MAX_MB, memory // 4 // 2**20))


def configure(conf: Path) -> None:
    """Add the buffer cache's line to ``conf`` (postgresql.conf) unless it holds it already."""
    if _MARK in conf.read_text():
        return
    with conf.open("a") as out:
        out.write(f"\n{_MARK}\nshared_buffers = {buffer_cache_mb()}MB\n")
