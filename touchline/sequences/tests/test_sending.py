"""The engine end to end against a real SMTP server (aiosmtpd): what is sent, when, and never twice.

Times: Monday 2026-03-16 09:00 UTC is 10:00 in Berlin, the inbox's zone (UTC+1 until 29 March); the send
window is 08:00–18:00 local.
"""

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_scopes import scope, scopes_disabled

from touchline.sequences import sending, services
from touchline.sequences.models import (
    EmailSuppression,
    EngagementEvent,
    Enrollment,
    EnrollmentStatus,
    EspWebhook,
    EventKind,
    MessageStatus,
    SentMessage,
    Task,
    TaskStatus,
)
from touchline.sequences.tests.test_engagement_rollup import assert_rollup_is_the_definition

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)


def enroll(cadence, *contacts, now=MONDAY, **kwargs):
    with scope(account=cadence.account):
        return services.enrollments_create(sequence=cadence.sequence, contacts=contacts, inbox=cadence.inbox,
                                           enrolled_by=cadence.user, now=now, **kwargs)


def tick(now):
    return sending.sequences_tick(now=now)


def reload(enrollment):
    with scopes_disabled():
        return Enrollment.all_accounts.get(pk=enrollment.pk)


def test_first_email_is_sent_at_enrollment_as_real_mime(cadence, sink):
    grace = cadence.contact("grace@navy.test")
    [enrollment] = enroll(cadence, grace).enrolled
    assert tick(MONDAY).sent == 1
    [mail] = sink.messages
    with scopes_disabled():
        message = SentMessage.all_accounts.get()
    assert mail["From"] == "Ada Lovelace <ada@acme.test>" and mail["To"] == "grace@navy.test"
    assert mail["Subject"] == "Quick question, Grace"
    assert mail["Message-ID"] == message.message_id and message.message_id.endswith("@acme.test>")
    assert mail["List-Unsubscribe"].startswith("<https://touchline.example/t/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["X-Touchline-Message"] == message.message_id
    assert mail["X-SMTPAPI"] is None and mail["X-PM-Metadata-touchline_message"] is None  # no ESP webhook set up
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert text.startswith("Hi Grace,") and "Ada" in text
    assert "https://acme.test/tour" not in html.split(">https://acme.test/tour?ref=seq<")[0]  # href is rewritten
    assert 'href="https://touchline.example/t/' in html and 'width="1" height="1"' in html
    enrollment = reload(enrollment)
    assert enrollment.current_step_id == cadence.steps[1].pk
    assert enrollment.next_due_at == datetime(2026, 3, 18, 9, 0, tzinfo=UTC)  # Wednesday 10:00 Berlin
    assert enrollment.thread_message_id == message.message_id


def test_email_carries_the_headers_its_providers_echo_when_the_account_takes_their_webhooks(cadence, sink):
    with scope(account=cadence.account):
        for provider in ("sendgrid", "postmark"):
            EspWebhook.objects.create(account=cadence.account, provider=provider, secret="s")
    enroll(cadence, cadence.contact("grace@navy.test"))
    assert tick(MONDAY).sent == 1
    [mail] = sink.messages
    with scopes_disabled():
        message_id = SentMessage.all_accounts.get().message_id
    assert json.loads(mail["X-SMTPAPI"]) == {"unique_args": {"touchline_message": message_id}}
    assert mail["X-PM-Metadata-touchline_message"].strip() == message_id  # folded: the name is long
    assert mail["X-Mailgun-Variables"] is None  # no Mailgun webhook in this account


def test_sequence_runs_email_task_and_threaded_follow_up_then_finishes(cadence, sink):
    grace = cadence.contact("grace@navy.test")
    [enrollment] = enroll(cadence, grace).enrolled
    tick(MONDAY)
    assert tick(datetime(2026, 3, 18, 9, 0, tzinfo=UTC)).tasks == 1
    with scope(account=cadence.account):
        task = Task.objects.get()
        assert (task.assignee, task.title) == (cadence.user, "Call about the tour")
        # Completed Wednesday 15:00 local: 3 days later is Saturday, so Monday 23 March at 10:00 local.
        sending.task_finish(task=task, now=datetime(2026, 3, 18, 14, 0, tzinfo=UTC))
    assert reload(enrollment).next_due_at == datetime(2026, 3, 23, 9, 0, tzinfo=UTC)
    assert tick(datetime(2026, 3, 23, 8, 59, tzinfo=UTC)).sent == 0
    assert tick(datetime(2026, 3, 23, 9, 0, tzinfo=UTC)).sent == 1
    first, follow_up = sink.messages
    assert follow_up["In-Reply-To"] == first["Message-ID"] == follow_up["References"]
    assert follow_up["Subject"] == "Re: Quick question, Grace"
    enrollment = reload(enrollment)
    assert enrollment.status == EnrollmentStatus.FINISHED and enrollment.ended_at is not None
    with scopes_disabled():
        kinds = list(EngagementEvent.all_accounts.order_by("id").values_list("kind", flat=True))
    assert kinds == ["enrolled", "sent", "task_completed", "sent", "finished"]


def test_email_waits_for_the_send_window_when_enrolled_in_the_evening(cadence, sink):
    [enrollment] = enroll(cadence, cadence.contact("grace@navy.test"),
                          now=datetime(2026, 3, 16, 19, 0, tzinfo=UTC)).enrolled  # 20:00 local
    assert tick(datetime(2026, 3, 16, 19, 0, tzinfo=UTC)).sent == 0
    assert reload(enrollment).next_due_at == datetime(2026, 3, 17, 7, 0, tzinfo=UTC)  # Tuesday 08:00 local
    assert sink.received == []


def test_missing_token_without_fallback_blocks_the_send_with_a_clear_error(cadence, sink):
    with scope(account=cadence.account):
        cadence.steps[0].template = cadence.follow_up  # "Hi {{ contact.first_name }}" has no fallback
        cadence.steps[0].save()
    nameless = cadence.contact("anon@navy.test", first_name="")
    [enrollment] = enroll(cadence, nameless).enrolled
    tick(MONDAY)
    enrollment = reload(enrollment)
    assert sink.received == []
    assert enrollment.status == EnrollmentStatus.ERROR
    assert "contact.first_name is empty" in enrollment.status_detail


def test_per_minute_limit_holds_the_third_email_for_the_next_free_slot(cadence, sink):
    with scope(account=cadence.account):
        cadence.inbox.per_minute_limit = 2
        cadence.inbox.save()
    enrolled = enroll(cadence, *(cadence.contact(f"p{i}@navy.test") for i in range(3))).enrolled
    assert tick(MONDAY).sent == 2
    waiting = [e for e in map(reload, enrolled) if e.current_step_id == cadence.steps[0].pk]
    assert len(waiting) == 1 and waiting[0].next_due_at == MONDAY + timedelta(minutes=1)
    assert tick(MONDAY + timedelta(minutes=1)).sent == 1
    assert len(sink.received) == 3


def test_a_claimed_email_whose_worker_died_is_sent_once_after_restart(cadence, sink):
    [enrollment] = enroll(cadence, cadence.contact("grace@navy.test")).enrolled
    with scope(account=cadence.account):
        claimed = sending.step_run(enrollment_id=enrollment.pk, now=MONDAY)  # the worker dies right here
    assert claimed.status == MessageStatus.CLAIMED and sink.received == []
    assert tick(MONDAY + timedelta(seconds=30)).sent == 1  # the restarted worker
    assert tick(MONDAY + timedelta(minutes=1)).sent == 0
    assert len(sink.received) == 1


def test_an_interrupted_send_is_not_resent_and_ends_as_error(cadence, sink):
    [enrollment] = enroll(cadence, cadence.contact("grace@navy.test")).enrolled
    with scope(account=cadence.account):
        message = sending.step_run(enrollment_id=enrollment.pk, now=MONDAY)
        # As a worker killed during the SMTP conversation leaves it:
        SentMessage.objects.filter(pk=message.pk).update(status=MessageStatus.SENDING, claimed_at=MONDAY)
    assert tick(MONDAY + sending.SENDING_LEASE / 2).sent == 0
    result = tick(MONDAY + sending.SENDING_LEASE + timedelta(seconds=1))
    assert (result.interrupted, result.sent) == (1, 0)
    assert sink.received == []
    enrollment = reload(enrollment)
    assert enrollment.status == EnrollmentStatus.ERROR and "not resent" in enrollment.status_detail


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_the_same_due_steps_send_each_email_once(cadence, sink):
    contacts = [cadence.contact(f"p{i}@navy.test") for i in range(12)]
    enroll(cadence, *contacts)
    with scope(account=cadence.account):
        cadence.inbox.per_minute_limit = 100
        cadence.inbox.save()
    barrier, errors = threading.Barrier(2), []

    def worker():
        try:
            barrier.wait()
            tick(MONDAY)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(m["To"] for m in sink.messages) == sorted(c.email for c in contacts)
    with scopes_disabled():
        assert SentMessage.all_accounts.filter(status=MessageStatus.SENT).count() == 12


def test_temporary_smtp_failure_is_retried_with_backoff_then_ends_as_error(cadence, sink):
    [enrollment] = enroll(cadence, cadence.contact("grace@navy.test")).enrolled
    sink.refuse["grace@navy.test"] = "451 4.3.0 Try again later"
    now = MONDAY
    assert tick(now).retrying == 1
    with scopes_disabled():
        message = SentMessage.all_accounts.get()
    assert message.retry_at == now + timedelta(minutes=1) and "451" in message.error
    for wait in (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30)):
        assert tick(now + wait - timedelta(seconds=1)).retrying == 0  # not before its retry time
        now += wait
        tick(now)
    enrollment = reload(enrollment)
    assert enrollment.status == EnrollmentStatus.ERROR
    assert "after 4 attempts: 451 4.3.0 Try again later" in enrollment.status_detail
    assert sink.received == []


def test_recipient_refused_permanently_is_a_hard_bounce(cadence, sink):
    grace = cadence.contact("grace@navy.test")
    [enrollment] = enroll(cadence, grace).enrolled
    sink.refuse["grace@navy.test"] = "550 5.1.1 No such user"
    assert tick(MONDAY).failed == 1
    assert reload(enrollment).status == EnrollmentStatus.BOUNCED
    with scope(account=cadence.account):
        assert EmailSuppression.objects.get().email == "grace@navy.test"
        assert EngagementEvent.objects.get(kind=EventKind.BOUNCE).bounce_type == "hard"
        # and the address is refused next time
        assert services.enrollments_create(sequence=cadence.sequence, contacts=[grace], inbox=cadence.inbox,
                                           enrolled_by=cadence.user, now=MONDAY).refused[0][1] == \
            "an earlier email to this address bounced"


def test_enrollment_refuses_each_contact_with_its_reason(cadence, sink):
    active = cadence.contact("active@navy.test")
    enroll(cadence, active)
    no_email = cadence.contact("", first_name="Nameless")
    gone = cadence.contact("gone@navy.test")
    with scope(account=cadence.account):
        services.suppression_add(account=cadence.account, email="gone@navy.test", reason="unsubscribed")
    fresh = cadence.contact("fresh@navy.test")
    outcome = enroll(cadence, active, no_email, gone, fresh)
    assert [e.contact for e in outcome.enrolled] == [fresh]
    assert [(c.pk, reason) for c, reason in outcome.refused] == [
        (active.pk, "already active in this sequence"), (no_email.pk, "has no email address"),
        (gone.pk, "unsubscribed from sequence emails")]


def test_pause_keeps_the_remaining_delay_and_resume_does_not_burst(cadence, sink):
    [enrollment] = enroll(cadence, cadence.contact("grace@navy.test")).enrolled
    tick(MONDAY)
    wednesday = datetime(2026, 3, 18, 9, 0, tzinfo=UTC)
    with scope(account=cadence.account):
        services.enrollment_pause(enrollment=enrollment, now=wednesday - timedelta(days=1))  # one day left
        assert tick(wednesday).steps_run == 0  # paused: nothing runs when it would have been due
        services.enrollment_resume(enrollment=enrollment, now=datetime(2026, 3, 25, 9, 0, tzinfo=UTC))
    assert reload(enrollment).next_due_at == datetime(2026, 3, 26, 9, 0, tzinfo=UTC)  # one day after resume


def test_scheduled_enrollment_starts_at_its_time(cadence, sink):
    start = MONDAY + timedelta(days=1)
    [enrollment] = enroll(cadence, cadence.contact("grace@navy.test"), start_at=start).enrolled
    assert reload(enrollment).status == EnrollmentStatus.SCHEDULED
    assert tick(MONDAY).sent == 0
    assert tick(start).sent == 1
    assert reload(enrollment).status == EnrollmentStatus.ACTIVE


def test_unenrolled_enrollment_keeps_its_history_and_sends_nothing_more(cadence, sink):
    [enrollment] = enroll(cadence, cadence.contact("grace@navy.test")).enrolled
    tick(MONDAY)
    with scope(account=cadence.account):
        assert services.enrollment_unenroll(enrollment=enrollment, by=cadence.user)
        assert not services.enrollment_unenroll(enrollment=enrollment, by=cadence.user)
    tick(datetime(2026, 3, 30, 9, 0, tzinfo=UTC))
    assert len(sink.received) == 1
    with scopes_disabled():
        assert list(EngagementEvent.all_accounts.values_list("kind", flat=True).order_by("id")) == [
            "enrolled", "sent", "unenrolled"]
    assert reload(enrollment).status_detail == "by Ada Lovelace"
    assert TaskStatus.OPEN  # tasks of an ended enrollment stay as they are


def one_step_sequence(cadence):
    with scope(account=cadence.account):
        cadence.sequence.steps.exclude(position=1).delete()


def test_a_batch_of_sends_that_finishes_its_enrollments_ends_them_in_one_statement_with_an_event_each(
        cadence, sink):
    one_step_sequence(cadence)
    contacts = [cadence.contact(f"f{i}@navy.test") for i in range(6)]
    enrolled = enroll(cadence, *contacts).enrolled
    with CaptureQueriesContext(connection) as queries:
        assert tick(MONDAY).sent == 6
    ends = [q["sql"] for q in queries.captured_queries
            if q["sql"].startswith('UPDATE "sequences_enrollment" SET "status"')]
    assert len(ends) == 1
    with scopes_disabled():
        finished = list(EngagementEvent.all_accounts.filter(kind=EventKind.FINISHED).values_list(
            "enrollment_id", "contact_id", "sequence_id", "occurred_at", "detail", "message_id"))
    assert sorted(finished) == sorted((e.pk, e.contact_id, cadence.sequence.pk, MONDAY, "all steps done", None)
                                      for e in enrolled)
    for enrollment in map(reload, enrolled):
        assert (enrollment.status, enrollment.ended_at, enrollment.status_detail) == (
            EnrollmentStatus.FINISHED, MONDAY, "all steps done")
        assert enrollment.last_step_completed_at == MONDAY and enrollment.last_event_at == MONDAY
        assert enrollment.thread_message_id.endswith("@acme.test>") and enrollment.next_due_at is None
    assert_rollup_is_the_definition(cadence.account)


def test_enrollments_end_ends_only_the_running_ones_and_keeps_the_first_reason_of_the_others(cadence, sink):
    contacts = [cadence.contact(f"e{i}@navy.test") for i in range(3)]
    first, second, third = enroll(cadence, *contacts).enrolled
    with scope(account=cadence.account):
        assert services.enrollment_unenroll(enrollment=second, by=cadence.user)
        stale_second = Enrollment.objects.get(pk=second.pk)
        stale_second.status = EnrollmentStatus.ACTIVE  # as a worker that read it before the unenrollment sees it
        ended = services.enrollments_end(enrollments=[first, stale_second, third], status=EnrollmentStatus.ERROR,
                                         at=MONDAY, detail="x" * 600)
        assert [e.pk for e in ended] == [first.pk, third.pk]
        assert services.enrollments_end(enrollments=[first, third], status=EnrollmentStatus.FINISHED) == []
        errors = EngagementEvent.objects.filter(kind=EventKind.ERROR)
        assert sorted(errors.values_list("enrollment_id", flat=True)) == [first.pk, third.pk]
        assert {len(detail) for detail in errors.values_list("detail", flat=True)} == {600}  # the log keeps it all
    assert [reload(e).status for e in (first, second, third)] == [
        EnrollmentStatus.ERROR, EnrollmentStatus.UNENROLLED, EnrollmentStatus.ERROR]
    assert len(reload(first).status_detail) == 500 and first.status == EnrollmentStatus.ERROR
    assert_rollup_is_the_definition(cadence.account)


def test_non_ascii_sender_name_subject_and_body_arrive_intact_through_a_real_smtp_server(cadence, sink):
    with scope(account=cadence.account):
        cadence.inbox.from_name = "Zoë Ångström-Ölund"
        cadence.inbox.save()
        cadence.intro.subject = "Grüße aus Köln, {{ contact.first_name | there }} — 東京でお会いしましょう"
        cadence.intro.body = "Hallo {{ contact.first_name | there }},\n\nsiehe https://acme.test/tour?ref=seq.\n\nZoë"
        cadence.intro.save()
    enroll(cadence, cadence.contact("juergen@navy.test", first_name="Jürgen"))
    assert tick(MONDAY).sent == 1
    [mail], [raw] = sink.messages, sink.received
    assert mail["From"] == "Zoë Ångström-Ölund <ada@acme.test>"
    assert mail["From"].addresses[0].display_name == "Zoë Ångström-Ölund"
    assert mail["Subject"] == "Grüße aus Köln, Jürgen — 東京でお会いしましょう"
    assert raw.isascii()  # encoded words and a transfer encoding: no 8-bit data without 8BITMIME
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Hallo Jürgen,\n\nsiehe https://touchline.example/t/") and text.endswith("\n\nZoë\n")
    html = mail.get_body(("html",)).get_content()
    assert "<p>Hallo Jürgen,</p>" in html and "<p>Zoë</p>" in html and 'width="1" height="1"' in html
    with scopes_disabled():
        assert SentMessage.all_accounts.get().subject == mail["Subject"]


def test_list_unsubscribe_reaches_the_server_as_a_bare_url_in_angle_brackets(cadence, sink):
    enroll(cadence, cadence.contact("grace@navy.test"))
    assert tick(MONDAY).sent == 1
    [raw] = sink.received
    headers = raw.split(b"\r\n\r\n")[0].replace(b"\r\n ", b" ").split(b"\r\n")
    [unsubscribe] = [h for h in headers if h.startswith(b"List-Unsubscribe:")]
    # RFC 2369/8058: mailbox providers read the URL itself; an RFC 2047 encoded word there is not a URL.
    assert re.fullmatch(rb"List-Unsubscribe: <https://touchline\.example/t/[^<>\s]+>", unsubscribe)
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in headers


def test_a_tick_renders_each_email_once_and_renders_one_claimed_by_an_earlier_worker_when_sending_it(cadence, sink):
    enroll(cadence, *(cadence.contact(f"r{i}@navy.test") for i in range(3)))
    with mock.patch.object(sending, "render_email", wraps=sending.render_email) as render:
        assert tick(MONDAY).sent == 3
        assert render.call_count == 3  # the claim's render is the one sent
    [late] = enroll(cadence, cadence.contact("late@navy.test", first_name="Late")).enrolled
    with scope(account=cadence.account):
        sending.step_run(enrollment_id=late.pk, now=MONDAY)  # claimed, then that worker died
    with mock.patch.object(sending, "render_email", wraps=sending.render_email) as render:
        assert tick(MONDAY + timedelta(seconds=30)).sent == 1
        assert render.call_count == 1
    assert sink.messages[-1]["Subject"] == "Quick question, Late"
    assert sink.messages[-1].get_body(("plain",)).get_content().startswith("Hi Late,")


def test_an_email_sent_while_its_enrollment_was_paused_leaves_the_next_delay_for_the_resume(cadence, sink):
    [enrollment] = enroll(cadence, cadence.contact("grace@navy.test")).enrolled
    with scope(account=cadence.account):
        sending.step_run(enrollment_id=enrollment.pk, now=MONDAY)
        assert services.enrollment_pause(enrollment=enrollment, now=MONDAY)  # after the claim, before the send
    assert tick(MONDAY + timedelta(seconds=10)).sent == 1
    enrollment = reload(enrollment)
    assert (enrollment.status, enrollment.current_step_id) == (EnrollmentStatus.PAUSED, cadence.steps[1].pk)
    # The call is due two days after the send (Wednesday 10:00 Berlin): all of it is left for the resume.
    assert enrollment.remaining_delay == timedelta(days=2) - timedelta(seconds=10)
    assert enrollment.next_due_at is None and enrollment.last_step_completed_at == MONDAY + timedelta(seconds=10)
