"""The sequences part of the JSON API, through the test client with a bearer token, on the real database:
sequences and steps, enrolling, the manual actions one by one and in bulk, tasks, and the account boundary."""

from __future__ import annotations

import pytest
from django_scopes import scope, scopes_disabled

from touchline.api.tokens import api_token_create
from touchline.core.accounts import user_create
from touchline.crm.services import contact_create
from touchline.sequences import sending, services
from touchline.sequences.models import (
    EmailTemplate,
    EngagementEvent,
    Enrollment,
    EnrollmentStatus,
    Inbox,
    MessageStatus,
    SentMessage,
    Sequence,
    Step,
    StepType,
    SuppressionReason,
    Task,
    TaskStatus,
)

pytestmark = pytest.mark.django_db

API = "/api/v1/sequences"


@pytest.fixture
def token(user, account):
    _, plain = api_token_create(user=user, account=account, name="tests")
    return plain


@pytest.fixture
def api(client, token):
    """The test client speaking JSON with the token of Ada (account Acme)."""
    headers = {"Authorization": f"Bearer {token}"}

    class Api:
        def get(self, path, params=None):
            return client.get(API + path, params or {}, headers=headers)

        def post(self, path, body=None):
            return client.post(API + path, body or {}, content_type="application/json", headers=headers)

        def patch(self, path, body):
            return client.patch(API + path, body, content_type="application/json", headers=headers)

        def delete(self, path):
            return client.delete(API + path, headers=headers)

    return Api()


@pytest.fixture
def elsewhere(other_account):
    """Account Globex's sequence with its contact enrolled: ids that Acme's token must never reach."""
    with scope(account=other_account):
        boss = user_create(username="hank", email="hank@globex.test", password="a long passphrase 2",
                           account=other_account)
        inbox = Inbox.objects.create(account=other_account, user=boss, from_name="Hank",
                                     from_email="hank@globex.test")
        sequence = Sequence.objects.create(account=other_account, name="Globex outbound")
        Step.objects.create(account=other_account, sequence=sequence, position=1, step_type=StepType.CALL)
        contact = contact_create(account=other_account, email="marge@springfield.test")
        [enrollment] = services.enrollments_create(sequence=sequence, contacts=[contact], inbox=inbox,
                                                   enrolled_by=boss).enrolled
    return {"sequence": sequence, "contact": contact, "enrollment": enrollment}


def _enroll(cadence, *emails: str) -> list[Enrollment]:
    contacts = [cadence.contact(email) for email in emails]
    with scope(account=cadence.account):
        return services.enrollments_create(sequence=cadence.sequence, contacts=contacts, inbox=cadence.inbox,
                                           enrolled_by=cadence.user).enrolled


def _status(enrollment: Enrollment) -> str:
    with scopes_disabled():
        return Enrollment.all_accounts.get(pk=enrollment.pk).status


# Sequences and steps ---------------------------------------------------------------------------------------------


def test_sequence_is_read_back_with_its_ordered_steps_when_created_with_steps_through_the_api(api, user):
    created = api.post("", {"name": "  Outbound Q3 ", "send_window_start": "09:00", "send_window_end": "17:30",
                            "business_days_only": False, "unenroll_same_company": True})
    assert created.status_code == 201, created.json()
    sequence_id = created.json()["id"]
    first = api.post(f"/{sequence_id}/steps", {"step_type": "automated_email", "delay_days": 4,
                                               "subject": "Hi {{ contact.first_name | there }}",
                                               "body": "A short note."})
    second = api.post(f"/{sequence_id}/steps", {"step_type": "call", "delay_days": 2, "task_title": "Call them",
                                                "task_notes": "Ask about Q3"})
    assert first.status_code == second.status_code == 201

    body = api.get(f"/{sequence_id}").json()

    assert body["name"] == "Outbound Q3" and body["owner_email"] == user.email
    assert (body["send_window_start"], body["send_window_end"]) == ("09:00", "17:30")
    assert body["business_days_only"] is False and body["unenroll_same_company"] is True
    assert body["thread_follow_ups"] is True and body["archived_at"] is None
    assert [(s["position"], s["step_type"], s["delay_days"]) for s in body["steps"]] == [
        (1, "automated_email", 0),  # the first step runs at enrollment: its delay is dropped
        (2, "call", 2)]
    assert body["steps"][0]["subject"] == "Hi {{ contact.first_name | there }}"
    assert body["steps"][0]["template_id"] is not None
    assert (body["steps"][1]["task_title"], body["steps"][1]["task_notes"]) == ("Call them", "Ask about Q3")
    assert body["enrollment_counts"]["active"] == 0


def test_sequence_list_finds_by_name_and_hides_archived_ones_unless_asked_when_searching(api, account, user):
    with scope(account=account):
        kept = services.sequence_create(account=account, owner=user, name="Enterprise outbound")
        gone = services.sequence_archive(sequence=services.sequence_create(account=account, owner=user,
                                                                           name="Enterprise old"))
        services.sequence_create(account=account, owner=user, name="Nurture")

    listed = api.get("", {"q": "enterprise"}).json()
    with_archived = api.get("", {"q": "enterprise", "include_archived": "true"}).json()

    assert [s["id"] for s in listed["items"]] == [kept.pk]
    assert [s["id"] for s in with_archived["items"]] == [kept.pk, gone.pk]


def test_sequence_patch_changes_only_the_settings_given_when_called(api, cadence):
    response = api.patch(f"/{cadence.sequence.pk}", {"send_window_end": "16:00", "thread_follow_ups": False})

    assert response.status_code == 200
    with scopes_disabled():
        sequence = Sequence.all_accounts.get(pk=cadence.sequence.pk)
    assert (str(sequence.send_window_start), str(sequence.send_window_end)) == ("08:00:00", "16:00:00")
    assert sequence.thread_follow_ups is False and sequence.name == "Outbound Q1"


def test_sequence_delete_archives_and_keeps_enrollments_when_the_sequence_has_history(api, cadence):
    [enrollment] = _enroll(cadence, "grace@navy.test")

    response = api.delete(f"/{cadence.sequence.pk}")

    assert response.status_code == 204
    with scopes_disabled():
        assert Sequence.all_accounts.get(pk=cadence.sequence.pk).archived_at is not None
        assert Enrollment.all_accounts.filter(pk=enrollment.pk).exists()
    assert api.get("").json()["items"] == []
    assert api.get(f"/{cadence.sequence.pk}").json()["archived_at"] is not None
    assert api.delete(f"/{cadence.sequence.pk}").status_code == 204  # again: nothing changes
    refused = api.post(f"/{cadence.sequence.pk}/enrollments", {"contact_ids": [enrollment.contact_id]})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"
    assert api.patch(f"/{cadence.sequence.pk}", {"name": "Back"}).status_code == 409


def test_step_delete_answers_409_and_keeps_the_step_when_it_has_history(api, cadence):
    _enroll(cadence, "grace@navy.test")  # Grace is at step 1: it has her enrollment and its event

    response = api.delete(f"/{cadence.sequence.pk}/steps/{cadence.steps[0].pk}")

    assert response.status_code == 409
    assert "history (1 enrollment at it, 1 recorded event)" in response.json()["error"]["message"]
    with scopes_disabled():
        assert Step.all_accounts.filter(pk=cadence.steps[0].pk).exists()


def test_step_delete_moves_the_later_steps_up_when_the_step_never_ran(api, cadence):
    _enroll(cadence, "grace@navy.test")  # at step 1; step 2 (the call) has not run

    response = api.delete(f"/{cadence.sequence.pk}/steps/{cadence.steps[1].pk}")

    assert response.status_code == 204
    steps = api.get(f"/{cadence.sequence.pk}").json()["steps"]
    assert [(s["id"], s["position"]) for s in steps] == [(cadence.steps[0].pk, 1), (cadence.steps[2].pk, 2)]


def test_step_patch_gives_the_step_a_new_template_when_its_email_was_already_sent(api, cadence):
    [enrollment] = _enroll(cadence, "grace@navy.test")
    with scope(account=cadence.account):
        SentMessage.objects.create(account=cadence.account, enrollment=enrollment, step=cadence.steps[0],
                                   template=cadence.intro, inbox=cadence.inbox, message_id="<m1@acme.test>",
                                   to_email="grace@navy.test", subject="Quick question, Grace",
                                   status=MessageStatus.SENT)

    response = api.patch(f"/{cadence.sequence.pk}/steps/{cadence.steps[0].pk}", {"subject": "A better subject"})

    assert response.status_code == 200
    step = response.json()
    assert step["template_id"] != cadence.intro.pk
    assert (step["subject"], step["body"]) == ("A better subject", cadence.intro.body)
    with scopes_disabled():
        assert EmailTemplate.all_accounts.get(pk=cadence.intro.pk).subject == cadence.intro.subject
        assert SentMessage.all_accounts.get().template_id == cadence.intro.pk  # the sent email keeps its own


def test_step_patch_changes_the_template_in_place_when_nothing_was_sent_with_it(api, cadence):
    response = api.patch(f"/{cadence.sequence.pk}/steps/{cadence.steps[2].pk}",
                         {"body": "Hi {{ contact.first_name | there }}, still keen?", "delay_days": 5})

    assert response.status_code == 200
    assert response.json()["template_id"] == cadence.follow_up.pk and response.json()["delay_days"] == 5
    with scopes_disabled():
        assert EmailTemplate.all_accounts.get(pk=cadence.follow_up.pk).body.endswith("still keen?")


def test_step_patch_answers_409_when_changing_the_type_of_a_step_that_ran(api, cadence):
    _enroll(cadence, "grace@navy.test")

    response = api.patch(f"/{cadence.sequence.pk}/steps/{cadence.steps[0].pk}", {"step_type": "call"})

    assert response.status_code == 409
    assert "its type cannot change" in response.json()["error"]["message"]


# Validation ------------------------------------------------------------------------------------------------------


def test_sequence_create_answers_422_naming_the_field_when_the_send_window_ends_before_it_starts(api):
    response = api.post("", {"name": "Backwards", "send_window_start": "18:00", "send_window_end": "08:00"})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid" and set(error["fields"]) == {"send_window_end"}
    assert "must end after it starts" in error["fields"]["send_window_end"]


def test_api_answers_422_with_fields_when_the_input_is_bad(api, cadence):
    sequence = f"/{cadence.sequence.pk}"
    cases = [
        (api.post("", {"send_window_start": "08:00"}), "name"),
        (api.post("", {"name": "X", "send_window_start": "soon"}), "send_window_start"),
        (api.post("", {"name": "X", "send_window_start": "09:00:00+02:00"}), "send_window_start"),
        (api.patch(sequence, {"send_window_end": "17:00:00Z"}), "send_window_end"),
        (api.patch(sequence, {"name": "  "}), "name"),
        (api.patch(sequence, {"send_window_start": "19:00"}), "send_window_end"),
        (api.post(f"{sequence}/steps", {}), "step_type"),
        (api.post(f"{sequence}/steps", {"step_type": "fax"}), "step_type"),
        (api.post(f"{sequence}/steps", {"step_type": "call", "delay_days": -1}), "delay_days"),
        (api.post(f"{sequence}/steps", {"step_type": "automated_email", "subject": "Hi"}), "subject"),
        (api.post(f"{sequence}/steps", {"step_type": "automated_email", "subject": "Hi",
                                        "body": "{{ contact.shoe_size }}"}), "body"),
        (api.patch(f"{sequence}/steps/{cadence.steps[0].pk}", {"delay_days": 3}), "delay_days"),
        (api.post(f"{sequence}/enrollments", {"contact_ids": []}), "contact_ids"),
        (api.post(f"{sequence}/enrollments", {"contact_ids": [1], "start_position": 9}), "start_position"),
        (api.post(f"{sequence}/enrollments", {"contact_ids": [1], "inbox_id": 999999}), "inbox_id"),
        (api.post(f"{sequence}/enrollments", {"contact_ids": [1], "start_at": "2030-01-01T09:00"}), "start_at"),
        (api.post("/enrollments/actions", {"action": "archive", "enrollment_ids": [1]}), "action"),
        (api.post("/enrollments/actions", {"action": "pause", "enrollment_ids": []}), "enrollment_ids"),
        (api.get("/enrollments", {"status": "sleeping"}), "status"),
    ]
    for response, field in cases:
        assert response.status_code == 422, (field, response.json())
        error = response.json()["error"]
        assert set(error) == {"code", "message", "fields"} and error["code"] == "invalid"
        assert field in error["fields"], (field, error)


# Enrolling -------------------------------------------------------------------------------------------------------


def test_enroll_answers_per_contact_with_the_refusal_reason_when_one_contact_unsubscribed(api, cadence,
                                                                                          elsewhere):
    grace, alan, kay = (cadence.contact(e) for e in ("grace@navy.test", "alan@bletchley.test", "kay@unsub.test"))
    with scope(account=cadence.account):
        services.suppression_add(account=cadence.account, email=kay.email, reason=SuppressionReason.UNSUBSCRIBED)
    foreign = elsewhere["contact"].pk

    response = api.post(f"/{cadence.sequence.pk}/enrollments",
                        {"contact_ids": [grace.pk, kay.pk, alan.pk, foreign, grace.pk], "inbox_id": cadence.inbox.pk})

    assert response.status_code == 200
    body = response.json()
    assert (body["enrolled"], body["refused"]) == (2, 2)
    results = {r["contact_id"]: r for r in body["results"]}
    assert [r["contact_id"] for r in body["results"]] == [grace.pk, kay.pk, alan.pk, foreign]
    assert results[grace.pk]["enrolled"] and results[grace.pk]["status"] == "active"
    assert results[alan.pk]["enrolled"]
    assert results[kay.pk] == {"contact_id": kay.pk, "enrolled": False, "enrollment_id": None, "status": None,
                               "reason": "unsubscribed from sequence emails"}
    assert results[foreign]["reason"] == "no such contact in this account"
    with scopes_disabled():
        rows = Enrollment.all_accounts.filter(sequence=cadence.sequence)
        assert sorted(rows.values_list("contact_id", flat=True)) == sorted([grace.pk, alan.pk])
        assert Enrollment.all_accounts.get(pk=results[grace.pk]["enrollment_id"]).inbox_id == cadence.inbox.pk
        assert Enrollment.all_accounts.filter(contact=elsewhere["contact"], sequence=cadence.sequence).count() == 0


def test_enroll_refuses_a_contact_already_running_when_enrolled_again(api, cadence):
    grace = cadence.contact("grace@navy.test")
    first = api.post(f"/{cadence.sequence.pk}/enrollments", {"contact_ids": [grace.pk]})

    again = api.post(f"/{cadence.sequence.pk}/enrollments", {"contact_ids": [grace.pk]})

    assert first.json()["enrolled"] == 1
    assert again.json()["results"] == [{"contact_id": grace.pk, "enrolled": False, "enrollment_id": None,
                                        "status": None, "reason": "already active in this sequence"}]


def test_enroll_schedules_the_enrollment_when_a_later_start_is_given(api, cadence):
    grace = cadence.contact("grace@navy.test")

    response = api.post(f"/{cadence.sequence.pk}/enrollments",
                        {"contact_ids": [grace.pk], "start_position": 2, "start_at": "2099-01-05T09:00:00Z"})

    [result] = response.json()["results"]
    assert result["status"] == "scheduled"
    enrollment = api.get(f"/enrollments/{result['enrollment_id']}").json()
    assert enrollment["current_step_position"] == 2
    assert enrollment["next_due_at"].startswith("2099-01-05T09:00:00")


# Manual actions --------------------------------------------------------------------------------------------------


def test_enrollment_is_paused_resumed_then_unenrolled_when_each_action_is_called(api, cadence):
    [enrollment] = _enroll(cadence, "grace@navy.test")
    base = f"/enrollments/{enrollment.pk}"

    paused = api.post(f"{base}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert _status(enrollment) == EnrollmentStatus.PAUSED
    resumed = api.post(f"{base}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    assert _status(enrollment) == EnrollmentStatus.ACTIVE
    ended = api.post(f"{base}/unenroll")
    assert ended.status_code == 200 and ended.json()["status"] == "unenrolled"
    assert ended.json()["ended_at"] is not None
    assert _status(enrollment) == EnrollmentStatus.UNENROLLED

    with scopes_disabled():
        kinds = list(EngagementEvent.all_accounts.filter(enrollment_id=enrollment.pk).order_by("id")
                     .values_list("kind", flat=True))
    assert kinds == ["enrolled", "paused", "resumed", "unenrolled"]


def test_enrollment_action_answers_409_and_changes_nothing_when_the_status_does_not_allow_it(api, cadence):
    [enrollment] = _enroll(cadence, "grace@navy.test")

    resumed = api.post(f"/enrollments/{enrollment.pk}/resume")  # it is not paused
    api.post(f"/enrollments/{enrollment.pk}/unenroll")
    paused = api.post(f"/enrollments/{enrollment.pk}/pause")  # it has ended

    assert resumed.status_code == paused.status_code == 409
    assert resumed.json()["error"]["message"] == ("The enrollment is active: only paused enrollments can be "
                                                  "resumed.")
    assert _status(enrollment) == EnrollmentStatus.UNENROLLED


def test_bulk_action_reports_each_row_and_leaves_another_accounts_enrollment_alone_when_its_id_is_given(
        api, cadence, elsewhere):
    grace, alan = _enroll(cadence, "grace@navy.test", "alan@bletchley.test")
    api.post(f"/enrollments/{alan.pk}/pause")
    foreign = elsewhere["enrollment"]

    response = api.post("/enrollments/actions", {"action": "pause",
                                                 "enrollment_ids": [grace.pk, alan.pk, foreign.pk, 999999]})

    assert response.status_code == 200
    body = response.json()
    assert body["action"] == "pause" and body["done"] == 1
    assert body["results"] == [
        {"enrollment_id": grace.pk, "result": "done", "status": "paused", "detail": ""},
        {"enrollment_id": alan.pk, "result": "unchanged", "status": "paused",
         "detail": "The enrollment is paused: only active or scheduled enrollments can be paused."},
        {"enrollment_id": foreign.pk, "result": "not_found", "status": None,
         "detail": "No such enrollment in this account."},
        {"enrollment_id": 999999, "result": "not_found", "status": None,
         "detail": "No such enrollment in this account."},
    ]
    assert _status(grace) == _status(alan) == EnrollmentStatus.PAUSED
    assert _status(foreign) == EnrollmentStatus.ACTIVE
    with scopes_disabled():
        assert not EngagementEvent.all_accounts.filter(enrollment_id=foreign.pk, kind="paused").exists()


def test_bulk_unenroll_ends_every_running_enrollment_when_called_on_several(api, cadence):
    grace, alan = _enroll(cadence, "grace@navy.test", "alan@bletchley.test")

    body = api.post("/enrollments/actions", {"action": "unenroll", "enrollment_ids": [grace.pk, alan.pk]}).json()

    assert body["done"] == 2 and {r["status"] for r in body["results"]} == {"unenrolled"}
    assert _status(grace) == _status(alan) == EnrollmentStatus.UNENROLLED


# Reading ---------------------------------------------------------------------------------------------------------


def test_enrollment_list_filters_by_sequence_status_and_contact_when_asked(api, cadence, account, user):
    grace, alan = _enroll(cadence, "grace@navy.test", "alan@bletchley.test")
    api.post(f"/enrollments/{alan.pk}/pause")
    with scope(account=account):
        other = services.sequence_create(account=account, owner=user, name="Nurture")
        services.step_add(sequence=other, step_type=StepType.CALL)
        services.enrollments_create(sequence=other, contacts=[grace.contact], inbox=cadence.inbox,
                                    enrolled_by=user)

    def ids(**params):
        return [e["id"] for e in api.get("/enrollments", params).json()["items"]]

    assert len(ids()) == 3
    assert ids(sequence_id=cadence.sequence.pk) == [grace.pk, alan.pk]
    assert ids(sequence_id=cadence.sequence.pk, status="paused") == [alan.pk]
    assert ids(contact_id=grace.contact_id, sequence_id=cadence.sequence.pk) == [grace.pk]
    read = api.get(f"/enrollments/{grace.pk}").json()
    assert (read["contact_email"], read["sequence_name"], read["enrolled_by_email"]) == (
        "grace@navy.test", "Outbound Q1", user.email)


def test_enrollment_list_pages_through_every_row_once_when_following_cursors(api, cadence):
    enrolled = _enroll(cadence, *(f"c{i}@example.test" for i in range(5)))
    seen, cursor = [], None
    while True:
        page = api.get("/enrollments", {"limit": 2} | ({"cursor": cursor} if cursor else {})).json()
        seen += [e["id"] for e in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [e.pk for e in enrolled]


def test_inbox_and_template_lists_show_the_accounts_ids_without_smtp_secrets_when_listed(api, cadence, elsewhere):
    with scope(account=cadence.account):
        Inbox.objects.filter(pk=cadence.inbox.pk).update(use_default_smtp=False, smtp_password="hunter2")

    inboxes = api.get("/inboxes")
    templates = api.get("/templates").json()

    assert [i["id"] for i in inboxes.json()["items"]] == [cadence.inbox.pk]
    assert "hunter2" not in inboxes.content.decode() and "smtp_password" not in inboxes.json()["items"][0]
    assert [t["id"] for t in templates["items"]] == [cadence.intro.pk, cadence.follow_up.pk]
    assert [t["id"] for t in api.get("/templates", {"q": "follow"}).json()["items"]] == [cadence.follow_up.pk]


# Tasks -----------------------------------------------------------------------------------------------------------


def _task(cadence) -> Task:
    grace = cadence.contact("grace@navy.test")
    with scope(account=cadence.account):
        [enrollment] = services.enrollments_create(sequence=cadence.sequence, contacts=[grace], inbox=cadence.inbox,
                                                   enrolled_by=cadence.user, start_position=2).enrolled
        return sending.step_run(enrollment_id=enrollment.pk)  # the call step becomes Ada's task


def test_task_complete_moves_the_enrollment_to_the_next_step_when_the_task_is_open(api, cadence):
    task = _task(cadence)
    assert [t["id"] for t in api.get("/tasks").json()["items"]] == [task.pk]

    response = api.post(f"/tasks/{task.pk}/complete")

    assert response.status_code == 200 and response.json()["status"] == "completed"
    with scopes_disabled():
        assert Task.all_accounts.get(pk=task.pk).status == TaskStatus.COMPLETED
        assert Enrollment.all_accounts.get(pk=task.enrollment_id).current_step_id == cadence.steps[2].pk
    assert api.get("/tasks").json()["items"] == []
    again = api.post(f"/tasks/{task.pk}/skip")
    assert again.status_code == 409 and "already completed" in again.json()["error"]["message"]


def test_task_skip_records_a_skip_when_the_task_is_open(api, cadence):
    task = _task(cadence)

    response = api.post(f"/tasks/{task.pk}/skip")

    assert response.json()["status"] == "skipped"
    with scopes_disabled():
        assert EngagementEvent.all_accounts.filter(enrollment_id=task.enrollment_id, kind="task_skipped").exists()


def test_task_of_another_user_answers_404_when_completed_by_someone_else(client, cadence, account):
    task = _task(cadence)
    bob = user_create(username="bob", email="bob@acme.test", password="another long passphrase", account=account)
    _, plain = api_token_create(user=bob, account=account, name="bob")

    response = client.post(f"{API}/tasks/{task.pk}/complete", headers={"Authorization": f"Bearer {plain}"})

    assert response.status_code == 404
    with scopes_disabled():
        assert Task.all_accounts.get(pk=task.pk).status == TaskStatus.OPEN


# The account boundary --------------------------------------------------------------------------------------------


def test_another_accounts_sequence_and_enrollment_answer_404_when_asked_for(api, cadence, elsewhere):
    sequence, enrollment = elsewhere["sequence"].pk, elsewhere["enrollment"].pk
    grace = cadence.contact("grace@navy.test")
    responses = [
        api.get(f"/{sequence}"),
        api.patch(f"/{sequence}", {"name": "Mine now"}),
        api.delete(f"/{sequence}"),
        api.post(f"/{sequence}/steps", {"step_type": "call"}),
        api.post(f"/{sequence}/enrollments", {"contact_ids": [grace.pk]}),
        api.get(f"/enrollments/{enrollment}"),
        api.post(f"/enrollments/{enrollment}/pause"),
        api.post(f"/enrollments/{enrollment}/unenroll"),
    ]
    for response in responses:
        assert response.status_code == 404, response.request
        assert response.json()["error"]["code"] == "not_found"
    assert api.get("/enrollments").json()["items"] == []
    assert api.get("/enrollments", {"sequence_id": sequence}).json()["items"] == []
    with scopes_disabled():
        assert Sequence.all_accounts.get(pk=sequence).name == "Globex outbound"
        assert Sequence.all_accounts.get(pk=sequence).archived_at is None
        assert Step.all_accounts.filter(sequence_id=sequence).count() == 1
        assert Enrollment.all_accounts.get(pk=enrollment).status == EnrollmentStatus.ACTIVE
        assert not Enrollment.all_accounts.filter(contact=grace).exists()
