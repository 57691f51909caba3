"""The engagement rollup equals its definition over the log (touchline/sequences/engagement.py): after seeded
random histories made through the real services and engine, after the set-based rebuild, after the
migration's backfill, and after each path that writes events in bulk."""

from __future__ import annotations

import importlib
import random
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from touchline.crm.importing import import_file
from touchline.reports.pipeline import report_run
from touchline.sequences import sending, services, tracking
from touchline.sequences.engagement import enrollment_engagement_rebuild
from touchline.sequences.models import (
    ROLLUP_COLUMNS,
    RUNNING_STATUSES,
    BounceType,
    EngagementEvent,
    Enrollment,
    EnrollmentStatus,
    EventKind,
    MeetingSource,
    MessageStatus,
    SentMessage,
    Task,
    TaskStatus,
)
from touchline.sequences.tests.test_importing import FILE as IMPORT_FILE

MONDAY = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
          "Safari/537.36")
AGENTS = [(CHROME, "203.0.113.7"), ("Mozilla/5.0", "17.58.63.10"), ("Barracuda Sentinel (EE)", "198.51.100.9"),
          ("python-requests/2.31.0", None)]


def rollup_by_definition(account) -> tuple[dict[int, dict], dict[int, dict]]:
    """Per enrollment and per message of the account, the rollup as docs/sequences.md defines it, counted here
    in Python from every event of the log (not with engagement.py's rules or SQL)."""
    zero = dict.fromkeys(ROLLUP_COLUMNS, 0)
    with scopes_disabled():
        enrollments = {pk: zero | {"last_event_at": None}
                       for pk in Enrollment.all_accounts.filter(account=account).values_list("pk", flat=True)}
        messages = {pk: dict(zero) for pk in SentMessage.all_accounts.filter(account=account)
                    .values_list("pk", flat=True)}
        events = list(EngagementEvent.all_accounts.filter(account=account))
    for event in events:
        columns = []
        if event.kind == EventKind.OPEN:
            columns = ["all_opens"] + ([] if event.is_machine else ["human_opens"])
        elif event.kind == EventKind.CLICK:
            columns = ["all_clicks"] + ([] if event.is_machine else ["human_clicks"])
        elif event.kind == EventKind.REPLY:
            columns = ["replies_received"]
        elif event.kind == EventKind.MEETING_BOOKED:
            columns = ["meetings_booked"]
        if event.enrollment_id is not None:
            row = enrollments[event.enrollment_id]
            for column in columns:
                row[column] += 1
            if row["last_event_at"] is None or event.occurred_at > row["last_event_at"]:
                row["last_event_at"] = event.occurred_at
        if event.message_id is not None:
            for column in columns:
                messages[event.message_id][column] += 1
    return enrollments, messages


def rollup_stored(account) -> tuple[dict[int, dict], dict[int, dict]]:
    with scopes_disabled():
        enrollments = {row.pop("pk"): row for row in Enrollment.all_accounts.filter(account=account).values(
            "pk", *ROLLUP_COLUMNS, "last_event_at")}
        messages = {row.pop("pk"): row for row in SentMessage.all_accounts.filter(account=account).values(
            "pk", *ROLLUP_COLUMNS)}
    return enrollments, messages


def assert_rollup_is_the_definition(account) -> None:
    expected_enrollments, expected_messages = rollup_by_definition(account)
    stored_enrollments, stored_messages = rollup_stored(account)
    assert stored_enrollments == expected_enrollments
    assert stored_messages == expected_messages


def random_history(rng: random.Random, cadence, sink_url: str, *, steps: int = 60, start: datetime = MONDAY,
                   contacts: list | None = None, enrolled_by: list | None = None) -> list:
    """A history made only through the services and the engine: enrollments (re-enrollments too), sends,
    tasks, opens and clicks of people and machines, replies (to a message or not), auto-replies, soft and hard
    bounces, unsubscribes, meetings (a colleague's too), pauses, resumes and unenrollments. Twelve contacts are
    made unless `contacts` are given (a second history in another sequence); returns them. Enrollments are by
    the cadence's user, or by one of `enrolled_by` (None: no user) chosen at random."""
    account = cadence.account
    if contacts is None:
        navy, army = cadence.company("Navy"), cadence.company("Army")
        contacts = [cadence.contact(f"c{i}@example.test", company=(navy, army, None)[i % 3]) for i in range(12)]
    with scope(account=account):
        cadence.sequence.unenroll_same_company = True
        cadence.sequence.business_days_only = False
        cadence.sequence.send_window_start, cadence.sequence.send_window_end = time(0, 0), time(23, 59, 59)
        cadence.sequence.save()
    now = start
    for _ in range(steps):
        now += timedelta(hours=rng.choice([1, 3, 7, 26]), minutes=rng.randint(0, 59))
        action = rng.choice(["enroll", "enroll", "tick", "tick", "tick", "hit", "hit", "hit", "hit", "reply", "reply",
                             "auto_reply", "bounce", "unsubscribe", "meeting", "pause", "resume", "unenroll", "task"])
        with scope(account=account):
            sent = list(SentMessage.objects.filter(status=MessageStatus.SENT).select_related("enrollment__contact")
                        .order_by("pk"))  # one order on every database, so a seed makes one history
            running = list(Enrollment.objects.filter(status__in=RUNNING_STATUSES).select_related("contact")
                           .order_by("pk"))
            contact = rng.choice(contacts)
            message = rng.choice(sent) if sent and rng.random() < 0.8 else None
            if action == "enroll":
                services.enrollments_create(sequence=cadence.sequence, contacts=rng.sample(contacts, k=3),
                                            inbox=cadence.inbox, now=now,
                                            enrolled_by=rng.choice(enrolled_by) if enrolled_by else cadence.user)
            elif action == "hit" and message is not None:
                agent, ip = rng.choice(AGENTS)
                tracking.hit_record(kind=rng.choice([EventKind.OPEN, EventKind.CLICK]), message_id=message.pk,
                                    user_agent=agent, ip=ip, url="https://acme.test/tour",
                                    now=message.sent_at + timedelta(seconds=rng.choice([1, 5, 3600, 90000])))
            elif action == "reply":
                services.contact_replied(contact=message.enrollment.contact if message else contact, at=now,
                                         message=message if rng.random() < 0.5 else None, detail="Re: hi")
            elif action == "auto_reply" and message is not None:
                services.contact_auto_replied(contact=message.enrollment.contact, message=message, at=now)
            elif action == "bounce" and message is not None:
                services.contact_bounced(contact=message.enrollment.contact, message=message, at=now,
                                         bounce_type=rng.choice([BounceType.SOFT, BounceType.HARD]))
            elif action == "unsubscribe" and message is not None:
                services.contact_unsubscribed(contact=message.enrollment.contact, message=message, at=now)
            elif action == "meeting":
                services.meeting_record(contact=contact, starts_at=now + timedelta(days=2),
                                        ends_at=now + timedelta(days=2, minutes=30), source=MeetingSource.LOGGED,
                                        host=cadence.user, at=now)
            elif action in ("pause", "resume", "unenroll") and running:
                enrollment = rng.choice(running)
                {"pause": services.enrollment_pause, "resume": services.enrollment_resume,
                 "unenroll": services.enrollment_unenroll}[action](enrollment=enrollment, now=now)
            elif action == "task":
                for task in Task.objects.filter(status=TaskStatus.OPEN).order_by("pk"):
                    sending.task_finish(task=task, skipped=rng.random() < 0.3, now=now)
        if action == "tick":
            sending.sequences_tick(now=now)
    return contacts


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_rollup_equals_the_log_for_every_enrollment_and_message_when_a_random_history_was_made_by_the_services(
        seed, cadence, sink):
    random_history(random.Random(seed), cadence, sink.url)
    with scopes_disabled():
        kinds = set(EngagementEvent.all_accounts.values_list("kind", flat=True))
        assert SentMessage.all_accounts.filter(status=MessageStatus.SENT).count() >= 5
    assert {EventKind.SENT, EventKind.OPEN} <= kinds and len(kinds) >= 8  # a varied history
    assert_rollup_is_the_definition(cadence.account)


@pytest.mark.parametrize("seed", [5, 6])
def test_rebuild_restores_the_rollup_from_the_log_when_it_was_wrong(seed, cadence, sink):
    random_history(random.Random(seed), cadence, sink.url)
    account = cadence.account
    with scopes_disabled():
        Enrollment.all_accounts.update(human_opens=7, all_clicks=3, meetings_booked=1, last_event_at=MONDAY)
        SentMessage.all_accounts.update(all_opens=5, replies_received=2)
    with scope(account=account):
        result = enrollment_engagement_rebuild(account=account)
    assert result["enrollments"] == len({pk for pk, row in rollup_by_definition(account)[0].items()
                                         if row["last_event_at"] is not None})
    assert_rollup_is_the_definition(account)


def test_rebuild_of_one_account_leaves_the_rollup_of_another_account_alone(account, other_account, user, history):
    with scopes_disabled():
        Enrollment.all_accounts.update(human_opens=9)
    with scope(account=other_account):
        enrollment_engagement_rebuild(account=other_account)
    with scopes_disabled():
        assert set(Enrollment.all_accounts.filter(account=account).values_list("human_opens", flat=True)) == {9}
    with scope(account=account):
        enrollment_engagement_rebuild(account=account)
    assert_rollup_is_the_definition(account)


def test_migration_backfill_computes_the_rollup_of_existing_history(cadence, sink):
    random_history(random.Random(8), cadence, sink.url, steps=40)
    with scopes_disabled():
        Enrollment.all_accounts.update(**dict.fromkeys(ROLLUP_COLUMNS, 0), last_event_at=None)
        SentMessage.all_accounts.update(**dict.fromkeys(ROLLUP_COLUMNS, 0))
    migration = importlib.import_module("touchline.sequences.migrations.0006_engagement_rollup")
    with connection.cursor() as cursor:  # what the schema editor does with the SQL, without its SQLite pragmas
        migration.backfill(None, type("Editor", (), {"execute": lambda self, sql: cursor.execute(sql)})())
    assert_rollup_is_the_definition(cadence.account)


# Bulk writers ------------------------------------------------------------------------------------------------------


def test_a_batch_of_sends_updates_the_enrollments_latest_event_in_one_statement(cadence, sink):
    contacts = [cadence.contact(f"batch{i}@example.test") for i in range(6)]
    with scope(account=cadence.account):
        services.enrollments_create(sequence=cadence.sequence, contacts=contacts, inbox=cadence.inbox,
                                    enrolled_by=cadence.user, now=MONDAY)
    with CaptureQueriesContext(connection) as queries:
        result = sending.sequences_tick(now=MONDAY + timedelta(minutes=5))
    assert result.sent == 6
    rollup_updates = [q["sql"] for q in queries.captured_queries
                      if q["sql"].startswith('UPDATE "sequences_enrollment" SET "last_event_at"')]
    assert len(rollup_updates) == 1
    assert_rollup_is_the_definition(cadence.account)
    with scopes_disabled():
        assert set(Enrollment.all_accounts.values_list("last_event_at", flat=True)) == {
            MONDAY + timedelta(minutes=5)}


def test_imported_events_are_counted_in_the_rollup_of_their_enrollment(account_scope, user):
    import_file(account=account_scope, path=IMPORT_FILE)
    replied = Enrollment.objects.get(external_id="e-1")
    # sent, an Apple MPP open (machine), a reply: the open counts with machine events only.
    assert (replied.human_opens, replied.all_opens, replied.replies_received) == (0, 1, 1)
    assert_rollup_is_the_definition(account_scope)
    import_file(account=account_scope, path=IMPORT_FILE)  # re-importing appends nothing, counts nothing twice
    assert_rollup_is_the_definition(account_scope)


def test_events_bulk_inserted_around_the_services_are_counted_after_a_rebuild(account_scope, history):
    enrollment = Enrollment.objects.filter(status=EnrollmentStatus.ACTIVE).first()
    at = timezone.now()
    EngagementEvent.objects.bulk_create([
        EngagementEvent(account=account_scope, kind=kind, contact_id=enrollment.contact_id, enrollment=enrollment,
                        sequence_id=enrollment.sequence_id, occurred_at=at, is_machine=machine)
        for kind, machine in [(EventKind.OPEN, True), (EventKind.OPEN, False), (EventKind.CLICK, False),
                              (EventKind.MEETING_BOOKED, False)]])
    enrollment_engagement_rebuild(account=account_scope)
    assert_rollup_is_the_definition(account_scope)


def test_reports_over_the_rollup_give_the_numbers_of_the_log_when_a_random_history_was_made(cadence, sink):
    """The read side: the summary's contact counts equal the same counts taken from the log in Python."""
    random_history(random.Random(11), cadence, sink.url)
    account = cadence.account
    with scope(account=account):
        enrollments = list(Enrollment.objects.exclude(status=EnrollmentStatus.SCHEDULED))
        events = list(EngagementEvent.objects.filter(enrollment__isnull=False))
        for machine in (False, True):
            done = {(e.enrollment_id, e.kind) for e in events if machine or not e.is_machine}
            contacts = {e.contact_id for e in enrollments}
            expected = {"enrolled_contacts": len(contacts)} | {
                key: len({e.contact_id for e in enrollments if (e.pk, kind) in done})
                for key, kind in (("opened_contacts", EventKind.OPEN), ("clicked_contacts", EventKind.CLICK),
                                  ("replied_contacts", EventKind.REPLY), ("met_contacts", EventKind.MEETING_BOOKED))}
            result = report_run("sequence_summary", account=account, data={"machine": "1" if machine else "0"})
            assert {k: result.rows[0][k] for k in expected} == expected
