"""Every preset pinned to one date: Sunday 2026-03-29 10:00 UTC, the day Berlin moves to summer time.
The expected instants are worked out by hand: Berlin is UTC+1 before 02:00 that day and UTC+2 after."""

from datetime import UTC, date, datetime, timedelta

import pytest

from touchline.core.timeframes import CHOICES, TimeframeError, timeframe_resolve

NOW = datetime(2026, 3, 29, 10, 0, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


BERLIN = [
    ("today", "2026-03-28T23:00", "2026-03-29T22:00"),  # a 23-hour day
    ("yesterday", "2026-03-27T23:00", "2026-03-28T23:00"),
    ("this_week", "2026-03-22T23:00", "2026-03-29T22:00"),  # Monday 23 March … Sunday 29 March
    ("last_week", "2026-03-15T23:00", "2026-03-22T23:00"),
    ("this_month", "2026-02-28T23:00", "2026-03-31T22:00"),
    ("last_month", "2026-01-31T23:00", "2026-02-28T23:00"),
    ("this_quarter", "2025-12-31T23:00", "2026-03-31T22:00"),
    ("last_quarter", "2025-09-30T22:00", "2025-12-31T23:00"),  # 1 October 2025 was summer time
    ("this_year", "2025-12-31T23:00", "2026-12-31T23:00"),
    ("last_year", "2024-12-31T23:00", "2025-12-31T23:00"),
    ("last_7_days", "2026-03-21T23:00", "2026-03-28T23:00"),  # 22…28 March; today excluded
    ("last_30_days", "2026-02-26T23:00", "2026-03-28T23:00"),  # 27 February…28 March
    ("last_90_days", "2025-12-28T23:00", "2026-03-28T23:00"),  # 29 December…28 March
    ("last_365_days", "2025-03-28T23:00", "2026-03-28T23:00"),  # 29 March 2025 was still winter time
    ("last_12_months", "2025-02-28T23:00", "2026-02-28T23:00"),  # March 2025 … February 2026
]


@pytest.mark.parametrize(("key", "start", "end"), BERLIN)
def test_timeframe_resolve_gives_local_day_bounds_when_the_account_is_in_berlin(key, start, end):
    frame = timeframe_resolve(key, time_zone="Europe/Berlin", now=NOW)
    assert (frame.start, frame.end) == (utc(start), utc(end))


def test_every_preset_is_pinned_by_the_table():
    assert {key for key, *_ in BERLIN} | {"all_time", "custom"} == {key for key, _ in CHOICES}


def test_timeframe_today_is_23_hours_long_when_dst_starts():
    frame = timeframe_resolve("today", time_zone="Europe/Berlin", now=NOW)
    assert frame.end - frame.start == timedelta(hours=23)


def test_timeframe_yesterday_is_25_hours_long_the_day_after_dst_ends():
    frame = timeframe_resolve("yesterday", time_zone="Europe/Berlin", now=utc("2026-10-26T09:00"))
    assert (frame.start, frame.end) == (utc("2026-10-24T22:00"), utc("2026-10-25T23:00"))


def test_timeframe_today_starts_at_one_when_dst_skips_midnight_in_santiago():
    # Chile springs forward at local midnight: 6 September 2026 begins at 01:00 -03, i.e. 04:00 UTC.
    frame = timeframe_resolve("today", time_zone="America/Santiago", now=utc("2026-09-06T12:00"))
    assert (frame.start, frame.end) == (utc("2026-09-06T04:00"), utc("2026-09-07T03:00"))


def test_timeframe_today_depends_on_the_account_zone_when_utc_has_a_different_date():
    # 10:00 UTC on 29 March is already 30 March 00:00 in Kiritimati (UTC+14).
    frame = timeframe_resolve("today", time_zone="Pacific/Kiritimati", now=NOW)
    assert frame.start == utc("2026-03-29T10:00")


def test_timeframe_all_time_is_unbounded():
    frame = timeframe_resolve("all_time", time_zone="UTC", now=NOW)
    assert (frame.start, frame.end) == (None, None)
    assert frame.contains(utc("1999-01-01T00:00"))


def test_timeframe_custom_includes_its_last_day():
    frame = timeframe_resolve("custom", time_zone="UTC", now=NOW, first_day=date(2026, 1, 1),
                              last_day=date(2026, 1, 31))
    assert (frame.start, frame.end) == (utc("2026-01-01T00:00"), utc("2026-02-01T00:00"))
    assert frame.contains(utc("2026-01-31T23:59")) and not frame.contains(utc("2026-02-01T00:00"))


@pytest.mark.parametrize(("key", "first", "last", "message"), [
    ("custom", None, date(2026, 1, 1), "needs a first and a last day"),
    ("custom", date(2026, 2, 1), date(2026, 1, 1), "before its first day"),
    ("fortnight", None, None, "Unknown timeframe"),
])
def test_timeframe_resolve_refuses_when_the_range_makes_no_sense(key, first, last, message):
    with pytest.raises(TimeframeError, match=message):
        timeframe_resolve(key, time_zone="UTC", now=NOW, first_day=first, last_day=last)
