"""The caller's task queue: the call, LinkedIn, manual-email and general tasks of the sequences they enrolled
contacts in. An enrollment waits at a task until it is completed or skipped; then the next delay starts."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema

from touchline.api.errors import ApiError
from touchline.api.pagination import DEFAULT_LIMIT, paginate
from touchline.sequences import selectors, sending
from touchline.sequences.api.common import Page, router

TAGS = ["Tasks"]


class TaskOut(Schema):
    id: int
    title: str
    notes: str
    step_type: str
    status: str
    due_at: datetime
    completed_at: datetime | None
    step_id: int
    step_position: int
    enrollment_id: int
    sequence_id: int
    sequence_name: str
    contact_id: int
    contact_email: str

    @staticmethod
    def resolve_step_position(obj) -> int:
        return obj.step.position

    @staticmethod
    def resolve_sequence_id(obj) -> int:
        return obj.enrollment.sequence_id

    @staticmethod
    def resolve_sequence_name(obj) -> str:
        return obj.enrollment.sequence.name

    @staticmethod
    def resolve_contact_id(obj) -> int:
        return obj.enrollment.contact_id

    @staticmethod
    def resolve_contact_email(obj) -> str:
        return obj.enrollment.contact.email


class TaskPage(Page):
    items: list[TaskOut]


@router.get("/tasks", response=TaskPage, tags=TAGS, summary="List your open tasks",
            description="The open tasks assigned to the caller (the user of the token or session), in id order. "
                        "Each names its enrollment, sequence, step and contact.")
def task_list(request, cursor: str | None = None, limit: int = DEFAULT_LIMIT):
    return paginate(selectors.open_tasks_of(request.account, request.user), cursor=cursor, limit=limit)


def _finish(request, task_id: int, *, skipped: bool):
    task = selectors.task_get(request.account, request.user, task_id)
    if not sending.task_finish(task=task, skipped=skipped, by=request.user):
        task.refresh_from_db(fields=["status"])
        raise ApiError(409, "conflict", f"This task is already {task.status}; only open tasks can be "
                                        f"{'skipped' if skipped else 'completed'}.")
    return selectors.task_get(request.account, request.user, task_id)


@router.post("/tasks/{task_id}/complete", response=TaskOut, tags=TAGS, summary="Complete a task",
             description="The enrollment moves on: the next step's delay counts from now. Only your own open "
                         "tasks; a task that is not open answers 409.")
def task_complete(request, task_id: int):
    return _finish(request, task_id, skipped=False)


@router.post("/tasks/{task_id}/skip", response=TaskOut, tags=TAGS, summary="Skip a task",
             description="As completing, but recorded as skipped (`task_skipped` in the engagement log).")
def task_skip(request, task_id: int):
    return _finish(request, task_id, skipped=True)

