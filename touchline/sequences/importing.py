"""Import row types for sequence history from another tool: `sequence`, `sequence_step`, `enrollment` and
`sequence_event` (see docs/import.md). Registered into the import's ROW_TYPES, applied after companies,
contacts and deals, in this order.

History, not a restart: an imported enrollment that was still running in the old tool arrives `paused`
(with that said in its status detail), so importing never makes Touchline email anyone; a rep resumes it to
carry on here. Imported events are appended to the engagement log with their own external ids, so a re-import
adds nothing twice.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from touchline.crm.importing import (
    CREATED,
    ROW_TYPES,
    UNCHANGED,
    UPDATED,
    RowError,
    RowType,
    _datetime,
    _differs,
    _given,
    _text,
)
from touchline.crm.models import Contact, normalise_email
from touchline.sequences.engagement import engagement_rollup_add
from touchline.sequences.models import (
    RUNNING_STATUSES,
    BounceType,
    EmailTemplate,
    EngagementEvent,
    Enrollment,
    EnrollmentStatus,
    EventKind,
    Inbox,
    Sequence,
    Step,
    StepType,
)


def _sequence(lookups, row: dict) -> Sequence:
    ref = _text(row, "sequence_external_id")
    if not ref:
        raise RowError("required", "sequence_external_id")
    found = Sequence.objects.filter(account=lookups.account, external_id=ref).first()
    if found is None:
        raise RowError(f"no sequence with external_id {ref!r}", "sequence_external_id")
    return found


def _choice(row: dict, key: str, choices, default: str = "") -> str:
    value = _text(row, key) or default
    if value not in choices.values:
        raise RowError(f"{value!r} is not one of {', '.join(choices.values)}", key)
    return value


def _apply_sequence(row: dict, lookups) -> str:
    external_id = _text(row, "external_id")
    if not external_id:
        raise RowError("a sequence needs an external_id to be imported idempotently", "external_id")
    values = {"name": _text(row, "name"), "owner": lookups.owner(row)}
    if not values["name"]:
        raise RowError("required", "name")
    if (created_at := _datetime(row, "created_at")) is not None:
        values["created_at"] = created_at
    existing = Sequence.objects.filter(account=lookups.account, external_id=external_id).first()
    if existing is None:
        Sequence.objects.create(account=lookups.account, external_id=external_id, **values)
        return CREATED
    return _update(existing, _given(row, values))


def _update(obj, values: dict) -> str:
    """Set `values` on an existing row and save it, unless it already holds them."""
    if not _differs(obj, values):
        return UNCHANGED
    for key, value in values.items():
        setattr(obj, key, value)
    obj.save()
    return UPDATED


def _apply_step(row: dict, lookups) -> str:
    sequence = _sequence(lookups, row)
    try:
        position = int(_text(row, "position"))
        delay_days = int(_text(row, "delay_days") or 0)
    except ValueError:
        raise RowError("position and delay_days must be whole numbers", "position") from None
    if position < 1 or delay_days < 0:
        raise RowError("position starts at 1 and delay_days is not negative", "position")
    step_type = _choice(row, "step_type", StepType)
    subject, body = _text(row, "subject"), _text(row, "body")
    if step_type == StepType.AUTOMATED_EMAIL and not (subject and body):
        raise RowError("an automated email step needs a subject and a body", "subject")
    step = Step.objects.filter(sequence=sequence, position=position).first()
    template = step.template if step is not None else None
    if subject or body:
        name = f"{sequence.name} · step {position}"
        if template is None:
            template = EmailTemplate.objects.create(account=lookups.account, name=name, subject=subject, body=body)
        elif (template.subject, template.body) != (subject, body):
            template.subject, template.body = subject, body
            template.save()
    values = {"step_type": step_type, "delay_days": delay_days, "template": template,
              "task_title": _text(row, "task_title")}
    if step is None:
        Step.objects.create(account=lookups.account, sequence=sequence, position=position, **values)
        return CREATED
    return _update(step, values)


def _inbox_for(lookups, user) -> Inbox:
    inbox = Inbox.objects.filter(account=lookups.account, user=user).order_by("id").first()
    if inbox is None and not user.email:
        raise RowError(f"{user} has no email address to send from; give them one first", "enrolled_by_email")
    if inbox is None:
        inbox = Inbox.objects.create(account=lookups.account, user=user,
                                     from_name=user.get_full_name() or user.username, from_email=user.email)
    return inbox


def _contact(lookups, row: dict) -> Contact:
    ref, email = _text(row, "contact_external_id"), normalise_email(_text(row, "contact_email"))
    contacts = Contact.objects.filter(account=lookups.account)
    found = contacts.filter(external_id=ref).first() if ref else contacts.filter(email=email).first() if email \
        else None
    if found is None:
        raise RowError(f"no contact {ref or email or '(none given)'}", "contact_external_id" if ref or not email
                       else "contact_email")
    return found


def _apply_enrollment(row: dict, lookups) -> str:
    external_id = _text(row, "external_id")
    if not external_id:
        raise RowError("an enrollment needs an external_id to be imported idempotently", "external_id")
    sequence, contact = _sequence(lookups, row), _contact(lookups, row)
    enrolled_by = lookups.owner({"owner_email": _text(row, "enrolled_by_email")})
    if enrolled_by is None:
        raise RowError("required: the user who enrolled the contact", "enrolled_by_email")
    status = _choice(row, "status", EnrollmentStatus)
    enrolled_at = _datetime(row, "enrolled_at")
    if enrolled_at is None:
        raise RowError("required", "enrolled_at")
    ended_at = _datetime(row, "ended_at")
    running = status in RUNNING_STATUSES
    if not running and ended_at is None:
        raise RowError(f"an enrollment that ended ({status}) needs ended_at", "ended_at")
    position = _text(row, "current_step")
    step = Step.objects.filter(sequence=sequence, position=int(position)).first() if position.isdigit() else \
        Step.objects.filter(sequence=sequence).order_by("position").first()
    if step is None:
        raise RowError(f"the sequence has no step {position or 1}; import its steps first", "current_step")
    detail = _text(row, "status_detail")
    values = {"sequence": sequence, "contact": contact, "enrolled_by": enrolled_by, "current_step": step,
              "status": EnrollmentStatus.PAUSED if running else status,
              "status_detail": f"imported as {status}; resume to continue here" if running else detail,
              "enrolled_at": enrolled_at, "ended_at": None if running else ended_at,
              "last_step_completed_at": _datetime(row, "last_step_completed_at"),
              "company_at_enrollment": contact.company, "paused_at": timezone.now() if running else None,
              # resuming runs the current step at once: its delay was spent in the old tool
              "remaining_delay": timedelta(0) if running else None}
    existing = Enrollment.objects.filter(account=lookups.account, external_id=external_id).first()
    if existing is None:
        if running and Enrollment.objects.filter(sequence=sequence, contact=contact,
                                                 status__in=RUNNING_STATUSES).exists():
            raise RowError("the contact is already enrolled in this sequence", "contact_external_id")
        Enrollment.objects.create(account=lookups.account, external_id=external_id,
                                  inbox=_inbox_for(lookups, enrolled_by), **values)
        return CREATED
    values.pop("paused_at"), values.pop("remaining_delay")
    return _update(existing, values)


def _apply_event(row: dict, lookups) -> str:
    external_id = _text(row, "external_id")
    if not external_id:
        raise RowError("an event needs an external_id to be imported idempotently", "external_id")
    ref = _text(row, "enrollment_external_id")
    enrollment = Enrollment.objects.filter(account=lookups.account, external_id=ref).select_related(
        "contact", "sequence").first()
    if enrollment is None:
        raise RowError(f"no enrollment with external_id {ref!r}", "enrollment_external_id")
    kind = _choice(row, "kind", EventKind)
    occurred_at = _datetime(row, "occurred_at")
    if occurred_at is None:
        raise RowError("required", "occurred_at")
    bounce_type = _choice(row, "bounce_type", BounceType, BounceType.HARD) if kind == EventKind.BOUNCE else ""
    position = _text(row, "step")
    step = Step.objects.filter(sequence=enrollment.sequence, position=int(position)).first() \
        if position.isdigit() else None
    if EngagementEvent.objects.filter(account=lookups.account, external_id=external_id).exists():
        return UNCHANGED  # events are append-only: an imported event is never rewritten
    with transaction.atomic():
        event = EngagementEvent.objects.create(
            account=lookups.account, external_id=external_id, kind=kind, occurred_at=occurred_at,
            contact=enrollment.contact, enrollment=enrollment, sequence=enrollment.sequence, step=step,
            is_machine=_text(row, "is_machine").lower() in {"1", "true", "yes"},
            machine_reason=_text(row, "machine_reason"), bounce_type=bounce_type, url=_text(row, "url"))
        engagement_rollup_add([event])
    return CREATED


ROW_TYPES.update({
    "sequence": RowType("sequence", frozenset({"external_id", "name", "owner_email", "created_at"}), _apply_sequence),
    "sequence_step": RowType("sequence_step", frozenset({"sequence_external_id", "position", "step_type",
                                                         "delay_days", "subject", "body", "task_title"}), _apply_step),
    "enrollment": RowType("enrollment", frozenset({
        "external_id", "sequence_external_id", "contact_external_id", "contact_email", "enrolled_by_email",
        "status", "status_detail", "enrolled_at", "ended_at", "current_step", "last_step_completed_at"}),
        _apply_enrollment),
    "sequence_event": RowType("sequence_event", frozenset({
        "external_id", "enrollment_external_id", "kind", "occurred_at", "step", "is_machine", "machine_reason",
        "bounce_type", "url"}), _apply_event),
})
