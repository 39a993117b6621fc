"""The embedded server's buffer cache size: a quarter of memory, 128 MB to 8 GB."""

from __future__ import annotations

import pytest

from konstruct_memory.db.embedded.buffer_cache import buffer_cache_mb

GB = 2**30


@pytest.mark.parametrize(
    ("memory", "expected"),
    [(256 * 2**20, 128), (2 * GB, 512), (24 * GB, 6144), (64 * GB, 8192), (512 * GB, 8192)],
)
def test_a_quarter_of_memory_within_bounds(memory: int, expected: int) -> None:
    assert buffer_cache_mb(memory) == expected


def test_the_machine_s_memory_by_default() -> None:
    assert 128 <= buffer_cache_mb() <= 8192
