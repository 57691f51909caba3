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

from touchline.core.models import Plan
from touchline.reports.pipeline import report_run

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
MARCH_3 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


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
