"""When each step of an enrollment runs (SPEC §1 "Timing"), as pure functions of local wall-clock time.

- The first step runs at enrollment, whatever the day.
- A later step runs `delay_days` calendar days after the day the previous step ran (or its task was
  completed or skipped), at the enrollment's local time of day, in the sender's time zone. With "business
  days only" a step that falls on a Saturday or Sunday runs on Monday at that time. Example: enrolled
  Monday 17:00, delays 3 and 3 → Monday 17:00, Thursday 17:00, the next Monday 17:00.
- Automated emails go out inside the sequence's send window: a due time before the window waits for its
  start that day, one after it waits for the next day's start (the next weekday with business days only,
  except for the first step, which may go out on a weekend).
- Times are computed as local wall-clock times and converted to UTC, so a step keeps its local time of day
  across a daylight-saving change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SATURDAY = 5


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone)


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    # Round-trip through UTC: a wall time skipped by a DST change becomes the first valid instant after it.
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def _skip_weekend(day: date) -> date:
    while day.weekday() >= SATURDAY:
        day += timedelta(days=1)
    return day


def step_due_at(*, previous_run_at: datetime, delay_days: int, enrolled_at: datetime, time_zone: str,
                business_days_only: bool, now: datetime | None = None) -> datetime:
    """When a step after the first is due: `delay_days` after the local day of `previous_run_at`, at the
    local time of day of `enrolled_at`, moved to Monday from a weekend when asked; never before `now`."""
    zone = ZoneInfo(time_zone)
    day = _local(previous_run_at, zone).date() + timedelta(days=delay_days)
    if business_days_only:
        day = _skip_weekend(day)
    due = _at(day, _local(enrolled_at, zone).timetz().replace(tzinfo=None), zone)
    return max(due, now) if now is not None else due


def send_time(*, due_at: datetime, window_start: time, window_end: time, time_zone: str,
              business_days_only: bool, first_step: bool) -> datetime:
    """The first moment at or after `due_at` inside the send window (start included, end excluded)."""
    zone = ZoneInfo(time_zone)
    local = _local(due_at, zone)
    day, clock = local.date(), local.time()
    if clock >= window_end:
        day, clock = day + timedelta(days=1), window_start
    elif clock < window_start:
        clock = window_start
    if business_days_only and not (first_step and day == local.date()):
        moved = _skip_weekend(day)
        if moved != day:
            day, clock = moved, window_start
    if (day, clock) == (local.date(), local.time()):
        return due_at  # already inside the window
    return _at(day, clock, zone)


def in_window(moment: datetime, *, window_start: time, window_end: time, time_zone: str) -> bool:
    clock = _local(moment, ZoneInfo(time_zone)).time()
    return window_start <= clock < window_end
