"""Date cues of recall: the months and calendar days a query names, and the turns said then.

A question that names a month ("in May 2023") is often answered by what was said that month
or the month after; one that names a day ("on 3 June, 2023"), by what was said that day. The
service does not know the speaker's time zone, so a day spans every zone's version of it.
Only capitalised month names count: lower-case "may" and "march" are verbs more often.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple, TypeVar

Key = TypeVar("Key", bound=Hashable)

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("January", "Jan"), ("February", "Feb"), ("March", "Mar"), ("April", "Apr"),
            ("May",), ("June", "Jun"), ("July", "Jul"), ("August", "Aug"),
            ("September", "Sep", "Sept"), ("October", "Oct"), ("November", "Nov"),
            ("December", "Dec"),
        ],
        start=1,
    )
    for name in names
}  # fmt: skip
_MONTH_WORD = re.compile(r"\b(" + "|".join(MONTHS) + r")\b\.?(?:,?\s+(\d{4}))?")


def months_named(query: str) -> list[tuple[int, int | None]]:
    """(month, year or None) for each capitalised month name in ``query`` ("in May 2023",
    "last Sept."): lower-case "may" and "march" are verbs more often than months."""
    return [
        (MONTHS[match.group(1)], int(match.group(2)) if match.group(2) else None)
        for match in _MONTH_WORD.finditer(query)
    ]


def in_named_months(
    when: Mapping[Key, datetime], months: Sequence[tuple[int, int | None]]
) -> set[Key]:
    """Turns said in a named month, or the month after it (a question about "May" is often
    answered by what was said about it in June)."""
    wanted: set[tuple[int, int | None]] = set()
    for month, year in months:
        following = (month % 12 + 1, None if year is None else year + (month == 12))
        wanted |= {(month, year), following}
    return {i for i, at in when.items() if {(at.month, at.year), (at.month, None)} & wanted}


class Day(NamedTuple):
    """A calendar day a query names; ``year`` None when it names none ("on 3 June")."""

    month: int
    day: int
    year: int | None


_ORDINAL = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(\d{4}))?"
_MONTH_NAME = r"(" + "|".join(MONTHS) + r")\b\.?"
_DAY_MONTH = re.compile(r"\b" + _ORDINAL + r"\s+(?:of\s+)?" + _MONTH_NAME + _YEAR)
_MONTH_DAY = re.compile(r"\b" + _MONTH_NAME + r"\s+" + _ORDINAL + r"\b" + _YEAR)


def days_named(query: str) -> list[Day]:
    """The calendar days ``query`` names ("on 3 June, 2023", "May 23rd", "the 4th of July");
    impossible dates ("31 June") name none."""
    found = [
        (MONTHS[m.group(2)], int(m.group(1)), m.group(3)) for m in _DAY_MONTH.finditer(query)
    ] + [(MONTHS[m.group(1)], int(m.group(2)), m.group(3)) for m in _MONTH_DAY.finditer(query)]
    days = []
    for month, day, year in found:
        try:
            date(2000 if year is None else int(year), month, day)  # 2000: 29 February exists
        except ValueError:
            continue
        named = Day(month, day, None if year is None else int(year))
        if named not in days:
            days.append(named)
    return days


def day_spans(named: Day, years: Iterable[int]) -> list[tuple[datetime, datetime]]:
    """[start, end) of ``named`` in each of ``years`` (only its own, when it names one) where
    the date exists, wide enough to be that day somewhere on Earth (UTC+14 to UTC-12): the
    service does not know the speaker's time zone."""
    spans = []
    for year in [named.year] if named.year is not None else sorted(set(years)):
        try:
            start = datetime(year, named.month, named.day, tzinfo=UTC)
        except ValueError:  # 29 February of a common year
            continue
        spans.append((start - timedelta(hours=14), start + timedelta(days=1, hours=12)))
    return spans


def in_named_days(when: Mapping[Key, datetime], days: Sequence[Day]) -> set[Key]:
    """Turns said on a named day (``day_spans``; a day named without a year, in any year)."""
    found = set()
    for i, at in when.items():
        years = (at.year - 1, at.year, at.year + 1)  # the spans cross New Year
        if any(start <= at < end for d in days for start, end in day_spans(d, years)):
            found.add(i)
    return found


def month_cue(scores: Mapping[Key, float], ids: set[Key], share: float) -> dict[Key, float]:
    """Relevant turns of ``ids`` move ``share`` of the way to 1 (scores stay in [0, 1])."""
    return {i: s + (1.0 - s) * share if i in ids and s > 0 else s for i, s in scores.items()}
