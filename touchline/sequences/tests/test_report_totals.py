"""The account-wide totals (touchline/sequences/report_totals.py) give every report exactly what scanning the
enrollments gives: on seeded random histories in two sequences by two users over several months, made through
the real services and engine, after incremental refreshes, after a rebuild, after writes that bypass the
services, deletions and a time-zone change. The second sequence's enrollments are by either user or none, so a
user's enrollments span both sequences, and a sequence's several users."""

from __future__ import annotations

import dataclasses
import itertools
import random
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from touchline.core.accounts import user_create
from touchline.crm.models import Company, Contact
from touchline.reports.pipeline import report_execute, report_get, report_run
from touchline.reports.queries import sequence_library
from touchline.sequences import analytics
from touchline.sequences.models import (
    ContactDayPart,
    ContactTotalsPart,
    DayPriorTotal,
    Enrollment,
    EnrollmentStatus,
    Inbox,
    MessageCounts,
    Sequence,
    SequenceDayTotal,
    SequenceReportTotal,
    SequenceTotalsDirty,
    Step,
    StepType,
    TemplateDayPart,
    TemplateDayTotal,
)
from touchline.sequences.report_totals import MEASURES, sequence_totals_rebuild, sequence_totals_refresh
from touchline.sequences.tests.conftest import Cadence
from touchline.sequences.tests.test_engagement_rollup import MONDAY, random_history

# Every report that reads the totals, with each filter the totals answer.
CASES = [("sequence_summary", {}), ("sequence_summary", {"sequence": "first"}),
         ("sequence_summary", {"enrolled_by": "first"}), ("sequence_summary", {"enrolled_by": "second"}),
         ("sequence_summary", {"sequence": "second"}), ("sequence_performance", {}),
         ("sequence_performance", {"sequence": "second"}), ("sequence_enrollments_by_month", {}),
         ("sequence_sender_score", {}), ("highly_engaged_contacts", {}), ("email_performance", {}),
         ("email_performance", {"show": "counts"}), ("highly_engaged_contacts", {"enrolled_by": "first"}),
         ("highly_engaged_contacts", {"enrolled_by": "second"})]
# Enrollment date ranges read the day parts: one starting inside the first history and ending inside the second
# (contacts enrolled before the range must still count once in it), the second history alone, one day, all of
# 2026, and one starting before 1970 (day numbers below zero).
RANGES = [("2026-03-20", "2026-04-30"), ("2026-04-28", "2026-05-31"), ("2026-03-17", "2026-03-17"),
          ("2026-01-01", "2026-12-31"), ("1969-06-01", "2026-12-31")]
CASES += [(key, {"enrolled": "custom", "enrolled_from": first, "enrolled_to": last})
          for key in ("sequence_summary", "sequence_performance", "email_performance", "highly_engaged_contacts")
          for first, last in RANGES]
# One enrolling user with a range, or one sequence, or both: the day parts of that user's enrollments, across
# sequences or per sequence; one sequence with a range: the per-sequence day parts.
CASES += [(key, params | extra)
          for params in ({"enrolled_by": "first"}, {"enrolled_by": "second"}, {"sequence": "second"})
          for extra in ({"enrolled": "custom", "enrolled_from": first, "enrolled_to": last} for first, last in RANGES)
          for key in ("sequence_summary", "sequence_performance", "highly_engaged_contacts")
          if not (key == "highly_engaged_contacts" and "sequence" in params)]
CASES += [("sequence_performance", {"enrolled_by": "first"}), ("sequence_performance", {"enrolled_by": "second"}),
          ("sequence_summary", {"enrolled_by": "second", "sequence": "first"}),
          ("sequence_summary", {"enrolled_by": "first", "sequence": "second", "enrolled": "custom",
                                "enrolled_from": "2026-04-28", "enrolled_to": "2026-05-31"}),
          ("sequence_performance", {"enrolled_by": "first", "sequence": "second"})]
DAY_PLANS = (analytics.IN_RANGE, analytics.AFTER_RANGE)
# Email performance by enrolling user, alone and with a range: the per template, day and user totals.
CASES += [("email_performance", {"enrolled_by": "first"}), ("email_performance", {"enrolled_by": "second"}),
          ("email_performance", {"enrolled_by": "second", "enrolled": "custom", "enrolled_from": "2026-04-28",
                                 "enrolled_to": "2026-05-31"})]


def _second_cadence(cadence) -> Cadence:
    """Another sequence, owned by another user with another inbox, over the same contacts."""
    account = cadence.account
    bob = user_create(username="bob", email="bob@acme.test", password="correct horse battery", account=account,
                      first_name="Bob", last_name="Kahn")
    with scope(account=account):
        inbox = Inbox.objects.create(account=account, user=bob, from_name="Bob Kahn", from_email="bob@acme.test",
                                     time_zone="Europe/Berlin")
        sequence = Sequence.objects.create(account=account, name="Renewals", owner=bob,
                                           send_window_start=time(0, 0), send_window_end=time(23, 59, 59))
        steps = [Step.objects.create(account=account, sequence=sequence, position=1,
                                     step_type=StepType.AUTOMATED_EMAIL, template=cadence.intro),
                 Step.objects.create(account=account, sequence=sequence, position=2,
                                     step_type=StepType.AUTOMATED_EMAIL, delay_days=4, template=cadence.follow_up)]
    return Cadence(account, bob, inbox, sequence, steps, cadence.intro, cadence.follow_up)


def _both_ways(account, key: str, params: dict) -> tuple[dict, dict]:
    """The report as it runs (reading the totals) and the same query scanning the enrollments."""
    report = report_get(key)
    query = report.parse(account, params, now=timezone.now())
    assert query.use_totals, f"{key} {params} should read the totals"
    from_totals = report_execute(report, query).to_json()
    scanned = report_execute(report, dataclasses.replace(query, use_totals=False)).to_json()
    return from_totals, scanned


def _boundary_ranges(account) -> list[dict]:
    """Ranges starting, and ranges ending, on each local day with an enrollment: a contact's earlier enrollment on
    a range's first day is where counting it once can go wrong (a prior on the first day is not before it)."""
    zone = ZoneInfo(account.time_zone)
    days = sorted({moment.astimezone(zone).date() for moment in Enrollment.objects.exclude(
        status=EnrollmentStatus.SCHEDULED).values_list("enrolled_at", flat=True)})
    ranges = [(day, day + timedelta(days=6)) for day in days] + [(days[0] - timedelta(days=1), day) for day in days]
    return [{"enrolled": "custom", "enrolled_from": first.isoformat(), "enrolled_to": last.isoformat()}
            for first, last in ranges]


def _assert_every_report_equals_its_scan(account, cadences: dict[str, Cadence]) -> None:
    """Each case, and each range of `_boundary_ranges`, from the totals and by the scan; a date range or a user both
    ways the day parts can be read (`analytics.day_count_plan`)."""
    ids = {"sequence": lambda name: cadences[name].sequence.pk, "enrolled_by": lambda name: cadences[name].user.pk}
    for key, params in CASES + [(key, params) for params in _boundary_ranges(account)
                                for key in ("sequence_summary", "sequence_performance", "email_performance",
                                            "highly_engaged_contacts")]:
        params = {k: str(ids[k](v)) if k in ids else v for k, v in params.items()}
        day_parts = "enrolled" in params or "enrolled_by" in params  # perhaps read from the day parts
        for machine, plan in itertools.product(("0", "1"), DAY_PLANS if day_parts else (None,)):
            with pytest.MonkeyPatch.context() as patch:
                if plan is not None:
                    patch.setattr(analytics, "day_count_plan", lambda *args, plan=plan, **kwargs: plan)
                from_totals, scanned = _both_ways(account, key, params | {"machine": machine})
            assert from_totals == scanned, (key, params, machine, plan)


def _stored(account) -> dict[str, set]:
    """Every row the totals keep for the account, per table."""
    def rows(model, *columns) -> set:
        return {tuple(row) for row in model.all_accounts.filter(account=account).values_list(*columns)}

    day_columns = [f.name for f in ContactDayPart._meta.get_fields() if f.name not in ("id", "account")]
    messages = [f.name for f in MessageCounts._meta.get_fields()]
    day_totals = [f.name for f in SequenceDayTotal._meta.get_fields() if f.name not in ("id", "account")]
    prior_totals = [f.name for f in DayPriorTotal._meta.get_fields() if f.name not in ("id", "account")]
    with scopes_disabled():
        return {"parts": rows(ContactTotalsPart, "contact_id", "grain", "grain_key", *MEASURES, "score_human",
                              "score_all", "last_event_at"),
                "totals": rows(SequenceReportTotal, "grain", "grain_key", *MEASURES),
                "day parts": rows(ContactDayPart, *day_columns),
                "template day parts": rows(TemplateDayPart, "contact_id", "template_key", "enrolled_by_key", "day",
                                           *messages),
                "template day totals": rows(TemplateDayTotal, "template_key", "enrolled_by_key", "day", *messages),
                "day totals": rows(SequenceDayTotal, *day_totals),
                "day prior totals": rows(DayPriorTotal, *prior_totals)}


@pytest.fixture
def two_sequences(cadence, sink, monkeypatch):
    """Users with a single ended enrollment are listed by the sender score here, so it compares real rows."""
    monkeypatch.setattr(sequence_library, "SENDER_SCORE_MIN_ENDED", 1)
    return cadence, _second_cadence(cadence)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_report_from_the_totals_equals_its_scan_when_two_random_histories_were_made(seed, two_sequences,
                                                                                          sink):
    first, second = two_sequences
    rng = random.Random(seed)
    contacts = random_history(rng, first, sink.url, steps=50)
    with scope(account=first.account):
        enrolled = Enrollment.objects.exclude(status=EnrollmentStatus.SCHEDULED).values("contact_id").distinct()
        assert sequence_totals_refresh(account=first.account) == enrolled.count() > 0  # the first one builds
    # The second history changes the totals through the triggers alone; each report refreshes before reading.
    random_history(rng, second, sink.url, steps=50, start=MONDAY + timedelta(days=40), contacts=contacts,
                   enrolled_by=[second.user, first.user, None])
    with scope(account=first.account):
        months = report_run("sequence_enrollments_by_month", account=first.account, data={}).rows
        assert len(months) >= 2 and report_run("sequence_sender_score", account=first.account, data={}).rows
        _assert_every_report_equals_its_scan(first.account, {"first": first, "second": second})
        refreshed = _stored(first.account)
        sequence_totals_rebuild(account=first.account)
        assert _stored(first.account) == refreshed  # incremental refreshes left exactly what a rebuild makes


def test_totals_follow_writes_that_bypass_the_services_and_deleted_contacts(two_sequences, sink):
    first, second = two_sequences
    contacts = random_history(random.Random(7), first, sink.url, steps=40)
    random_history(random.Random(8), second, sink.url, steps=30, start=MONDAY + timedelta(days=35),
                   contacts=contacts, enrolled_by=[second.user, first.user, None])
    account = first.account
    cadences = {"first": first, "second": second}
    with scope(account=account):
        sequence_totals_refresh(account=account)
        # A bulk UPDATE and a raw one, as an import or a repair would write: the triggers still mark them.
        Enrollment.objects.filter(sequence=second.sequence).update(human_opens=2, all_opens=3)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {Enrollment._meta.db_table} SET status = %s, replies_received = 1 WHERE id = %s",
                           [EnrollmentStatus.REPLIED, Enrollment.objects.filter(sequence=first.sequence).first().pk])
        assert SequenceTotalsDirty.objects.filter(account_id=account.pk).exists()
        _assert_every_report_equals_its_scan(account, cadences)
        enrolled = report_run("sequence_summary", account=account, data={}).rows[0]["enrolled_contacts"]
        gone = Enrollment.objects.exclude(status=EnrollmentStatus.SCHEDULED).first().contact
        Contact.objects.filter(pk=gone.pk).delete()  # its enrollments cascade; its parts leave the totals
        assert report_run("sequence_summary", account=account, data={}).rows[0]["enrolled_contacts"] == enrolled - 1
        _assert_every_report_equals_its_scan(account, cadences)


def test_a_time_zone_change_rebuilds_the_months_and_days_in_the_new_zone(cadence, sink):
    account = cadence.account
    with scope(account=account):
        contact = cadence.contact("late@example.test")
        from touchline.sequences import services
        # 23:30 UTC on 31 March: April in Berlin, March in New York.
        services.enrollments_create(sequence=cadence.sequence, contacts=[contact], inbox=cadence.inbox,
                                    enrolled_by=cadence.user, now=MONDAY.replace(day=31, hour=23, minute=30))
        march_31 = {"enrolled": "custom", "enrolled_from": "2026-03-31", "enrolled_to": "2026-03-31"}

        def enrolled_on_march_31() -> int:  # read from the day parts
            return report_run("sequence_summary", account=account, data=march_31).rows[0]["enrolled_contacts"]

        assert [r["month"] for r in report_run("sequence_enrollments_by_month", account=account, data={}).rows] == [
            "2026-04"]
        assert enrolled_on_march_31() == 0
        account.time_zone = "America/New_York"
        account.save()
        assert [r["month"] for r in report_run("sequence_enrollments_by_month", account=account, data={}).rows] == [
            "2026-03"]
        assert enrolled_on_march_31() == 1


def test_refresh_without_changes_writes_nothing_and_leaves_other_accounts_alone(cadence, sink, other_account):
    random_history(random.Random(4), cadence, sink.url, steps=30)
    with scope(account=cadence.account):
        sequence_totals_refresh(account=cadence.account)
        assert sequence_totals_refresh(account=cadence.account) == 0
        before = _stored(cadence.account)
    with scope(account=other_account):
        assert sequence_totals_refresh(account=other_account) == 0  # built, and empty
        assert report_run("sequence_summary", account=other_account, data={}).rows[0]["enrolled_contacts"] == 0
    assert _stored(cadence.account) == before
    assert not any(_stored(other_account).values())


def test_a_company_or_highly_engaged_contacts_of_one_sequence_scan_the_enrollments(account, user):
    """Nothing kept answers a company (not a key of the totals), nor highly engaged contacts of one sequence (the
    rankings are kept across sequences only)."""
    with scope(account=account):
        company = Company.objects.create(account=account, name="Navy")
        sequence = Sequence.objects.create(account=account, name="One", owner=user)

        def use_totals(key: str, params: dict) -> bool:
            return report_get(key).parse(account, params, now=timezone.now()).use_totals

        for params in ({}, {"enrolled": "last_90_days"}, {"enrolled_by": str(user.pk)}, {"machine": "1"},
                       {"enrolled": "this_month", "enrolled_by": str(user.pk)}):
            for key in ("sequence_summary", "sequence_performance", "highly_engaged_contacts"):
                assert use_totals(key, params)
                assert not use_totals(key, params | {"company": str(company.pk)})
            assert use_totals("sequence_summary", params | {"sequence": str(sequence.pk)})
            assert not use_totals("highly_engaged_contacts", params | {"sequence": str(sequence.pk)})


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_highly_engaged_in_a_date_range_walks_the_ranking_to_the_scan_s_answer(steps, two_sequences, sink,
                                                                                monkeypatch):
    """A top 3, walked 2 contacts at a time over the day parts' ranking: the walk stops early, walks everyone, or
    (after `steps`) gives up to the scan — every way the same rows as the scan, on every range starting or ending
    on an enrollment day, of every user and of the one enrolling in both sequences."""
    first, second = two_sequences
    contacts = random_history(random.Random(11), first, sink.url, steps=50)
    random_history(random.Random(12), second, sink.url, steps=40, start=MONDAY + timedelta(days=20),
                   contacts=contacts, enrolled_by=[second.user, first.user, None])
    monkeypatch.setattr(sequence_library, "TOP_CONTACTS", 3)
    monkeypatch.setattr(analytics, "RANK_BATCH", 2)
    rank_steps, costed = analytics.rank_steps, set()
    monkeypatch.setattr(analytics, "rank_steps", lambda scanned_rows: costed.add(scanned_rows) or steps)
    outcomes = []

    def recorded(*args, **kwargs):
        found = analytics.top_contacts_in_range(*args, **kwargs)
        outcomes.append("scan" if found is None else "walk")
        return found

    monkeypatch.setattr(sequence_library, "top_contacts_in_range", recorded)
    with scope(account=first.account):
        for params, user, machine in itertools.product(_boundary_ranges(first.account), ({}, {"enrolled_by": str(
                first.user.pk)}), ("0", "1")):
            both = _both_ways(first.account, "highly_engaged_contacts", params | user | {"machine": machine})
            assert both[0] == both[1], (params, user, machine)
    # One step of 2 holds a top 3 only when the range has fewer contacts with a score (all walked); two steps
    # sometimes do; four always do on these histories.
    assert set(outcomes) == {1: {"walk", "scan"}, 2: {"walk", "scan"}, 4: {"walk"}}[steps]
    # The walk is costed against the scan, which reads every user's enrollments in the range, user filter or not.
    with scope(account=first.account):
        every_user = {analytics.range_day_parts(report_get("highly_engaged_contacts").parse(
            first.account, params, now=timezone.now()).filter, first.account.time_zone)["in_range"]
            for params in _boundary_ranges(first.account)}
    assert costed == every_user
    # A range of fewer day parts than a step costs (RANK_STEP_ROWS) is scanned without a walk.
    monkeypatch.setattr(analytics, "rank_steps", rank_steps)
    outcomes.clear()
    with scope(account=first.account):
        _both_ways(first.account, "highly_engaged_contacts", _boundary_ranges(first.account)[0])
    assert outcomes == ["scan"]


def test_a_range_is_read_from_its_own_rows_or_from_the_rows_after_it_whichever_are_fewer(cadence, sink):
    """Three contacts enrolled on 16 March and one on 20 March: one day part per contact, and a day total per day."""
    from touchline.sequences import services

    account = cadence.account
    with scope(account=account):
        for i, day in enumerate([16, 16, 16, 20]):
            services.enrollments_create(sequence=cadence.sequence, contacts=[cadence.contact(f"c{i}@example.test")],
                                        inbox=cadence.inbox, enrolled_by=cadence.user, now=MONDAY.replace(day=day))
        sequence_totals_refresh(account=account)

        def plan(first: str, last: str) -> str:
            query = report_get("sequence_summary").parse(
                account, {"enrolled": "custom", "enrolled_from": first, "enrolled_to": last}, now=timezone.now())
            return analytics.day_count_plan(query.filter, account.time_zone)

        # 16 March: its 3 rows, or 2 day totals from it on and the 1 row after it — a tie reads the range.
        assert plan("2026-03-16", "2026-03-16") == analytics.IN_RANGE
        # All of March: its 4 rows, or 2 day totals and no row after it.
        assert plan("2026-03-01", "2026-03-31") == analytics.AFTER_RANGE
        # 20 March: its 1 row, or 1 day total.
        assert plan("2026-03-20", "2026-03-20") == analytics.IN_RANGE


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's plan: PostgreSQL plans by table size")
def test_the_rankings_are_read_in_index_order_on_sqlite(account, user):
    """SQLite uses a partial index only when the query names its condition, and a range's day condition must not
    pull it onto another index: each ranking reads its own index in order, with no sort."""
    def plan(queryset) -> str:
        sql, params = queryset.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            return " ".join(row[3] for row in cursor.fetchall())

    with scope(account=account):
        for f, index in ((analytics.EngagementFilter(account.pk), "totals_part_rank_account_human"),
                         (analytics.EngagementFilter(account.pk, enrolled_by_id=user.pk), "totals_part_rank_user_all")):
            f = dataclasses.replace(f, include_machine=index.endswith("_all"))
            read = plan(analytics.totals_top_contacts(f)[:50])
            assert index in read and "TEMP B-TREE" not in read, read
        read = plan(analytics.range_ranking(analytics.EngagementFilter(account.pk), 20_000, 20_090)[:1000])
        assert "day_part_rank_human" in read and "TEMP B-TREE" not in read, read
        # A later step of the walk starts in the index where the last one stopped.
        last_read = {"score": 7, "last_event": timezone.now(), "contact_id": 12}
        read = plan(analytics.range_ranking(analytics.EngagementFilter(account.pk), 20_000, 20_090, after=last_read))
        assert "day_part_rank_human" in read and "score_human_from<?" in read and "TEMP B-TREE" not in read, read
