"""Reads of the sequences UI: lists and detail rows, account first, joins done."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from touchline.crm.models import Contact
from touchline.sequences.models import Enrollment, EnrollmentStatus, Inbox, Sequence, Step, Task, TaskStatus


def sequence_get(account, pk: int) -> Sequence:
    return Sequence.objects.select_related("owner").get(account=account, pk=pk, archived_at__isnull=True)


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
