"""Report date ranges: presets resolved in the account's time zone to a start-inclusive, end-exclusive pair
of aware datetimes.

Days start at local midnight, so a day across a daylight-saving change is 23 or 25 hours long and a range is
always whole local days. Rolling presets (`last_7_days`, …) are the N whole days before today, today
excluded, as HubSpot counts them; weeks start on Monday; quarters are calendar quarters. `all_time` has no
bounds (both None), `custom` takes a first and last local day, both included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Timeframe:
    key: str
    label: str
    start: datetime | None  # inclusive
    end: datetime | None  # exclusive

    def contains(self, moment: datetime) -> bool:
        return (self.start is None or moment >= self.start) and (self.end is None or moment < self.end)


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


# key → (label, function of today's local date → (first day, day after the last day))
PRESETS: dict[str, tuple[str, Callable[[date], tuple[date, date]]]] = {
    "today": ("Today", lambda d: (d, d + timedelta(days=1))),
    "yesterday": ("Yesterday", lambda d: (d - timedelta(days=1), d)),
    "this_week": ("This week", lambda d: (_week_start(d), _week_start(d) + timedelta(days=7))),
    "last_week": ("Last week", lambda d: (_week_start(d) - timedelta(days=7), _week_start(d))),
    "this_month": ("This month", lambda d: (d.replace(day=1), _add_months(d, 1))),
    "last_month": ("Last month", lambda d: (_add_months(d, -1), d.replace(day=1))),
    "this_quarter": ("This quarter", lambda d: (_quarter_start(d), _add_months(_quarter_start(d), 3))),
    "last_quarter": ("Last quarter", lambda d: (_add_months(_quarter_start(d), -3), _quarter_start(d))),
    "this_year": ("This year", lambda d: (date(d.year, 1, 1), date(d.year + 1, 1, 1))),
    "last_year": ("Last year", lambda d: (date(d.year - 1, 1, 1), date(d.year, 1, 1))),
    "last_7_days": ("Last 7 days", lambda d: (d - timedelta(days=7), d)),
    "last_30_days": ("Last 30 days", lambda d: (d - timedelta(days=30), d)),
    "last_90_days": ("Last 90 days", lambda d: (d - timedelta(days=90), d)),
    "last_365_days": ("Last 365 days", lambda d: (d - timedelta(days=365), d)),
    "last_12_months": ("Last 12 months", lambda d: (_add_months(d, -12), d.replace(day=1))),
}
ALL_TIME = "all_time"
CUSTOM = "custom"
CHOICES: list[tuple[str, str]] = [(ALL_TIME, "All time")] + [(k, label) for k, (label, _) in PRESETS.items()] + [
    (CUSTOM, "Custom")]


class TimeframeError(ValueError):
    pass


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    # Returned in UTC: Python subtracts two datetimes of one zone by wall clock, which would make every day
    # 24 hours long. A midnight skipped by a DST change (America/Santiago) maps to the instant the day starts.
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def timeframe_resolve(key: str, *, time_zone: str, now: datetime, first_day: date | None = None,
                      last_day: date | None = None) -> Timeframe:
    """The range of preset `key` as seen at `now` in `time_zone`; `custom` uses `first_day`…`last_day`."""
    zone = ZoneInfo(time_zone)
    if key == ALL_TIME:
        return Timeframe(key, "All time", None, None)
    if key == CUSTOM:
        if first_day is None or last_day is None:
            raise TimeframeError("A custom range needs a first and a last day.")
        if last_day < first_day:
            raise TimeframeError("The last day of the range is before its first day.")
        label = f"{first_day.isoformat()} – {last_day.isoformat()}"
        after_last = last_day + timedelta(days=1)
        return Timeframe(key, label, local_midnight(first_day, zone), local_midnight(after_last, zone))
    if key not in PRESETS:
        raise TimeframeError(f"Unknown timeframe {key!r}; one of: {', '.join(k for k, _ in CHOICES)}.")
    label, bounds = PRESETS[key]
    first, after_last = bounds(now.astimezone(zone).date())
    return Timeframe(key, label, local_midnight(first, zone), local_midnight(after_last, zone))
