"""Slot math: weekly hours, exceptions, DST changes and sessions crossing midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from clinic_app.services.availability import (
    Exception_,
    WeeklyHours,
    free_slots,
    inside,
    merge,
    subtract,
    working_windows,
)

BERLIN = ZoneInfo("Europe/Berlin")


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _day(day: date, zone: ZoneInfo = BERLIN) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def test_weekly_hours_become_local_windows() -> None:
    monday = date(2027, 1, 4)
    start, end = _day(monday)
    windows = working_windows(
        [WeeklyHours(0, time(9), time(17))], [], zone=BERLIN, start=start, end=end
    )
    assert windows == [(_utc(2027, 1, 4, 8), _utc(2027, 1, 4, 16))]  # CET = UTC+1


def test_dst_spring_forward_keeps_wall_clock_hours() -> None:
    # 2027-03-28 (Sunday): Europe/Berlin jumps from 02:00 CET to 03:00 CEST.
    before, change = date(2027, 3, 27), date(2027, 3, 28)
    hours = [WeeklyHours(5, time(9), time(17)), WeeklyHours(6, time(9), time(17))]
    start, _ = _day(before)
    _, end = _day(change)
    windows = working_windows(hours, [], zone=BERLIN, start=start, end=end)
    assert windows == [
        (_utc(2027, 3, 27, 8), _utc(2027, 3, 27, 16)),  # UTC+1
        (_utc(2027, 3, 28, 7), _utc(2027, 3, 28, 15)),  # UTC+2: still 09:00–17:00 local
    ]
    slots = free_slots(windows[1:], [], length=timedelta(minutes=30))
    assert len(slots) == 16
    assert slots[0][0].astimezone(BERLIN).hour == 9


def test_night_session_across_midnight_and_dst_is_shorter() -> None:
    # Saturday 22:00 → Sunday 06:00 local, over the spring-forward night: 7 real hours.
    hours = [WeeklyHours(5, time(22), time(6))]
    start, _ = _day(date(2027, 3, 27))
    _, end = _day(date(2027, 3, 28))
    windows = working_windows(hours, [], zone=BERLIN, start=start, end=end)
    assert windows == [(_utc(2027, 3, 27, 21), _utc(2027, 3, 28, 4))]
    slots = free_slots(windows, [], length=timedelta(hours=1))
    assert len(slots) == 7
    assert slots[1][0].astimezone(BERLIN).date() == date(2027, 3, 27)  # 23:00 Saturday
    assert slots[2][0].astimezone(BERLIN).date() == date(2027, 3, 28)  # crosses midnight


def test_yesterdays_night_session_shows_on_the_next_day() -> None:
    hours = [WeeklyHours(0, time(20), time(2))]  # Monday 20:00 → Tuesday 02:00
    start, end = _day(date(2027, 1, 5))  # only Tuesday asked for
    windows = working_windows(hours, [], zone=BERLIN, start=start, end=end)
    assert windows == [(_utc(2027, 1, 4, 23), _utc(2027, 1, 5, 1))]


def test_dst_fall_back_day_is_wall_clock_too() -> None:
    # 2027-10-31: 03:00 CEST → 02:00 CET.
    windows = working_windows(
        [WeeklyHours(6, time(9), time(17))],
        [],
        zone=BERLIN,
        start=_day(date(2027, 10, 31))[0],
        end=_day(date(2027, 10, 31))[1],
    )
    assert windows == [(_utc(2027, 10, 31, 8), _utc(2027, 10, 31, 16))]


def test_exceptions_remove_and_add_time() -> None:
    monday = date(2027, 1, 4)
    start, end = _day(monday)
    hours = [WeeklyHours(0, time(9), time(17))]
    blocked = Exception_("blocked", _utc(2027, 1, 4, 11), _utc(2027, 1, 4, 12))  # 12–13 local
    extra = Exception_("extra", _utc(2027, 1, 4, 17), _utc(2027, 1, 4, 18))  # 18–19 local
    windows = working_windows(hours, [blocked, extra], zone=BERLIN, start=start, end=end)
    assert windows == [
        (_utc(2027, 1, 4, 8), _utc(2027, 1, 4, 11)),
        (_utc(2027, 1, 4, 12), _utc(2027, 1, 4, 16)),
        (_utc(2027, 1, 4, 17), _utc(2027, 1, 4, 18)),
    ]
    leave = Exception_("leave", _utc(2027, 1, 3), _utc(2027, 1, 6))
    assert working_windows(hours, [leave], zone=BERLIN, start=start, end=end) == []


def test_validity_dates_limit_a_template() -> None:
    hours = [WeeklyHours(0, time(9), time(17), valid_from=date(2027, 1, 11))]
    start, end = _day(date(2027, 1, 4))
    assert working_windows(hours, [], zone=BERLIN, start=start, end=end) == []


def test_free_slots_skip_busy_and_past() -> None:
    window = [(_utc(2027, 1, 4, 8), _utc(2027, 1, 4, 10))]
    busy = [(_utc(2027, 1, 4, 8, 20), _utc(2027, 1, 4, 8, 50))]
    slots = free_slots(
        window, busy, length=timedelta(minutes=20), not_before=_utc(2027, 1, 4, 8, 1)
    )
    starts = [s.strftime("%H:%M") for s, _ in slots]
    assert starts == ["09:00", "09:20", "09:40"]  # 08:00 past, 08:20/08:40 busy
    with pytest.raises(ValueError):
        free_slots(window, [], length=timedelta(0))


def test_interval_helpers() -> None:
    a, b, c = _utc(2027, 1, 1, 8), _utc(2027, 1, 1, 9), _utc(2027, 1, 1, 10)
    assert merge([(b, c), (a, b)]) == [(a, c)]
    assert subtract([(a, c)], [(b, c)]) == [(a, b)]
    assert inside([(a, b), (b, c)], a, c)
    assert not inside([(a, b)], a, c)
