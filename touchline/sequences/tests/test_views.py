"""The sequences pages through Django's test client: build, enroll, bulk actions, tasks, the Manage list."""

from datetime import UTC, datetime

import pytest
from django_scopes import scope

from touchline.crm.services import contact_create
from touchline.sequences import sending, services
from touchline.sequences.models import Enrollment, EnrollmentStatus, EventKind, Sequence, Step, StepType, Task

pytestmark = pytest.mark.django_db


def test_a_sequence_is_built_through_the_pages(logged_in_client, account):
    response = logged_in_client.post("/sequences/new/", {"name": "Outbound", "send_window_start": "08:00",
                                                          "send_window_end": "18:00", "business_days_only": "on"})
    with scope(account=account):
        sequence = Sequence.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/sequences/{sequence.pk}/"
    logged_in_client.post(f"/sequences/{sequence.pk}/", {"step_type": "automated_email", "delay_days": 0,
                                                          "subject": "Hi {{ contact.first_name | there }}",
                                                          "body": "Hello!"})
    logged_in_client.post(f"/sequences/{sequence.pk}/", {"step_type": "call", "delay_days": 2,
                                                          "task_title": "Call them"})
    with scope(account=account):
        assert list(Step.objects.values_list("position", "step_type", "delay_days")) == [
            (1, "automated_email", 0), (2, "call", 2)]


def test_a_step_with_an_unknown_token_is_refused_with_its_name(logged_in_client, account, user):
    with scope(account=account):
        sequence = services.sequence_create(account=account, owner=user, name="Outbound")
    response = logged_in_client.post(f"/sequences/{sequence.pk}/", {
        "step_type": "automated_email", "delay_days": 0, "subject": "Hi {{ contact.shoe_size }}", "body": "x"})
    assert response.status_code == 200
    assert "Unknown token(s): {{ contact.shoe_size }}" in response.content.decode()
    with scope(account=account):
        assert not Step.objects.exists()


@pytest.fixture
def call_sequence(account, user):
    with scope(account=account):
        sequence = services.sequence_create(account=account, owner=user, name="Calls")
        services.step_add(sequence=sequence, step_type=StepType.CALL, task_title="Call")
        contacts = [contact_create(account=account, email=f"c{i}@example.test", first_name=f"C{i}")
                    for i in range(3)]
    return sequence, contacts


def test_enroll_shows_who_was_enrolled_and_who_was_refused_and_why(logged_in_client, account, user, call_sequence):
    sequence, contacts = call_sequence
    with scope(account=account):
        inbox = services.inbox_for(account=account, user=user)
        services.enrollments_create(sequence=sequence, contacts=contacts[:1], inbox=inbox, enrolled_by=user)
    response = logged_in_client.post(f"/sequences/{sequence.pk}/enroll/", {
        "contacts": [c.pk for c in contacts], "start_position": 1, "inbox": ""})
    html = response.content.decode()
    assert "2 enrolled." in html and "already active in this sequence" in html
    with scope(account=account):
        assert Enrollment.objects.filter(sequence=sequence).count() == 3


def test_bulk_pause_then_resume_from_the_enrollments_tab(logged_in_client, account, user, call_sequence):
    sequence, contacts = call_sequence
    with scope(account=account):
        inbox = services.inbox_for(account=account, user=user)
        enrolled = services.enrollments_create(sequence=sequence, contacts=contacts[:2], inbox=inbox,
                                               enrolled_by=user).enrolled
    ids = [e.pk for e in enrolled]
    logged_in_client.post(f"/sequences/{sequence.pk}/enrollments/", {"action": "pause", "enrollments": ids})
    with scope(account=account):
        assert set(Enrollment.objects.values_list("status", flat=True)) == {EnrollmentStatus.PAUSED}
    response = logged_in_client.post(f"/sequences/{sequence.pk}/enrollments/?status=paused",
                                     {"action": "resume", "enrollments": ids})
    assert response.content.decode().count(": done") == 2
    with scope(account=account):
        assert set(Enrollment.objects.values_list("status", flat=True)) == {EnrollmentStatus.ACTIVE}


def test_task_queue_completes_a_task_and_the_sequence_goes_on(logged_in_client, account, user, call_sequence):
    sequence, contacts = call_sequence
    with scope(account=account):
        inbox = services.inbox_for(account=account, user=user)
        [enrollment] = services.enrollments_create(sequence=sequence, contacts=contacts[:1], inbox=inbox,
                                                   enrolled_by=user).enrolled
        task = sending.step_run(enrollment_id=enrollment.pk)
    assert "Call" in logged_in_client.get("/tasks/").content.decode()
    logged_in_client.post(f"/tasks/{task.pk}/finish/")
    with scope(account=account):
        assert Task.objects.get().status == "completed"
        assert Enrollment.objects.get().status == EnrollmentStatus.FINISHED  # it was the only step


def test_the_manage_list_shows_reply_rate_over_enrolled_contacts(logged_in_client, account, user, call_sequence):
    sequence, contacts = call_sequence
    with scope(account=account):
        inbox = services.inbox_for(account=account, user=user)
        enrolled = services.enrollments_create(sequence=sequence, contacts=contacts, inbox=inbox, enrolled_by=user,
                                               now=datetime(2026, 3, 2, 9, 0, tzinfo=UTC)).enrolled
        services.event_record(contact=contacts[0], kind=EventKind.REPLY, enrollment=enrolled[0])
    row = logged_in_client.get("/sequences/").context["result"].rows[0]
    assert (row["sequence"], row["enrolled_contacts"], str(row["reply_rate"])) == ("Calls", 3, "33.3")  # 1 of 3


def test_a_deleted_sequence_is_archived_and_keeps_its_enrollments(logged_in_client, account, user, call_sequence):
    sequence, contacts = call_sequence
    with scope(account=account):
        services.enrollments_create(sequence=sequence, contacts=contacts[:1], enrolled_by=user,
                                    inbox=services.inbox_for(account=account, user=user))
    logged_in_client.post(f"/sequences/{sequence.pk}/delete/")
    assert logged_in_client.get(f"/sequences/{sequence.pk}/").status_code == 404
    with scope(account=account):
        assert Sequence.objects.get().archived_at is not None and Enrollment.objects.count() == 1


def test_a_contact_page_shows_its_sequence_history(logged_in_client, account, user, call_sequence):
    sequence, contacts = call_sequence
    with scope(account=account):
        services.enrollments_create(sequence=sequence, contacts=contacts[:1], enrolled_by=user,
                                    inbox=services.inbox_for(account=account, user=user))
        services.event_record(contact=contacts[0], kind=EventKind.OPEN, enrollment=Enrollment.objects.get(),
                              is_machine=True, machine_reason="apple_mpp")
    html = logged_in_client.get(f"/contacts/{contacts[0].pk}/").content.decode()
    assert "Sequence: Enrolled · Calls, step 1" in html
    assert "Sequence: Opened · Calls (machine: apple_mpp)" in html


def test_the_sequence_page_previews_each_email_for_a_contact_and_says_when_it_would_not_send(logged_in_client,
                                                                                           account, user):
    with scope(account=account):
        sequence = services.sequence_create(account=account, owner=user, name="Outbound")
        services.step_add(sequence=sequence, step_type=StepType.AUTOMATED_EMAIL,
                          subject="Hi {{ contact.first_name | there }}", body="For {{ contact.job_title }}")
        contact_create(account=account, email="grace@navy.test", first_name="Grace", job_title="Admiral")
        contact_create(account=account, email="nameless@navy.test")
    html = logged_in_client.get(f"/sequences/{sequence.pk}/", {"preview": "grace"}).content.decode()
    assert "<strong>Hi Grace</strong>" in html and "For Admiral" in html
    html = logged_in_client.get(f"/sequences/{sequence.pk}/", {"preview": "nameless"}).content.decode()
    assert "Would not be sent: contact.job_title is empty" in html


def test_the_manage_list_sorts_by_reply_rate_with_empty_rates_last(logged_in_client, account, user):
    with scope(account=account):
        inbox = services.inbox_for(account=account, user=user)
        people = [contact_create(account=account, email=f"p{i}@example.test") for i in range(4)]
        for name, enrolled, replied in (("Alpha", 2, 1), ("Beta", 2, 2), ("Gamma", 0, 0)):
            sequence = services.sequence_create(account=account, owner=user, name=name)
            services.step_add(sequence=sequence, step_type=StepType.CALL)
            done = services.enrollments_create(sequence=sequence, contacts=people[:enrolled], inbox=inbox,
                                               enrolled_by=user).enrolled
            for enrollment in done[:replied]:
                services.event_record(contact=enrollment.contact, kind=EventKind.REPLY, enrollment=enrollment)
    ordered = [r["sequence"] for r in logged_in_client.get("/sequences/", {"sort": "-reply_rate"}).context["rows"]]
    assert ordered == ["Beta", "Alpha", "Gamma"]  # 100 %, 50 %, — (nobody enrolled) last
    ordered = [r["sequence"] for r in logged_in_client.get("/sequences/", {"sort": "reply_rate"}).context["rows"]]
    assert ordered == ["Alpha", "Beta", "Gamma"]
