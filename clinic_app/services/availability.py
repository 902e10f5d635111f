"""Slot math: weekly templates + exceptions → working windows → free slots (pure functions).

All inputs and outputs are aware datetimes in UTC except the templates, which are wall-clock
times in the clinic's timezone. Building each day's window with ``datetime.combine(day, t,
tzinfo=zone)`` keeps a 09:00–17:00 template at 09:00–17:00 local on both sides of a DST change
(the UTC length of the night that contains the change differs, the working day does not).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class WeeklyHours:
    """One template row: ``weekday`` 0=Monday; ``end <= start`` runs past midnight."""

    weekday: int
    start: time
    end: time
    valid_from: date | None = None
    valid_until: date | None = None


@dataclass(frozen=True)
class Exception_:
    """An exception: ``extra`` adds time, every other kind removes it."""

    kind: str
    starts_at: datetime
    ends_at: datetime


def as_utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Wall-clock ``at`` on ``day`` in ``zone`` as UTC.

    ``fold=0`` (PEP 495): a time inside the spring-forward gap maps to the instant an hour
    later in wall time (02:30 → 03:30), a repeated autumn time to its first occurrence.
    """
    return datetime.combine(day, at).replace(tzinfo=zone).astimezone(UTC)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping union of intervals (touching intervals join)."""
    result: list[Interval] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if result and start <= result[-1][1]:
            if end > result[-1][1]:
                result[-1] = (result[-1][0], end)
        else:
            result.append((start, end))
    return result


def subtract(intervals: Sequence[Interval], holes: Iterable[Interval]) -> list[Interval]:
    """``intervals`` minus every hole."""
    result = list(merge(intervals))
    for hole_start, hole_end in merge(holes):
        next_result: list[Interval] = []
        for start, end in result:
            if hole_end <= start or hole_start >= end:
                next_result.append((start, end))
                continue
            if start < hole_start:
                next_result.append((start, hole_start))
            if hole_end < end:
                next_result.append((hole_end, end))
        result = next_result
    return result


def working_windows(
    hours: Iterable[WeeklyHours],
    exceptions: Iterable[Exception_],
    *,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
) -> list[Interval]:
    """A provider's working time within [start, end) in UTC, exceptions applied."""
    start, end = as_utc(start), as_utc(end)
    first_day = start.astimezone(zone).date() - timedelta(days=1)  # yesterday's night session
    last_day = end.astimezone(zone).date()
    windows: list[Interval] = []
    hours = list(hours)
    day = first_day
    while day <= last_day:
        for row in hours:
            if row.weekday != day.weekday():
                continue
            if row.valid_from and day < row.valid_from:
                continue
            if row.valid_until and day > row.valid_until:
                continue
            end_day = day if row.end > row.start else day + timedelta(days=1)
            windows.append((_local(day, row.start, zone), _local(end_day, row.end, zone)))
        day += timedelta(days=1)
    exceptions = list(exceptions)
    windows.extend(
        (as_utc(e.starts_at), as_utc(e.ends_at)) for e in exceptions if e.kind == "extra"
    )
    holes = [(as_utc(e.starts_at), as_utc(e.ends_at)) for e in exceptions if e.kind != "extra"]
    clipped = [(max(s, start), min(e, end)) for s, e in subtract(windows, holes)]
    return [(s, e) for s, e in clipped if e > s]


def free_slots(
    windows: Sequence[Interval],
    busy: Iterable[Interval],
    *,
    length: timedelta,
    not_before: datetime | None = None,
) -> list[Interval]:
    """Slots of ``length`` on each window's grid that overlap nothing busy.

    The grid starts at each window's start (a 09:00 session with 20-minute visits offers
    09:00, 09:20, …), so slots line up with what receptionists expect.
    """
    if length <= timedelta(0):
        raise ValueError("slot length must be positive")
    busy_list = merge((as_utc(s), as_utc(e)) for s, e in busy)
    slots: list[Interval] = []
    for window_start, window_end in windows:
        cursor = window_start
        while cursor + length <= window_end:
            slot = (cursor, cursor + length)
            cursor += length
            if not_before is not None and slot[0] < not_before:
                continue
            if any(b_start < slot[1] and slot[0] < b_end for b_start, b_end in busy_list):
                continue
            slots.append(slot)
    return slots


def inside(windows: Sequence[Interval], start: datetime, end: datetime) -> bool:
    """True when [start, end) lies within one working window."""
    return any(w_start <= start and end <= w_end for w_start, w_end in merge(windows))
