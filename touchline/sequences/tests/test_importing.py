"""Importing sequence history from another tool (tests/fixtures/import/sequences.jsonl)."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django_scopes import scope

from touchline.crm.importing import CREATED, REJECTED, UNCHANGED, import_file
from touchline.sequences import services
from touchline.sequences.models import EngagementEvent, Enrollment, EnrollmentStatus, Inbox, Sequence, Step

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
FILE = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "import" / "sequences.jsonl"


def test_import_brings_sequences_enrollments_and_events_and_rejects_bad_rows(account_scope, user):
    report = import_file(account=account_scope, path=FILE)
    assert report.counts["sequence"][CREATED] == 1 and report.counts["sequence_step"][CREATED] == 2
    assert report.counts["enrollment"] == {CREATED: 2, REJECTED: 1}
    assert report.counts["sequence_event"] == {CREATED: 3, REJECTED: 1}
    assert [(r.line, r.field) for r in report.rejections] == [(11, "enrollment_external_id"), (12, "ended_at")]
    sequence = Sequence.objects.get()
    assert (sequence.name, sequence.owner, sequence.external_id) == ("Old outbound", user, "s-1")
    assert list(Step.objects.values_list("position", "step_type", "delay_days")) == [
        (1, "automated_email", 0), (2, "call", 3)]
    replied = Enrollment.objects.get(external_id="e-1")
    assert (replied.status, replied.contact.email) == (EnrollmentStatus.REPLIED, "grace@navy.test")
    assert Inbox.objects.get().from_email == "ada@acme.test"  # the enrolling user's inbox, made for the import
    events = EngagementEvent.objects.filter(enrollment=replied).order_by("occurred_at")
    assert [(e.kind, e.is_machine, e.machine_reason) for e in events] == [
        ("sent", False, ""), ("open", True, "apple_mpp"), ("reply", False, "")]


def test_import_pauses_an_enrollment_that_was_still_running_so_nothing_is_emailed(account_scope, user):
    import_file(account=account_scope, path=FILE)
    running = Enrollment.objects.get(external_id="e-2")
    assert running.status == EnrollmentStatus.PAUSED and running.next_due_at is None
    assert running.status_detail == "imported as active; resume to continue here"
    assert running.current_step.position == 2
    services.enrollment_resume(enrollment=running, now=NOW)
    running.refresh_from_db()
    assert (running.status, running.next_due_at) == (EnrollmentStatus.ACTIVE, NOW)  # the call task comes due now


def test_import_of_the_same_history_twice_changes_nothing(account_scope, user):
    import_file(account=account_scope, path=FILE)
    second = import_file(account=account_scope, path=FILE)
    for row_type in ("sequence", "sequence_step", "enrollment", "sequence_event"):
        assert set(second.counts[row_type]) <= {UNCHANGED, REJECTED}, row_type
    with scope(account=account_scope):
        assert EngagementEvent.objects.count() == 3 and Enrollment.objects.count() == 2
