"""When serving, every logger writes JSON lines: ours, uvicorn's, the pool's, Alembic's."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from konstruct_memory.api.observability import configure_json_logging

NAMES = ["konstruct_memory.api", "uvicorn.error", "psycopg.pool", "alembic.runtime.migration"]


@pytest.fixture
def restored_logging() -> Iterator[None]:
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in ["konstruct_memory", *NAMES])]
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    yield
    for logger, handlers, level, propagate in saved:
        logger.handlers, logger.level, logger.propagate = handlers, level, propagate


def test_every_logger_writes_json(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    uvicorn = logging.getLogger("uvicorn.error")
    uvicorn.addHandler(logging.StreamHandler())  # as uvicorn's own configuration does
    uvicorn.setLevel(logging.WARNING)  # as `serve` runs it
    configure_json_logging()
    for name in NAMES:
        logging.getLogger(name).warning("something from %s", name)
    logging.getLogger("konstruct_memory.api").info(json.dumps({"event": "request", "ms": 1.5}))
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["logger"] for r in records] == [*NAMES, "konstruct_memory.api"]
    assert records[1]["message"] == "something from uvicorn.error"
    assert records[-1]["event"] == "request" and records[-1]["level"] == "INFO"
