"""The VACUUM throttle and window settings: their validation and the window's arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from konstruct_memory.config import Settings, VacuumWindow
from konstruct_memory.db.vacuum import VacuumThrottle


@pytest.mark.parametrize(
    ("setting", "value", "variable"),
    [
        ("vacuum_cost_delay_ms", -1, "KONSTRUCT_MEMORY_VACUUM_COST_DELAY_MS must be from 0 to 100"),
        (
            "vacuum_cost_delay_ms",
            250,
            "KONSTRUCT_MEMORY_VACUUM_COST_DELAY_MS must be from 0 to 100",
        ),
        ("vacuum_cost_limit", 0, "KONSTRUCT_MEMORY_VACUUM_COST_LIMIT must be from 1 to 10000"),
        ("vacuum_cost_limit", 20_000, "KONSTRUCT_MEMORY_VACUUM_COST_LIMIT must be from 1 to 10000"),
        ("vacuum_niceness", -5, "KONSTRUCT_MEMORY_VACUUM_NICENESS must be from 0 to 19"),
        ("vacuum_niceness", 20, "KONSTRUCT_MEMORY_VACUUM_NICENESS must be from 0 to 19"),
        ("vacuum_window", "2-5", "KONSTRUCT_MEMORY_VACUUM_WINDOW must be a daily UTC window"),
        ("vacuum_window", "24:00-05:00", "KONSTRUCT_MEMORY_VACUUM_WINDOW must be a daily UTC"),
        ("vacuum_window", "02:60-05:00", "KONSTRUCT_MEMORY_VACUUM_WINDOW must be a daily UTC"),
        ("vacuum_window", "03:00-03:00", "it starts where it ends"),
    ],
)
def test_a_wrong_vacuum_setting_is_refused_by_its_variable(
    setting: str, value: object, variable: str
) -> None:
    with pytest.raises(ValidationError, match=variable):
        Settings(**{setting: value})


def test_the_vacuum_settings_and_their_defaults() -> None:
    default = Settings()
    assert VacuumThrottle.of(default) == VacuumThrottle(20.0, 200, 19)
    assert default.vacuum_window_utc is None
    assert str(VacuumThrottle(0, 200)) == "unthrottled"
    assert str(VacuumThrottle(10, 200, 19)) == "10 ms every 200 cost units, niceness 19"
    chosen = Settings(
        vacuum_cost_delay_ms=0.5,
        vacuum_cost_limit=1000,
        vacuum_niceness=0,
        vacuum_window=" 22:30-04:00",
    )
    assert VacuumThrottle.of(chosen) == VacuumThrottle(0.5, 1000, 0)
    assert str(chosen.vacuum_window_utc) == "22:30-04:00 UTC"
    assert Settings(vacuum_window="").vacuum_window_utc is None


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, 1, hour, minute, tzinfo=UTC)


def test_a_window_within_one_day() -> None:
    window = VacuumWindow.parse("02:00-05:00")
    assert [window.contains(at(h)) for h in (1, 2, 4, 5)] == [False, True, True, False]
    assert window.seconds_until_open(at(3)) == 0
    assert window.seconds_until_open(at(1, 30)) == 30 * 60
    assert window.seconds_until_open(at(5)) == 21 * 3600  # tomorrow's


def test_a_window_across_midnight() -> None:
    window = VacuumWindow.parse("22:00-04:00")
    assert [window.contains(at(h)) for h in (21, 22, 23, 0, 3, 4)] == [
        False,
        True,
        True,
        True,
        True,
        False,
    ]
    assert window.seconds_until_open(at(4)) == 18 * 3600
    assert window.seconds_until_open(at(21, 59)) == 60
