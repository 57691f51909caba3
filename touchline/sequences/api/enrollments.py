"""Enrollments: list and read them, enroll contacts in a sequence, and pause, resume or unenroll one
enrollment or many at once (SPEC §1 "Manual actions").

Enrolling goes through `services.enrollments_create`, which refuses a contact with a reason (already running
in the sequence, no email address, unsubscribed, bounced) and enrolls the others; the answer says, per
contact, which happened. The actions go through `services.enrollment_pause` / `_resume` / `_unenroll`; an
action that does not apply to an enrollment's status changes nothing and says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.core.exceptions import ValidationError
from ninja import Field, Schema

from touchline.api.errors import ApiError
from touchline.api.pagination import DEFAULT_LIMIT, paginate
from touchline.sequences import selectors, services
from touchline.sequences.api.common import MAX_IDS, Page, aware, invalid, router, unique
from touchline.sequences.models import Enrollment, EnrollmentStatus, Sequence

TAGS = ["Enrollments"]

Action = Literal["pause", "resume", "unenroll"]


class EnrollmentOut(Schema):
    id: int
    sequence_id: int
    sequence_name: str
    contact_id: int
    contact_email: str
    inbox_id: int
    enrolled_by_email: str | None
    company_at_enrollment_id: int | None
    current_step_id: int | None
    current_step_position: int | None
    status: str
    status_detail: str
    enrolled_at: datetime
    last_step_completed_at: datetime | None
    next_due_at: datetime | None
    paused_at: datetime | None
    ended_at: datetime | None

    @staticmethod
    def resolve_sequence_name(obj) -> str:
        return obj.sequence.name

    @staticmethod
    def resolve_contact_email(obj) -> str:
        return obj.contact.email

    @staticmethod
    def resolve_enrolled_by_email(obj) -> str | None:
        return obj.enrolled_by.email if obj.enrolled_by else None

    @staticmethod
    def resolve_current_step_position(obj) -> int | None:
        return obj.current_step.position if obj.current_step else None


class EnrollmentPage(Page):
    items: list[EnrollmentOut]


class EnrollIn(Schema):
    # Defaults everywhere so that a request for another account's sequence answers 404 before any 422 about the
    # body; the view checks what is required once the sequence is known.
    contact_ids: list[int] = Field(default_factory=list, max_length=MAX_IDS,
                                   description=f"The contacts to enroll, at most {MAX_IDS}")
    inbox_id: int | None = Field(None, description="The sending inbox (GET /inboxes); by default your own, made "
                                                   "from your name and email if you have none")
    start_position: int = Field(1, ge=1, description="The step to start at, 1 for the first")
    start_at: datetime | None = Field(None, description="A later start (with a time zone): the enrollment is "
                                                        "scheduled until then and counts in no report before")


class EnrollResultOut(Schema):
    contact_id: int
    enrolled: bool
    enrollment_id: int | None = None
    status: str | None = None
    reason: str = ""


class EnrollOut(Schema):
    enrolled: int
    refused: int
    results: list[EnrollResultOut]


class ActionIn(Schema):
    action: Action
    enrollment_ids: list[int] = Field(min_length=1, max_length=MAX_IDS)


class ActionResultOut(Schema):
    enrollment_id: int
    result: Literal["done", "unchanged", "not_found"]
    status: str | None
    detail: str


class ActionsOut(Schema):
    action: Action
    done: int
    results: list[ActionResultOut]


def _status_filter(status: str) -> str:
    if status and status not in EnrollmentStatus.values:
        raise ApiError(422, "invalid", f"Unknown status {status!r}; one of {', '.join(EnrollmentStatus.values)}.",
                       {"status": "unknown"})
    return status


@router.get("/enrollments", response=EnrollmentPage, tags=TAGS, summary="List enrollments",
            description="Enrollments of the account in id order, optionally of one sequence, one status "
                        f"({', '.join(EnrollmentStatus.values)}) and one contact. Ended enrollments stay listed: "
                        "a contact enrolled twice in one sequence has two rows.")
def enrollment_list(request, sequence_id: int | None = None, status: str = "", contact_id: int | None = None,
                    cursor: str | None = None, limit: int = DEFAULT_LIMIT):
    rows = selectors.enrollment_list(request.account, sequence_id=sequence_id, status=_status_filter(status),
                                     contact_id=contact_id)
    return paginate(rows, cursor=cursor, limit=limit)


# What an action needs, and what to say when the enrollment's status does not allow it.
ACTIONS = {
    "pause": (services.enrollment_pause, "only active or scheduled enrollments can be paused"),
    "resume": (services.enrollment_resume, "only paused enrollments can be resumed"),
    "unenroll": (services.enrollment_unenroll, "it has already ended"),
}


def _act(request, action: str, enrollment: Enrollment) -> tuple[bool, str]:
    """Run `action` on `enrollment`; whether it changed it, and if not, why."""
    service, refusal = ACTIONS[action]
    if service(enrollment=enrollment, by=request.user):
        return True, ""
    enrollment.refresh_from_db(fields=["status"])
    return False, f"The enrollment is {enrollment.status}: {refusal}."


@router.post("/enrollments/actions", response=ActionsOut, tags=TAGS,
             summary="Pause, resume or unenroll many enrollments",
             description=f"`{{\"action\": \"pause\" | \"resume\" | \"unenroll\", \"enrollment_ids\": [...]}}`, at most "
                         f"{MAX_IDS} ids. Each id gets a result, in the order given: `done`, `unchanged` (its status "
                         "does not allow the action; `detail` says why) or `not_found` (no such enrollment in this "
                         "account: nothing is done to it). Pausing keeps the rest of the current delay; resuming "
                         "runs it from now; unenrolling ends the enrollment and keeps its history.")
def enrollment_actions(request, payload: ActionIn):
    ids = unique(payload.enrollment_ids)
    found = selectors.enrollment_list(request.account).in_bulk(ids)
    results = []
    for pk in ids:
        enrollment = found.get(pk)
        if enrollment is None:
            results.append({"enrollment_id": pk, "result": "not_found", "status": None,
                            "detail": "No such enrollment in this account."})
            continue
        changed, why = _act(request, payload.action, enrollment)
        results.append({"enrollment_id": pk, "result": "done" if changed else "unchanged", "status": None,
                        "detail": why})
    statuses = dict(selectors.enrollment_list(request.account).filter(pk__in=list(found)).values_list("pk", "status"))
    for row in results:
        row["status"] = statuses.get(row["enrollment_id"])
    return {"action": payload.action, "done": sum(r["result"] == "done" for r in results), "results": results}


@router.get("/enrollments/{enrollment_id}", response=EnrollmentOut, tags=TAGS, summary="Read an enrollment")
def enrollment_read(request, enrollment_id: int):
    return selectors.enrollment_get(request.account, enrollment_id)


def _one(request, enrollment_id: int, action: str):
    enrollment = selectors.enrollment_get(request.account, enrollment_id)
    changed, why = _act(request, action, enrollment)
    if not changed:
        raise ApiError(409, "conflict", why)
    return selectors.enrollment_get(request.account, enrollment_id)


@router.post("/enrollments/{enrollment_id}/pause", response=EnrollmentOut, tags=TAGS, summary="Pause an enrollment",
             description="An active or scheduled enrollment stops where it is and keeps what is left of the current "
                         "delay (a 3-day delay paused after 2 days runs 1 day after resuming). Any other status "
                         "answers 409.")
def enrollment_pause(request, enrollment_id: int):
    return _one(request, enrollment_id, "pause")


@router.post("/enrollments/{enrollment_id}/resume", response=EnrollmentOut, tags=TAGS,
             summary="Resume a paused enrollment",
             description="The rest of the delay runs from now, so nothing overdue goes out in a burst; an enrollment "
                         "paused while a task held it waits for the task again. Not paused: 409.")
def enrollment_resume(request, enrollment_id: int):
    return _one(request, enrollment_id, "resume")


@router.post("/enrollments/{enrollment_id}/unenroll", response=EnrollmentOut, tags=TAGS,
             summary="Unenroll a contact",
             description="Ends a running enrollment as `unenrolled`; its history and the sequence's past performance "
                         "stay as they were. Already ended: 409.")
def enrollment_unenroll(request, enrollment_id: int):
    return _one(request, enrollment_id, "unenroll")


def _sequence_to_enroll_in(request, sequence_id: int) -> Sequence:
    sequence = selectors.sequence_get(request.account, sequence_id, include_archived=True)
    if sequence.archived_at is not None:
        raise ApiError(409, "conflict", "This sequence was deleted (archived); it takes no new enrollments.")
    return sequence


@router.post("/{sequence_id}/enrollments", response=EnrollOut, tags=TAGS, summary="Enroll contacts in a sequence",
             description="Enrolls each of `contact_ids` (at most 500) from the inbox `inbox_id` at step "
                         "`start_position`; the first step runs at once, or at `start_at` as a scheduled "
                         "enrollment. A contact that cannot be enrolled is refused with a reason — already running "
                         "in this sequence, no email address, unsubscribed, bounced, not in this account — and the "
                         "others go ahead: the answer has one result per contact, in the order given.")
def enrollment_create(request, sequence_id: int, payload: EnrollIn):
    sequence = _sequence_to_enroll_in(request, sequence_id)
    ids = unique(payload.contact_ids)
    if not ids:
        raise ApiError(422, "invalid", "Give at least one contact id.", {"contact_ids": "empty"})
    start_at = aware(payload.start_at, "start_at")
    try:
        if payload.inbox_id is None:
            inbox = services.inbox_for(account=request.account, user=request.user)
        else:
            inbox = selectors.inboxes_of(request.account).filter(pk=payload.inbox_id).first()
            if inbox is None:
                raise ApiError(422, "invalid", f"No inbox {payload.inbox_id} in this account.",
                               {"inbox_id": "unknown"})
        contacts = selectors.contacts_by_ids(request.account, ids)
        outcome = services.enrollments_create(sequence=sequence, contacts=[contacts[i] for i in ids if i in contacts],
                                              inbox=inbox, enrolled_by=request.user,
                                              start_position=payload.start_position, start_at=start_at)
    except ValidationError as error:
        raise invalid(error, {"inbox": "inbox_id", "sequence": "sequence_id"}) from None
    enrolled = {e.contact_id: e for e in outcome.enrolled}
    refused = {contact.pk: reason for contact, reason in outcome.refused}
    results = []
    for pk in ids:
        if pk in enrolled:
            results.append({"contact_id": pk, "enrolled": True, "enrollment_id": enrolled[pk].pk,
                            "status": enrolled[pk].status})
        else:
            results.append({"contact_id": pk, "enrolled": False,
                            "reason": refused.get(pk, "no such contact in this account")})
    return {"enrolled": len(enrolled), "refused": len(ids) - len(enrolled), "results": results}
