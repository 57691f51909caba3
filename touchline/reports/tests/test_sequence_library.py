"""The library reports on the hand-built history of conftest.py (account in Europe/Berlin).

By enrollment month: January has e3 (opened); March has e1, e2, e4, e5a, e5b, e7, e8 — 7 enrollments of 4
contacts (c1, c2, c4, c5); opened e1 (e2's open was Apple's proxy); clicked e2; replied e1 and e8; meeting e4;
unenrolled e5a. Engagement score (5 reply, 5 meeting, 2 click, 1 open): c1 = 2 replies + 1 open = 11,
c4 = 5, c2 = 2, c3 = 1; c5 did nothing and is not listed.
"""

from datetime import UTC, datetime

import pytest
from django_scopes import scope

from touchline.reports.pipeline import report_run
from touchline.reports.queries import sequence_library

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def run(account, report, **params):
    with scope(account=account):
        return report_run(report, account=account, data=params, now=NOW)


def test_enrollments_by_month_counts_enrollments_and_what_they_did(account, history):
    rows = run(account, "sequence_enrollments_by_month").rows
    assert [tuple(r.values()) for r in rows] == [
        ("2026-01", 1, 1, 1, 0, 0, 0, 0),
        ("2026-03", 7, 4, 1, 1, 2, 1, 1),
    ]


def test_sender_score_lists_users_with_enough_ended_enrollments(account, history, user, monkeypatch):
    assert run(account, "sequence_sender_score").rows == ()  # nobody has 100 ended enrollments
    monkeypatch.setattr(sequence_library, "SENDER_SCORE_MIN_ENDED", 2)
    [row] = run(account, "sequence_sender_score").rows  # ada: 5 ended, 2 replied, none bounced; bob: none ended
    assert (row["user"], row["ended"], str(row["reply_rate"]), str(row["bounce_rate"]), row["verdict"]) == \
        ("Ada Lovelace", 5, "40.0", "0.0", "needs attention")


def test_highly_engaged_contacts_are_ranked_by_the_documented_score(account, history):
    rows = run(account, "highly_engaged_contacts").rows
    assert [(r["contact"], r["score"]) for r in rows] == [
        ("c1@example.test", 11), ("c4@example.test", 5), ("c2@example.test", 2), ("c3@example.test", 1)]
    first = rows[0]
    assert (first["company"], first["sequence"], first["status"], first["replies"], first["opens"]) == \
        ("Navy", "Nurture", "Replied", 2, 1)
    assert rows[2]["next_step"] == ""  # one-step sequences have no next step
