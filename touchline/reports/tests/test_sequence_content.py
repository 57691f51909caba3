"""Email performance per template and enrollment status by step, on a hand-built history.

    message  template   enrollment  status   events
    m1       Intro      e1          sent     human open, reply
    m2       Intro      e2          sent     machine open (Apple proxy)
    m3       Follow-up  e2          sent     human click
    m4       Intro      e3          sent     meeting booked while m4 was e3's latest message
    m5       Follow-up  e4          claimed  (not sent: not counted)

Intro: 3 sends; opened 1 (m1) → 33.3 %, 2 with machine opens; replies 1 → 33.3 %; meetings 1 → 33.3 %.
Follow-up: 1 send; clicked 1 → 100.0 %.
"""

from datetime import UTC, datetime

import pytest
from django_scopes import scope

from touchline.crm.services import contact_create
from touchline.reports.pipeline import ReportParamError, report_run
from touchline.sequences.models import (
    EmailTemplate,
    Enrollment,
    EventKind,
    Inbox,
    MessageStatus,
    SentMessage,
    Sequence,
    Step,
    StepType,
)
from touchline.sequences.services import event_record

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def outbound(account, user):
    with scope(account=account):
        inbox = Inbox.objects.create(account=account, user=user, from_name="Ada", from_email="ada@acme.test")
        intro = EmailTemplate.objects.create(account=account, name="Intro", subject="Hi", body="Hello")
        follow_up = EmailTemplate.objects.create(account=account, name="Follow-up", subject="Re", body="Again")
        sequence = Sequence.objects.create(account=account, name="Outbound")
        step1 = Step.objects.create(account=account, sequence=sequence, position=1,
                                    step_type=StepType.AUTOMATED_EMAIL, template=intro)
        step2 = Step.objects.create(account=account, sequence=sequence, position=2,
                                    step_type=StepType.AUTOMATED_EMAIL, template=follow_up, delay_days=2)
        n = iter(range(100))

        def enrollment(status, step):
            contact = contact_create(account=account, email=f"c{next(n)}@example.test")
            return Enrollment.objects.create(account=account, sequence=sequence, contact=contact, enrolled_by=user,
                                             inbox=inbox, current_step=step, status=status, enrolled_at=NOW)

        def message(e, step, status=MessageStatus.SENT):
            return SentMessage.objects.create(account=account, enrollment=e, step=step, template=step.template,
                                              inbox=inbox, message_id=f"<m{next(n)}@acme.test>",
                                              to_email=e.contact.email, subject="s", status=status,
                                              sent_at=NOW if status == MessageStatus.SENT else None)

        e1, e2 = enrollment("replied", step1), enrollment("active", step2)
        e3, e4 = enrollment("meeting_booked", step1), enrollment("paused", step2)
        enrollment("scheduled", step1)
        m1, m2, m3, m4 = message(e1, step1), message(e2, step1), message(e2, step2), message(e3, step1)
        message(e4, step2, MessageStatus.CLAIMED)
        event_record(contact=e1.contact, kind=EventKind.OPEN, message=m1)
        event_record(contact=e1.contact, kind=EventKind.REPLY, message=m1)
        event_record(contact=e2.contact, kind=EventKind.OPEN, message=m2, is_machine=True, machine_reason="apple_mpp")
        event_record(contact=e2.contact, kind=EventKind.CLICK, message=m3)
        event_record(contact=e3.contact, kind=EventKind.MEETING_BOOKED, message=m4)
    return sequence


def run(account, report, **params):
    with scope(account=account):
        return report_run(report, account=account, data=params, now=NOW)


def test_email_performance_counts_messages_per_template_as_percent_of_sends(account, outbound):
    rows = {r["template"]: r for r in run(account, "email_performance", sequence=str(outbound.pk)).rows}
    intro, follow_up = rows["Intro"], rows["Follow-up"]
    assert intro["message_sends"] == 3
    assert [str(intro[k]) for k in ("message_open_rate", "message_click_rate", "message_reply_rate",
                                    "message_meeting_rate")] == ["33.3", "0.0", "33.3", "33.3"]
    assert (follow_up["message_sends"], str(follow_up["message_click_rate"]),
            str(follow_up["message_open_rate"])) == (1, "100.0", "0.0")


def test_email_performance_shows_counts_and_machine_opens_when_asked(account, outbound):
    rows = {r["template"]: r for r in run(account, "email_performance", show="counts", machine="1").rows}
    assert {k: rows["Intro"][k] for k in ("message_sends", "message_opens", "message_clicks", "message_replies",
                                          "message_meetings")} == {
        "message_sends": 3, "message_opens": 2, "message_clicks": 0, "message_replies": 1, "message_meetings": 1}


def test_enrollment_status_by_step_counts_each_enrollment_at_its_last_reached_step(account, outbound):
    rows = run(account, "enrollment_status_by_step", sequence=str(outbound.pk)).rows
    assert [(r["step"], r["active"], r["paused"], r["replied"], r["meeting_booked"]) for r in rows] == [
        ("Step 1", 0, 0, 1, 1), ("Step 2", 1, 1, 0, 0)]
    assert "scheduled" not in rows[0]


def test_enrollment_status_by_step_needs_a_sequence(account, outbound):
    with pytest.raises(ReportParamError) as error:
        run(account, "enrollment_status_by_step")
    assert "sequence" in error.value.fields


def test_email_performance_of_one_sequence_leaves_out_the_template_s_sends_in_another(account, user, outbound):
    """Intro sent once more from a second sequence: 4 sends across sequences, still 3 in Outbound's."""
    with scope(account=account):
        intro, inbox = EmailTemplate.objects.get(name="Intro"), Inbox.objects.get()
        other = Sequence.objects.create(account=account, name="Inbound")
        step = Step.objects.create(account=account, sequence=other, position=1, step_type=StepType.AUTOMATED_EMAIL,
                                   template=intro)
        contact = contact_create(account=account, email="other@example.test")
        enrollment = Enrollment.objects.create(account=account, sequence=other, contact=contact, enrolled_by=user,
                                               inbox=inbox, current_step=step, status="active", enrolled_at=NOW)
        SentMessage.objects.create(account=account, enrollment=enrollment, step=step, template=intro, inbox=inbox,
                                   message_id="<other@acme.test>", to_email=contact.email, subject="s",
                                   status=MessageStatus.SENT, sent_at=NOW)

    def intro_sends(**params):
        rows = run(account, "email_performance", show="counts", **params).rows
        return next(r["message_sends"] for r in rows if r["template"] == "Intro")

    assert (intro_sends(), intro_sends(sequence=str(outbound.pk)), intro_sends(sequence=str(other.pk))) == (4, 3, 1)
