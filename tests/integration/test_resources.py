"""``Resources`` owns what it opens: ``open`` starts the workers, ``close`` stops every one of
them and closes the pool; nothing in it changes once open, and a copy owns nothing."""

from __future__ import annotations

import threading
from dataclasses import FrozenInstanceError, replace

import pytest

from konstruct_memory.config import Settings
from konstruct_memory.engine.ranking import RecallTuning
from konstruct_memory.engine.resources import NullObserver, Resources
from tests.conftest import ERASURE_KEY, DatabaseUnderTest, settings_over
from tests.fakes import BagOfWordsEmbedder


def ours() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("konstruct-memory")}


@pytest.fixture
def settings(database: DatabaseUnderTest) -> Settings:
    return settings_over(database, retention_interval_s=3600)


def test_closing_stops_every_worker_it_started(settings: Settings) -> None:
    before = ours()
    with Resources.open(settings, embedder=BagOfWordsEmbedder(), serving=True) as resources:
        resources.background.submit(lambda: None).result()
        resources.after_removal()  # a VACUUM in the background
        started = {t.name for t in ours() - before}
        assert "konstruct-memory-retention" in started
        assert any(name.startswith("konstruct-memory_") for name in started)  # the executor
        assert resources.supervisor is None  # an external database is not supervised
    assert resources.pool.closed
    assert not ours() - before, "a worker outlived its resources"
    resources.close()  # again: nothing left to do


def test_open_resources_do_not_change_and_a_copy_owns_nothing(settings: Settings) -> None:
    with Resources.open(settings, embedder=BagOfWordsEmbedder()) as resources:
        with pytest.raises(FrozenInstanceError):
            resources.observer = NullObserver()  # type: ignore[misc]
        assert resources.erasure_key == ERASURE_KEY.encode()
        copy = replace(resources, tuning=RecallTuning())
        copy.close()
        assert not resources.pool.closed and copy.pool is resources.pool
        assert resources.vacuum is not None
    assert resources.pool.closed


def test_a_library_memory_runs_no_schedule(settings: Settings) -> None:
    before = ours()
    with Resources.open(settings, embedder=BagOfWordsEmbedder()):
        assert "konstruct-memory-retention" not in {t.name for t in ours() - before}
