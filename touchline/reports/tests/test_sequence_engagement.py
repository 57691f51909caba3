"""Sequence engagement reports on a hand-built history. The account is professional; `now` is pinned.

    contact  sequence  enrollment          status          enrolled by  company  events
    c1       Outbound  e1 (3 March)        replied         ada          Navy     human open, reply
    c2       Outbound  e2 (3 March)        active          bob          Navy     machine open (Apple), human click
    c3       Outbound  e3 (10 January)     finished        ada          —        human open
    c4       Outbound  e4 (3 March)        meeting_booked  ada          —        meeting booked
    c5       Outbound  e5a (1 March)       unenrolled      ada          —        —
    c5       Outbound  e5b (4 March)       active          ada          —        —
    c6       Outbound  e6 (scheduled)      scheduled       ada          —        — (never counted)
    c4       Nurture   e7 (3 March)        active          ada          —        —
    c1       Nurture   e8 (3 March)        replied         ada          Navy     reply (the same reply ended both)

Outbound, human only: 5 contacts (c1–c5); opened c1, c3 → 40.0 %; clicked c2 → 20.0 %; replied c1 → 20.0 %;
met c4 → 20.0 %; no response c3 (c5 still has a running enrollment) → 20.0 %. With machine opens: c2 opened too.
"""

from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django_scopes import scope

from touchline.core.accounts import user_create
from touchline.core.models import Plan
from touchline.crm.services import company_create, contact_create
from touchline.reports.pipeline import report_run
from touchline.sequences.models import Enrollment, EventKind, Inbox, Sequence, Step, StepType
from touchline.sequences.services import event_record

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
MARCH_3 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def history(account, user):
    with scope(account=account):
        bob = user_create(username="bob", email="bob@acme.test", password="another long passphrase", account=account)
        navy = company_create(account=account, name="Navy")
        inbox = Inbox.objects.create(account=account, user=user, from_name="Ada", from_email="ada@acme.test")
        outbound = Sequence.objects.create(account=account, name="Outbound", owner=user)
        nurture = Sequence.objects.create(account=account, name="Nurture", owner=user)
        step = {s: Step.objects.create(account=account, sequence=s, position=1, step_type=StepType.AUTOMATED_EMAIL)
                for s in (outbound, nurture)}
        c = {i: contact_create(account=account, email=f"c{i}@example.test", company=navy if i <= 2 else None)
             for i in range(1, 7)}

        def enrollment(contact, sequence, status, at=MARCH_3, by=user):
            ended = status not in ("active", "paused", "scheduled")
            return Enrollment.objects.create(
                account=account, sequence=sequence, contact=contact, enrolled_by=by, inbox=inbox,
                company_at_enrollment=contact.company, current_step=step[sequence], status=status, enrolled_at=at,
                ended_at=NOW if ended else None)

        def event(e, kind, **fields):
            event_record(contact=e.contact, kind=kind, enrollment=e, occurred_at=MARCH_3, **fields)

        e1 = enrollment(c[1], outbound, "replied")
        event(e1, EventKind.OPEN)
        event(e1, EventKind.REPLY)
        e2 = enrollment(c[2], outbound, "active", by=bob)
        event(e2, EventKind.OPEN, is_machine=True, machine_reason="apple_mpp")
        event(e2, EventKind.CLICK)
        e3 = enrollment(c[3], outbound, "finished", at=datetime(2026, 1, 10, 9, 0, tzinfo=UTC))
        event(e3, EventKind.OPEN)
        e4 = enrollment(c[4], outbound, "meeting_booked")
        event(e4, EventKind.MEETING_BOOKED)
        enrollment(c[5], outbound, "unenrolled", at=datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
        enrollment(c[5], outbound, "active", at=datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
        enrollment(c[6], outbound, "scheduled")
        enrollment(c[4], nurture, "active")
        e8 = enrollment(c[1], nurture, "replied")
        event(e8, EventKind.REPLY)
    return {"outbound": outbound, "nurture": nurture, "navy": navy, "bob": bob}


def run(account, report="sequence_summary", **params):
    with scope(account=account):
        return report_run(report, account=account, data=params, now=NOW)


def summary(account, **params):
    return run(account, **params).rows[0]


def test_summary_counts_each_enrolled_contact_once_and_human_events_only(account, history):
    row = summary(account, sequence=str(history["outbound"].pk))
    assert {k: row[k] for k in ("enrolled_contacts", "opened_contacts", "clicked_contacts", "replied_contacts",
                                "met_contacts", "no_response_contacts")} == {
        "enrolled_contacts": 5, "opened_contacts": 2, "clicked_contacts": 1, "replied_contacts": 1,
        "met_contacts": 1, "no_response_contacts": 1}
    assert [str(row[k]) for k in ("open_rate", "click_rate", "reply_rate", "meeting_rate", "no_response_rate")] == \
        ["40.0", "20.0", "20.0", "20.0", "20.0"]


def test_summary_counts_machine_opens_when_asked(account, history):
    row = summary(account, sequence=str(history["outbound"].pk), machine="1")
    assert (row["opened_contacts"], str(row["open_rate"])) == (3, "60.0")


def test_summary_across_sequences_counts_a_contact_in_two_sequences_once(account, history):
    row = summary(account)
    # c1..c5; c1 and c4 are in both sequences. Replied: c1. Met: c4. No response: c3.
    assert (row["enrolled_contacts"], row["replied_contacts"], row["met_contacts"], row["no_response_contacts"]) == \
        (5, 1, 1, 1)


@pytest.mark.parametrize(("params", "expected"), [
    ({"enrolled_by": "bob"}, (1, 0, 1, 0)),  # c2 only: machine open only, one click
    ({"company": "navy"}, (2, 1, 1, 1)),  # c1 and c2
    ({"enrolled": "custom", "enrolled_from": "2026-03-01", "enrolled_to": "2026-03-31"}, (4, 1, 1, 1)),  # not c3
    ({"company": "navy", "enrolled_by": "bob"}, (1, 0, 1, 0)),
])
def test_summary_filters_alone_and_combined(account, history, params, expected):
    ids = {"bob": str(history["bob"].pk), "navy": str(history["navy"].pk)}
    params = {k: ids.get(v, v) for k, v in params.items()}
    row = summary(account, sequence=str(history["outbound"].pk), **params)
    assert (row["enrolled_contacts"], row["opened_contacts"], row["clicked_contacts"], row["replied_contacts"]) == \
        expected


def test_summary_shows_a_dash_not_an_error_when_nobody_is_enrolled(account, history):
    row = summary(account, sequence=str(history["outbound"].pk), enrolled="today")
    assert row["enrolled_contacts"] == 0 and row["reply_rate"] is None


def test_performance_lists_every_sequence_with_its_own_contacts(account, history):
    rows = {r["sequence"]: r for r in run(account, "sequence_performance").rows}
    assert (rows["Outbound"]["enrolled_contacts"], rows["Outbound"]["replied_contacts"],
            str(rows["Outbound"]["reply_rate"])) == (5, 1, "20.0")
    assert (rows["Nurture"]["enrolled_contacts"], rows["Nurture"]["replied_contacts"],
            str(rows["Nurture"]["reply_rate"]), rows["Nurture"]["met_contacts"]) == (2, 1, "50.0", 0)
    assert list(rows) == ["Nurture", "Outbound"]  # by name


def test_starter_plan_hides_click_metrics_in_the_result_and_the_cli(account, history, capsys):
    account.plan = Plan.STARTER
    account.save()
    result = run(account, sequence=str(history["outbound"].pk))
    assert not {"clicked_contacts", "click_rate"} & {c.key for c in result.columns}
    assert "click_rate" not in result.rows[0]
    call_command("report", "sequence_performance", "--json", account="Acme")
    assert "click" not in capsys.readouterr().out
