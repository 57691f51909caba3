"""Sequences and their steps: list, create, read (with the ordered steps), change settings, delete (archive),
and add, read, change or remove a step.

Deleting a sequence archives it: its enrollments, emails and events stay and the reports still count them
(SPEC §1). A step that has run — emails sent, tasks made, enrollments at it, events recorded — keeps its type
and cannot be removed (409, saying what history it has); its email can still be reworded, which gives the
step a new template so that the emails already sent keep theirs.
"""

from __future__ import annotations

from datetime import datetime, time

from ninja import Field, Schema, Status
from pydantic import ValidationInfo, field_validator

from touchline.api.errors import ApiError
from touchline.api.pagination import DEFAULT_LIMIT, paginate
from touchline.sequences import selectors, services
from touchline.sequences.api.common import Page, conflict, router
from touchline.sequences.models import Sequence, StepType
from touchline.sequences.services import SequenceConflict

STEP_TYPES = ", ".join(StepType.values)


# Schemas ---------------------------------------------------------------------------------------------------------


def _local_time(value: time | None) -> time | None:
    # A send window is a time of day on the sending inbox's clock, not an instant: an offset would contradict it.
    if value is not None and value.tzinfo is not None:
        raise ValueError("give a time of day without a time zone; it is read in the sending inbox's time zone")
    return value


class SequenceIn(Schema):
    name: str
    send_window_start: time = Field(time(8, 0), description="Emails go out from this time of day, in the sending "
                                                            "inbox's time zone")
    send_window_end: time = Field(time(18, 0), description="… until this time (after the start)")
    business_days_only: bool = Field(True, description="A step falling on Saturday or Sunday runs on Monday")
    thread_follow_ups: bool = Field(True, description="Follow-up emails reply in the first email's thread")
    unenroll_same_company: bool = Field(False, description="A reply or meeting from a colleague at the same "
                                                           "company ends the enrollment too")

    _local = field_validator("send_window_start", "send_window_end")(_local_time)

    @field_validator("send_window_end")
    @classmethod
    def _after_start(cls, end: time, info: ValidationInfo) -> time:
        start = info.data.get("send_window_start")
        if start is not None and start >= end:
            raise ValueError("the send window must end after it starts")
        return end


class SequencePatch(Schema):
    name: str | None = None
    send_window_start: time | None = None
    send_window_end: time | None = None
    business_days_only: bool | None = None
    thread_follow_ups: bool | None = None
    unenroll_same_company: bool | None = None

    _local = field_validator("send_window_start", "send_window_end")(_local_time)


class StepOut(Schema):
    id: int
    position: int
    step_type: str
    delay_days: int
    template_id: int | None
    subject: str
    body: str
    task_title: str
    task_notes: str

    @staticmethod
    def resolve_subject(obj) -> str:
        return obj.template.subject if obj.template else ""

    @staticmethod
    def resolve_body(obj) -> str:
        return obj.template.body if obj.template else ""


class SequenceOut(Schema):
    id: int
    name: str
    owner_email: str | None
    send_window_start: str = Field(description="HH:MM on the sending inbox's clock")
    send_window_end: str = Field(description="HH:MM on the sending inbox's clock")
    business_days_only: bool
    thread_follow_ups: bool
    unenroll_same_company: bool
    created_at: datetime
    archived_at: datetime | None
    external_id: str

    @staticmethod
    def resolve_owner_email(obj) -> str | None:
        return obj.owner.email if obj.owner else None

    @staticmethod
    def resolve_send_window_start(obj) -> str:
        return f"{obj.send_window_start:%H:%M}"

    @staticmethod
    def resolve_send_window_end(obj) -> str:
        return f"{obj.send_window_end:%H:%M}"


class SequenceDetailOut(SequenceOut):
    steps: list[StepOut]
    enrollment_counts: dict[str, int]

    @staticmethod
    def resolve_steps(obj) -> list:
        return list(selectors.steps_of(obj))

    @staticmethod
    def resolve_enrollment_counts(obj) -> dict[str, int]:
        return selectors.enrollment_counts(obj)


class SequencePage(Page):
    items: list[SequenceOut]


class StepIn(Schema):
    # step_type is required, but checked in the view: another account's sequence must answer 404, not 422.
    step_type: StepType | None = Field(None, description=f"One of {STEP_TYPES}")
    delay_days: int = Field(0, ge=0, le=365, description="Days after the previous step (the first step has none)")
    subject: str = Field("", description="Email steps: the subject, with tokens such as "
                                         "{{ contact.first_name | there }}")
    body: str = Field("", description="Email steps: plain text; blank lines separate paragraphs; URLs become "
                                      "tracked links")
    task_title: str = ""
    task_notes: str = ""


class StepPatch(Schema):
    step_type: StepType | None = None
    delay_days: int | None = Field(None, ge=0, le=365)
    subject: str | None = None
    body: str | None = None
    task_title: str | None = None
    task_notes: str | None = None


# Sequences -------------------------------------------------------------------------------------------------------


def _sequence(request, sequence_id: int) -> Sequence:
    return selectors.sequence_get(request.account, sequence_id, include_archived=True)


@router.get("", response=SequencePage, summary="List sequences",
            description="In id order; `q` keeps the sequences whose name contains every word of it. Deleted "
                        "(archived) sequences are left out unless `include_archived=true`.")
def sequence_list(request, q: str = "", include_archived: bool = False, cursor: str | None = None,
                  limit: int = DEFAULT_LIMIT):
    rows = selectors.sequence_list(request.account, q=q, include_archived=include_archived)
    return paginate(rows, cursor=cursor, limit=limit)


@router.post("", response={201: SequenceDetailOut}, summary="Create a sequence",
             description="A sequence owned by the caller, with no steps yet: add them with "
                         "POST /sequences/{sequence_id}/steps.")
def sequence_create(request, payload: SequenceIn):
    sequence = services.sequence_create(account=request.account, owner=request.user, **payload.dict())
    return Status(201, _sequence(request, sequence.pk))


@router.get("/{sequence_id}", response=SequenceDetailOut, summary="Read a sequence with its steps",
            description="The settings, the steps in order, and how many enrollments are in each status. A deleted "
                        "sequence can still be read (`archived_at` is set).")
def sequence_read(request, sequence_id: int):
    return _sequence(request, sequence_id)


@router.patch("/{sequence_id}", response=SequenceDetailOut, summary="Change a sequence's settings",
              description="Only the fields given change. New settings apply from now on: a step already due keeps "
                          "its time, later ones follow the new send window and business-day rule. A deleted "
                          "sequence answers 409.")
def sequence_patch(request, sequence_id: int, payload: SequencePatch):
    sequence = _sequence(request, sequence_id)
    fields = payload.dict(exclude_unset=True)
    for name in ("send_window_start", "send_window_end", "business_days_only", "thread_follow_ups",
                 "unenroll_same_company", "name"):
        if name in fields and fields[name] is None:
            raise ApiError(422, "invalid", f"{name} cannot be null.", {name: "null"})
    try:
        services.sequence_update(sequence=sequence, **fields)
    except SequenceConflict as error:
        raise conflict(error) from None
    return _sequence(request, sequence_id)


@router.delete("/{sequence_id}", response={204: None}, summary="Delete (archive) a sequence",
               description="The sequence leaves the lists and takes no new enrollments; its enrollments, emails and "
                           "events stay, and the reports keep counting them. Deleting it again changes nothing.")
def sequence_delete(request, sequence_id: int):
    services.sequence_archive(sequence=_sequence(request, sequence_id))
    return Status(204, None)


# Steps -----------------------------------------------------------------------------------------------------------


def _step(request, sequence_id: int, step_id: int):
    return selectors.step_get(_sequence(request, sequence_id), step_id)


@router.post("/{sequence_id}/steps", response={201: StepOut}, summary="Add a step at the end of a sequence",
             description=f"`step_type` is one of {STEP_TYPES}. An automated email needs a `subject` and a `body`; "
                         "their tokens are checked (an unknown token answers 422). `delay_days` counts from the "
                         "previous step and is ignored for the first step. A deleted sequence answers 409.")
def step_create(request, sequence_id: int, payload: StepIn):
    sequence = _sequence(request, sequence_id)
    if sequence.archived_at is not None:
        raise ApiError(409, "conflict", "This sequence was deleted (archived); its steps cannot change.")
    if payload.step_type is None:
        raise ApiError(422, "invalid", f"step_type is required: one of {STEP_TYPES}.", {"step_type": "required"})
    step = services.step_add(sequence=sequence, owner=request.user, **payload.dict())
    return Status(201, selectors.step_get(sequence, step.pk))


@router.get("/{sequence_id}/steps/{step_id}", response=StepOut, summary="Read a step")
def step_read(request, sequence_id: int, step_id: int):
    return _step(request, sequence_id, step_id)


@router.patch("/{sequence_id}/steps/{step_id}", response=StepOut, summary="Change a step",
              description="Only the fields given change, checked as when adding. The type of a step that has run "
                          "cannot change (409, naming its history). Rewording an email that was already sent gives "
                          "the step a new template: the sent emails keep the old one in Email performance. A new "
                          "delay applies to enrollments that reach the step from now on.")
def step_patch(request, sequence_id: int, step_id: int, payload: StepPatch):
    step = _step(request, sequence_id, step_id)
    fields = payload.dict(exclude_unset=True)
    for name, value in fields.items():
        if value is None:
            raise ApiError(422, "invalid", f"{name} cannot be null.", {name: "null"})
    try:
        services.step_update(step=step, owner=request.user, **fields)
    except SequenceConflict as error:
        raise conflict(error) from None
    return _step(request, sequence_id, step_id)


@router.delete("/{sequence_id}/steps/{step_id}", response={204: None}, summary="Remove a step that never ran",
               description="The later steps move up one position. A step with history (emails sent, tasks, "
                           "enrollments at it, recorded events) answers 409 and stays: removing it would rewrite the "
                           "sequence's past performance.")
def step_delete(request, sequence_id: int, step_id: int):
    try:
        services.step_delete(step=_step(request, sequence_id, step_id))
    except SequenceConflict as error:
        raise conflict(error) from None
    return Status(204, None)
