"""Automatic unenrollment rules (SPEC §1), through the services every channel uses."""

from datetime import UTC, datetime, timedelta

import pytest
from django_scopes import scope

from touchline.sequences import services
from touchline.sequences.models import (
    EmailSuppression,
    EngagementEvent,
    EnrollmentStatus,
    EventKind,
    MeetingSource,
    Sequence,
    Step,
    StepType,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)


@pytest.fixture
def two_sequences(cadence):
    with scope(account=cadence.account):
        other = Sequence.objects.create(account=cadence.account, name="Nurture", unenroll_same_company=True)
        Step.objects.create(account=cadence.account, sequence=other, position=1, step_type=StepType.CALL)
    return cadence, other


def enroll(cadence, sequence, *contacts):
    with scope(account=cadence.account):
        return services.enrollments_create(sequence=sequence, contacts=contacts, inbox=cadence.inbox,
                                           enrolled_by=cadence.user, now=NOW).enrolled


def statuses(cadence, *enrollments):
    with scope(account=cadence.account):
        for e in enrollments:
            e.refresh_from_db()
    return [e.status for e in enrollments]


def test_a_reply_ends_the_contacts_enrollments_in_every_sequence(two_sequences):
    cadence, nurture = two_sequences
    grace = cadence.contact("grace@navy.test")
    first, second = enroll(cadence, cadence.sequence, grace) + enroll(cadence, nurture, grace)
    with scope(account=cadence.account):
        ended = services.contact_replied(contact=grace, at=NOW + timedelta(hours=2), detail="Re: hello")
    assert {e.pk for e in ended} == {first.pk, second.pk}
    assert statuses(cadence, first, second) == [EnrollmentStatus.REPLIED] * 2
    with scope(account=cadence.account):
        assert EngagementEvent.objects.filter(kind=EventKind.REPLY).count() == 2


def test_a_colleagues_reply_unenrolls_only_where_the_sequence_asks_and_is_not_counted_as_a_reply(two_sequences):
    cadence, nurture = two_sequences
    navy = cadence.company("Navy")
    grace, alan = cadence.contact("grace@navy.test", company=navy), cadence.contact("alan@navy.test", company=navy)
    [in_cadence] = enroll(cadence, cadence.sequence, alan)  # unenroll_same_company is off here
    [in_nurture] = enroll(cadence, nurture, alan)  # and on here
    with scope(account=cadence.account):
        services.contact_replied(contact=grace, at=NOW)
    assert statuses(cadence, in_cadence, in_nurture) == [EnrollmentStatus.ACTIVE, EnrollmentStatus.UNENROLLED]
    assert in_nurture.status_detail == "grace@navy.test of the same company replied"
    with scope(account=cadence.account):
        assert not EngagementEvent.objects.filter(kind=EventKind.REPLY).exists()


def test_an_auto_reply_is_recorded_and_the_sequence_goes_on(cadence):
    grace = cadence.contact("grace@navy.test")
    [enrollment] = enroll(cadence, cadence.sequence, grace)
    with scope(account=cadence.account):
        services.contact_auto_replied(contact=grace, at=NOW, detail="Out of office until Monday")
        assert EngagementEvent.objects.filter(kind=EventKind.AUTO_REPLY, enrollment=enrollment).count() == 1
    assert statuses(cadence, enrollment) == [EnrollmentStatus.ACTIVE]


def test_a_soft_bounce_is_recorded_without_ending_or_suppressing(cadence):
    grace = cadence.contact("grace@navy.test")
    [enrollment] = enroll(cadence, cadence.sequence, grace)
    with scope(account=cadence.account):
        assert services.contact_bounced(contact=grace, bounce_type="soft", at=NOW) == []
        assert not EmailSuppression.objects.exists()
    assert statuses(cadence, enrollment) == [EnrollmentStatus.ACTIVE]


def test_a_meeting_ends_the_enrollment_once_and_replaying_it_changes_nothing(cadence):
    grace = cadence.contact("grace@navy.test")
    [enrollment] = enroll(cadence, cadence.sequence, grace)
    with scope(account=cadence.account):
        meeting, new = services.meeting_record(contact=grace, host=cadence.user, starts_at=NOW + timedelta(days=1),
                                               ends_at=NOW + timedelta(days=1, minutes=30),
                                               source=MeetingSource.WEBHOOK, external_id="cal-1", at=NOW)
        again, new_again = services.meeting_record(contact=grace, host=cadence.user,
                                                   starts_at=NOW + timedelta(days=1),
                                                   ends_at=NOW + timedelta(days=1, minutes=30),
                                                   source=MeetingSource.WEBHOOK, external_id="cal-1", at=NOW)
        assert (new, new_again, again.pk) == (True, False, meeting.pk)
        assert meeting.enrollment_id == enrollment.pk
        assert EngagementEvent.objects.filter(kind=EventKind.MEETING_BOOKED).count() == 1
    assert statuses(cadence, enrollment) == [EnrollmentStatus.MEETING_BOOKED]


def test_an_unsubscribe_suppresses_the_address_and_ends_the_first_reason_wins(cadence):
    grace = cadence.contact("grace@navy.test")
    [enrollment] = enroll(cadence, cadence.sequence, grace)
    with scope(account=cadence.account):
        services.contact_unsubscribed(contact=grace, at=NOW)
        services.contact_replied(contact=grace, at=NOW + timedelta(minutes=5))  # too late: already ended
        assert EmailSuppression.objects.get().reason == "unsubscribed"
    assert statuses(cadence, enrollment) == [EnrollmentStatus.UNSUBSCRIBED]
