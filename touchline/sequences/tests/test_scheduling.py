"""Step timing pinned to dates worked out by hand. 2026-03-23 is a Monday; Europe/Berlin moves to summer
time on Sunday 2026-03-29 (UTC+1 → UTC+2) and back on Sunday 2026-10-25."""

from datetime import UTC, datetime, time

import pytest

from touchline.sequences.scheduling import in_window, send_time, step_due_at

BERLIN = "Europe/Berlin"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_step_due_at_follows_the_spec_example_monday_thursday_monday():
    enrolled = utc("2026-03-16T16:00")  # Monday 17:00 in Berlin (UTC+1)
    second = step_due_at(previous_run_at=enrolled, delay_days=3, enrolled_at=enrolled, time_zone=BERLIN,
                         business_days_only=True)
    assert second == utc("2026-03-19T16:00")  # Thursday 17:00
    third = step_due_at(previous_run_at=second, delay_days=3, enrolled_at=enrolled, time_zone=BERLIN,
                        business_days_only=True)
    assert third == utc("2026-03-23T16:00")  # Sunday → Monday 17:00


def test_step_due_at_runs_on_the_weekend_when_business_days_are_off():
    enrolled = utc("2026-03-16T16:00")
    due = step_due_at(previous_run_at=utc("2026-03-19T16:00"), delay_days=3, enrolled_at=enrolled,
                      time_zone=BERLIN, business_days_only=False)
    assert due == utc("2026-03-22T16:00")  # Sunday 17:00


def test_step_due_at_keeps_the_local_time_of_day_across_the_dst_change():
    enrolled = utc("2026-03-26T16:00")  # Thursday 17:00 CET
    due = step_due_at(previous_run_at=enrolled, delay_days=4, enrolled_at=enrolled, time_zone=BERLIN,
                      business_days_only=True)
    assert due == utc("2026-03-30T15:00")  # Monday 17:00 CEST is 15:00 UTC


def test_step_due_at_counts_the_delay_from_when_a_task_was_completed():
    enrolled = utc("2026-03-16T08:30")  # Monday 09:30
    completed = utc("2026-03-18T14:00")  # Wednesday 15:00: the task held the sequence until then
    due = step_due_at(previous_run_at=completed, delay_days=1, enrolled_at=enrolled, time_zone=BERLIN,
                      business_days_only=True)
    assert due == utc("2026-03-19T08:30")  # Thursday 09:30


def test_step_due_at_is_never_in_the_past_when_the_delay_is_zero():
    enrolled = utc("2026-03-16T08:30")
    now = utc("2026-03-16T12:00")
    due = step_due_at(previous_run_at=now, delay_days=0, enrolled_at=enrolled, time_zone=BERLIN,
                      business_days_only=True, now=now)
    assert due == now


WINDOW = {"window_start": time(8, 0), "window_end": time(18, 0), "time_zone": BERLIN}


@pytest.mark.parametrize(("due", "first", "expected", "why"), [
    ("2026-03-16T09:00", False, "2026-03-16T09:00", "Monday 10:00 is inside the window"),
    ("2026-03-16T05:00", False, "2026-03-16T07:00", "Monday 06:00 waits for 08:00"),
    ("2026-03-16T17:30", False, "2026-03-17T07:00", "Monday 18:30 waits for Tuesday 08:00"),
    ("2026-03-20T17:30", False, "2026-03-23T07:00", "Friday 18:30 waits for Monday 08:00"),
    ("2026-03-21T10:00", True, "2026-03-21T10:00", "a first step goes out on a Saturday"),
    ("2026-03-21T18:00", True, "2026-03-23T07:00", "Saturday 19:00 is past the window: Monday 08:00"),
    ("2026-03-28T18:00", False, "2026-03-30T06:00", "Saturday 19:00 CET → Monday 08:00 CEST (06:00 UTC)"),
])
def test_send_time_moves_into_the_send_window(due, first, expected, why):
    assert send_time(due_at=utc(due), business_days_only=True, first_step=first, **WINDOW) == utc(expected), why


def test_in_window_includes_the_start_and_excludes_the_end():
    assert in_window(utc("2026-03-16T07:00"), **WINDOW)
    assert not in_window(utc("2026-03-16T17:00"), **WINDOW)
