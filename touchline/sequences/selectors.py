"""Reads of the sequences UI: lists and detail rows, account first, joins done."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from touchline.crm.models import Contact
from touchline.sequences.models import (
    EmailTemplate,
    Enrollment,
    EnrollmentStatus,
    Inbox,
    Sequence,
    Step,
    Task,
    TaskStatus,
)


def sequence_get(account, pk: int, *, include_archived: bool = False) -> Sequence:
    """One sequence of the account; an archived (deleted) one only with `include_archived`."""
    qs = Sequence.objects.select_related("owner").filter(account=account)
    return (qs if include_archived else qs.filter(archived_at__isnull=True)).get(pk=pk)


def steps_of(sequence: Sequence) -> QuerySet[Step]:
    return sequence.steps.select_related("template").order_by("position")


def inboxes_of(account) -> QuerySet[Inbox]:
    return Inbox.objects.filter(account=account).select_related("user").order_by("from_name")


def enrollment_counts(sequence: Sequence) -> dict[str, int]:
    counts = dict(Enrollment.objects.filter(sequence=sequence).values_list("status").annotate(n=Count("pk")))
    return {status: counts.get(status, 0) for status in EnrollmentStatus.values}


def enrollments_of(sequence: Sequence, status: str = "") -> QuerySet[Enrollment]:
    qs = Enrollment.objects.filter(sequence=sequence).select_related("contact", "company_at_enrollment",
                                                                     "current_step")
    return (qs.filter(status=status) if status else qs).order_by("-enrolled_at", "-id")


def contacts_to_enroll(account, q: str) -> QuerySet[Contact]:
    qs = Contact.objects.filter(account=account).exclude(email="").select_related("company")
    for word in q.split():
        qs = qs.filter(Q(email__icontains=word) | Q(first_name__icontains=word) | Q(last_name__icontains=word)
                       | Q(company__name__icontains=word))
    return qs.order_by("last_name", "first_name", "id")


def open_tasks_of(account, user) -> QuerySet[Task]:
    return (Task.objects.filter(account=account, assignee=user, status=TaskStatus.OPEN)
            .select_related("enrollment__contact", "enrollment__sequence", "step").order_by("due_at"))


# Reads of the JSON API (touchline/sequences/api/) ----------------------------------------------------------------


def sequence_list(account, *, q: str = "", include_archived: bool = False) -> QuerySet[Sequence]:
    """Sequences whose name contains every word of `q`; archived (deleted) ones only on request."""
    qs = Sequence.objects.filter(account=account).select_related("owner")
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    for word in q.split():
        qs = qs.filter(name__icontains=word)
    return qs


def step_get(sequence: Sequence, pk: int) -> Step:
    return steps_of(sequence).get(pk=pk)


def templates_of(account) -> QuerySet[EmailTemplate]:
    return EmailTemplate.objects.filter(account=account)


ENROLLMENT_JOINS = ("contact", "sequence", "current_step", "enrolled_by", "inbox")


def enrollment_list(account, *, sequence_id: int | None = None, status: str = "",
                    contact_id: int | None = None) -> QuerySet[Enrollment]:
    """Enrollments of the account, optionally of one sequence, one status, one contact."""
    qs = Enrollment.objects.filter(account=account).select_related(*ENROLLMENT_JOINS)
    if sequence_id is not None:
        qs = qs.filter(sequence_id=sequence_id)
    if status:
        qs = qs.filter(status=status)
    if contact_id is not None:
        qs = qs.filter(contact_id=contact_id)
    return qs


def enrollment_get(account, pk: int) -> Enrollment:
    return enrollment_list(account).get(pk=pk)


def contacts_by_ids(account, ids) -> dict[int, Contact]:
    return Contact.objects.filter(account=account).in_bulk(list(ids))


def tasks_of(account, user) -> QuerySet[Task]:
    """Every task of `user` in the account, whatever its status (open_tasks_of is the queue)."""
    return (Task.objects.filter(account=account, assignee=user)
            .select_related("enrollment__contact", "enrollment__sequence", "step"))


def task_get(account, user, pk: int) -> Task:
    return tasks_of(account, user).get(pk=pk)
