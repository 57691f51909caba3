"""Writes of the sequence engine: enrolling, pausing, resuming, unenrolling, recording engagement and
ending enrollments automatically. Sending lives in `sending.py`, inbound mail in `inbound.py`, tracking
hits in `tracking.py`; they all end enrollments and record events through the functions here, so the
rules of SPEC §1 are written once:

- A reply (to a sequence email or not), a booked meeting, a bounce or an unsubscribe ends every running
  enrollment of the contact; with the sequence's "unenroll contacts of the same company" setting, a reply or
  meeting from a colleague at the same company ends it too. Auto-replies are recorded and end nothing.
- Ending is idempotent: an enrollment that already ended keeps its first reason.
- Every change is an `EngagementEvent`; events are never updated or deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from touchline.crm.models import Contact, normalise_email
from touchline.sequences.engagement import engagement_rollup_add
from touchline.sequences.models import (
    RUNNING_STATUSES,
    BounceType,
    EmailSuppression,
    EmailTemplate,
    EngagementEvent,
    Enrollment,
    EnrollmentStatus,
    EventKind,
    Inbox,
    Meeting,
    SentMessage,
    Sequence,
    Step,
    StepType,
    SuppressionReason,
)

# The event recorded when an enrollment ends with a status.
END_EVENTS = {
    EnrollmentStatus.FINISHED: EventKind.FINISHED,
    EnrollmentStatus.REPLIED: EventKind.REPLY,
    EnrollmentStatus.MEETING_BOOKED: EventKind.MEETING_BOOKED,
    EnrollmentStatus.BOUNCED: EventKind.BOUNCE,
    EnrollmentStatus.UNSUBSCRIBED: EventKind.UNSUBSCRIBE,
    EnrollmentStatus.UNENROLLED: EventKind.UNENROLLED,
    EnrollmentStatus.ERROR: EventKind.ERROR,
}


@transaction.atomic
def event_record(*, contact: Contact, kind: str, enrollment: Enrollment | None = None,
                 message: SentMessage | None = None, occurred_at: datetime | None = None, **fields) -> EngagementEvent:
    """Append one event and add it to the engagement rollup of its enrollment and message (engagement.py), in
    one transaction. `fields` are the optional EngagementEvent columns (is_machine, machine_reason,
    bounce_type, url, user_agent, ip, detail, step). The sequence and step follow from the enrollment and
    message when not given."""
    # Ids, not related objects: reading `message.step` or `contact.account` here would cost a query per event.
    if message is not None and enrollment is None:
        enrollment = message.enrollment
    if "step" not in fields and "step_id" not in fields:
        fields["step_id"] = message.step_id if message is not None else None
    event = EngagementEvent.objects.create(
        account_id=contact.account_id, contact=contact, kind=kind, enrollment=enrollment, message=message,
        sequence_id=enrollment.sequence_id if enrollment is not None else None,
        occurred_at=occurred_at or timezone.now(), **fields)
    engagement_rollup_add([event])
    return event


@transaction.atomic
def enrollments_end(*, enrollments: Iterable[Enrollment], status: str, detail: str = "", at: datetime | None = None,
                    messages: Mapping[int, SentMessage] | None = None, record: bool = True,
                    **event_fields) -> list[Enrollment]:
    """End the running ones of `enrollments` with `status` and record the matching event of each; returns those
    it ended (an enrollment that had already ended keeps its first reason and is left out). `messages` maps an
    enrollment's id to the sent message its event is about; `record=False` when the caller records richer
    events itself; `event_fields` are EngagementEvent columns every event gets (e.g. `bounce_type`, `step`).

    Set-based whatever the number: the running rows are locked and read (one SELECT … FOR UPDATE on PostgreSQL;
    on SQLite the transaction holds the write lock from its start), ended with one UPDATE, their events
    inserted with one INSERT and added to the rollup set-based (engagement.py) — all in one transaction."""
    at = at or timezone.now()
    messages = messages or {}
    by_id = {e.pk: e for e in enrollments}
    if not by_id:
        return []
    running = list(Enrollment.objects.select_for_update().filter(pk__in=by_id, status__in=RUNNING_STATUSES)
                   .order_by("pk").values_list("pk", flat=True))
    if not running:
        return []
    Enrollment.objects.filter(pk__in=running).update(status=status, status_detail=detail[:500], ended_at=at,
                                                     next_due_at=None, paused_at=None, remaining_delay=None)
    ended = [by_id[pk] for pk in running]
    events = []
    for enrollment in ended:
        # The caller's objects now say what the rows say, without reading them back.
        enrollment.status, enrollment.status_detail, enrollment.ended_at = status, detail[:500], at
        enrollment.next_due_at = enrollment.paused_at = enrollment.remaining_delay = None
        if record:
            message = messages.get(enrollment.pk)
            fields = dict(event_fields)
            if "step" not in fields and "step_id" not in fields:
                fields["step_id"] = message.step_id if message is not None else None
            events.append(EngagementEvent(account_id=enrollment.account_id, contact_id=enrollment.contact_id,
                                          kind=END_EVENTS[status], enrollment=enrollment, message=message,
                                          sequence_id=enrollment.sequence_id, occurred_at=at, detail=detail,
                                          **fields))
    if events:
        EngagementEvent.objects.bulk_create(events)
        engagement_rollup_add(events)
    return ended


def enrollment_end(*, enrollment: Enrollment, status: str, detail: str = "", at: datetime | None = None,
                   message: SentMessage | None = None, record: bool = True, **event_fields) -> bool:
    """End a running enrollment with `status` and record the matching event; False if it had already ended.
    `record=False` when the caller records a richer event itself. One enrollment of `enrollments_end`."""
    return bool(enrollments_end(enrollments=[enrollment], status=status, detail=detail, at=at, record=record,
                                messages={enrollment.pk: message} if message is not None else None, **event_fields))


def _latest_message(enrollment: Enrollment) -> SentMessage | None:
    return enrollment.messages.filter(sent_at__isnull=False).order_by("-sent_at", "-id").first()


def running_enrollments_touched_by(contact: Contact) -> list[Enrollment]:
    """The running enrollments a reply or meeting of `contact` ends: the contact's own, and its company
    colleagues' in sequences that unenroll the same company."""
    own = Q(contact=contact)
    if contact.company_id:
        own |= Q(contact__company_id=contact.company_id, sequence__unenroll_same_company=True)
    return list(Enrollment.objects.filter(own, account=contact.account, status__in=RUNNING_STATUSES)
                .select_related("contact", "sequence"))


@transaction.atomic
def contact_replied(*, contact: Contact, at: datetime | None = None, message: SentMessage | None = None,
                    detail: str = "") -> list[Enrollment]:
    """A reply from `contact` (matched to `message` when it answered one): ends the contact's enrollments as
    replied, each with a reply event on the message it answered or the enrollment's latest one. Colleagues'
    enrollments it ends are `unenrolled`, not `replied`: they did not reply, and reply rates count people who did."""
    ended = []
    for enrollment in running_enrollments_touched_by(contact):
        if enrollment.contact_id != contact.pk:
            ended += [enrollment] if enrollment_end(enrollment=enrollment, status=EnrollmentStatus.UNENROLLED, at=at,
                                                    detail=f"{contact.email} of the same company replied") else []
            continue
        answered = message if message is not None and message.enrollment_id == enrollment.pk else \
            _latest_message(enrollment)
        if enrollment_end(enrollment=enrollment, status=EnrollmentStatus.REPLIED, detail=detail, at=at,
                          message=answered):
            ended.append(enrollment)
    return ended


@transaction.atomic
def contact_auto_replied(*, contact: Contact, at: datetime | None = None, message: SentMessage | None = None,
                         detail: str = "") -> None:
    """An out-of-office or other automatic answer: recorded on the running enrollments, which go on."""
    enrollments = [message.enrollment] if message is not None else \
        list(Enrollment.objects.filter(contact=contact, status__in=RUNNING_STATUSES))
    for enrollment in enrollments:
        event_record(contact=contact, kind=EventKind.AUTO_REPLY, enrollment=enrollment, occurred_at=at,
                     message=message if message is not None else _latest_message(enrollment), detail=detail)


def suppression_add(*, account, email: str, reason: str) -> EmailSuppression:
    suppression, _ = EmailSuppression.objects.get_or_create(account=account, email=normalise_email(email),
                                                            defaults={"reason": reason})
    return suppression


def is_suppressed(*, account, email: str) -> bool:
    return EmailSuppression.objects.filter(account=account, email=normalise_email(email)).exists()


@transaction.atomic
def contact_bounced(*, contact: Contact, bounce_type: str, at: datetime | None = None,
                    message: SentMessage | None = None, detail: str = "") -> list[Enrollment]:
    """A bounce: a hard bounce or complaint suppresses the address and ends the contact's running
    enrollments as bounced; a soft bounce is recorded and ends nothing (the next step may still get through)."""
    if bounce_type == BounceType.SOFT:
        enrollment = message.enrollment if message is not None else None
        event_record(contact=contact, kind=EventKind.BOUNCE, enrollment=enrollment, message=message, occurred_at=at,
                     bounce_type=bounce_type, detail=detail)
        return []
    reason = SuppressionReason.COMPLAINT if bounce_type == BounceType.COMPLAINT else SuppressionReason.BOUNCED
    suppression_add(account=contact.account, email=contact.email, reason=reason)
    ended = []
    for enrollment in Enrollment.objects.filter(contact=contact, status__in=RUNNING_STATUSES):
        bounced = message if message is not None and message.enrollment_id == enrollment.pk else \
            _latest_message(enrollment)
        if enrollment_end(enrollment=enrollment, status=EnrollmentStatus.BOUNCED, detail=detail, at=at,
                          message=bounced, bounce_type=bounce_type):
            ended.append(enrollment)
    return ended


@transaction.atomic
def contact_unsubscribed(*, contact: Contact, at: datetime | None = None, message: SentMessage | None = None,
                         detail: str = "") -> list[Enrollment]:
    """Suppress the address and end every running enrollment of the contact as unsubscribed."""
    suppression_add(account=contact.account, email=contact.email, reason=SuppressionReason.UNSUBSCRIBED)
    ended = []
    for enrollment in Enrollment.objects.filter(contact=contact, status__in=RUNNING_STATUSES):
        via = message if message is not None and message.enrollment_id == enrollment.pk else None
        if enrollment_end(enrollment=enrollment, status=EnrollmentStatus.UNSUBSCRIBED, detail=detail, at=at,
                          message=via):
            ended.append(enrollment)
    return ended




@transaction.atomic
def meeting_record(*, contact: Contact, starts_at: datetime, ends_at: datetime, source: str, host=None,
                   title: str = "", external_id: str = "", at: datetime | None = None):
    """Record a meeting with `contact` (idempotent by `external_id`) and end the running enrollments it
    touches as meeting booked (SPEC §1: any meeting booked or logged while enrolled counts). Returns the
    meeting and whether it was new."""
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "A meeting must end after it starts."})
    if external_id:
        existing = Meeting.objects.filter(account=contact.account, external_id=external_id).first()
        if existing is not None:
            return existing, False
    touched = running_enrollments_touched_by(contact)
    meeting = Meeting.objects.create(account=contact.account, contact=contact, host=host, starts_at=starts_at,
                                     ends_at=ends_at, source=source, title=title, external_id=external_id,
                                     enrollment=next((e for e in touched if e.contact_id == contact.pk), None))
    for enrollment in touched:
        if enrollment.contact_id == contact.pk:
            enrollment_end(enrollment=enrollment, status=EnrollmentStatus.MEETING_BOOKED, at=at,
                           detail=f"meeting {starts_at:%Y-%m-%d %H:%M} UTC ({source})",
                           message=_latest_message(enrollment))
        else:  # as for replies: the colleague's enrollment ends, but they booked nothing
            enrollment_end(enrollment=enrollment, status=EnrollmentStatus.UNENROLLED, at=at,
                           detail=f"{contact.email} of the same company booked a meeting")
    return meeting, True


# Enrolling, pausing, resuming, unenrolling -----------------------------------------------------------------------


@dataclass(frozen=True)
class EnrollmentOutcome:
    enrolled: list[Enrollment]
    refused: list[tuple[Contact, str]]  # contact, reason for the person enrolling


def _refusal(contact: Contact, sequence: Sequence, suppressed: dict[str, str], running: set[int]) -> str:
    if contact.pk in running:
        return "already active in this sequence"
    if not contact.email:
        return "has no email address"
    reason = suppressed.get(contact.email)
    if reason == SuppressionReason.UNSUBSCRIBED:
        return "unsubscribed from sequence emails"
    if reason in (SuppressionReason.BOUNCED, SuppressionReason.COMPLAINT):
        return "an earlier email to this address bounced" if reason == SuppressionReason.BOUNCED else \
            "marked an earlier email as spam"
    return ""


def enrollments_create(*, sequence: Sequence, contacts: Iterable[Contact], inbox: Inbox, enrolled_by,
                       start_position: int = 1, start_at: datetime | None = None,
                       now: datetime | None = None) -> EnrollmentOutcome:
    """Enroll each contact at step `start_position`; the first step runs at once (or at `start_at`, as a
    scheduled enrollment). A contact that cannot be enrolled is refused with a reason; the others go ahead."""
    now = now or timezone.now()
    contacts = list(contacts)
    if sequence.archived_at is not None:
        raise ValidationError({"sequence": "This sequence was deleted; it takes no new enrollments."})
    if inbox.account_id != sequence.account_id:
        raise ValidationError({"inbox": "The inbox is not in this account."})
    step = sequence.steps.filter(position=start_position).first()
    if step is None:
        raise ValidationError({"start_position": f"The sequence has no step {start_position}."})
    if start_at is not None and start_at <= now:
        start_at = None
    emails = [c.email for c in contacts if c.email]
    suppressed = dict(EmailSuppression.objects.filter(account=sequence.account, email__in=emails)
                      .values_list("email", "reason"))
    running = set(Enrollment.objects.filter(sequence=sequence, contact__in=contacts, status__in=RUNNING_STATUSES)
                  .values_list("contact_id", flat=True))
    enrolled, refused = [], []
    for contact in contacts:
        if contact.account_id != sequence.account_id:
            refused.append((contact, "not in this account"))
            continue
        if reason := _refusal(contact, sequence, suppressed, running):
            refused.append((contact, reason))
            continue
        try:
            with transaction.atomic():
                enrollment = Enrollment.objects.create(
                    account=sequence.account, sequence=sequence, contact=contact, enrolled_by=enrolled_by,
                    inbox=inbox, company_at_enrollment_id=contact.company_id, current_step=step,
                    status=EnrollmentStatus.SCHEDULED if start_at else EnrollmentStatus.ACTIVE,
                    enrolled_at=start_at or now, next_due_at=start_at or now)
                event_record(contact=contact, kind=EventKind.ENROLLED, enrollment=enrollment, occurred_at=now,
                             step=step, detail=f"from step {start_position}")
        except IntegrityError:  # enrolled by someone else a moment ago
            refused.append((contact, "already active in this sequence"))
            continue
        running.add(contact.pk)
        enrolled.append(enrollment)
    return EnrollmentOutcome(enrolled, refused)


@transaction.atomic
def enrollment_pause(*, enrollment: Enrollment, by=None, now: datetime | None = None) -> bool:
    """Pause an active enrollment, keeping what is left of the current delay (SPEC §1)."""
    now = now or timezone.now()
    enrollment = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
    if enrollment.status not in (EnrollmentStatus.ACTIVE, EnrollmentStatus.SCHEDULED):
        return False
    remaining = max(enrollment.next_due_at - now, timedelta(0)) if enrollment.next_due_at else None
    enrollment.status, enrollment.paused_at, enrollment.remaining_delay = EnrollmentStatus.PAUSED, now, remaining
    enrollment.next_due_at = None
    enrollment.save(update_fields=["status", "paused_at", "remaining_delay", "next_due_at"])
    event_record(contact=enrollment.contact, kind=EventKind.PAUSED, enrollment=enrollment, occurred_at=now,
                 detail=f"by {by}" if by else "")
    return True


@transaction.atomic
def enrollment_resume(*, enrollment: Enrollment, by=None, now: datetime | None = None) -> bool:
    """Resume a paused enrollment: the rest of the delay runs from now, so nothing overdue goes out in a burst.
    An enrollment paused while a task held it waits for the task again."""
    now = now or timezone.now()
    enrollment = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
    if enrollment.status != EnrollmentStatus.PAUSED:
        return False
    enrollment.status = EnrollmentStatus.ACTIVE
    enrollment.next_due_at = now + enrollment.remaining_delay if enrollment.remaining_delay is not None else None
    enrollment.paused_at, enrollment.remaining_delay = None, None
    enrollment.save(update_fields=["status", "next_due_at", "paused_at", "remaining_delay"])
    event_record(contact=enrollment.contact, kind=EventKind.RESUMED, enrollment=enrollment, occurred_at=now,
                 detail=f"by {by}" if by else "")
    return True


def enrollment_unenroll(*, enrollment: Enrollment, by=None, now: datetime | None = None) -> bool:
    return enrollment_end(enrollment=enrollment, status=EnrollmentStatus.UNENROLLED, at=now,
                          detail=f"by {by.get_full_name() or by.username}" if by else "")


# Building sequences ----------------------------------------------------------------------------------------------


def _check_tokens(**texts: str) -> None:
    from touchline.sequences.rendering import template_tokens_check

    errors = {name: f"Unknown token(s): {', '.join(bad)}" for name, text in texts.items()
              if (bad := template_tokens_check(text))}
    if errors:
        raise ValidationError(errors)


def sequence_create(*, account, owner, name: str, **settings_) -> Sequence:
    if not name.strip():
        raise ValidationError({"name": "A sequence needs a name."})
    return Sequence.objects.create(account=account, owner=owner, name=name.strip(), **settings_)


@transaction.atomic
def step_add(*, sequence: Sequence, step_type: str, delay_days: int = 0, subject: str = "", body: str = "",
             task_title: str = "", task_notes: str = "", owner=None) -> Step:
    """Append a step; an email step gets its own template from `subject` and `body`."""
    if step_type not in StepType.values:
        raise ValidationError({"step_type": f"Unknown step type {step_type!r}."})
    if delay_days < 0:
        raise ValidationError({"delay_days": "A delay cannot be negative."})
    position = (sequence.steps.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    template = None
    if step_type == StepType.AUTOMATED_EMAIL or subject or body:
        if step_type == StepType.AUTOMATED_EMAIL and not (subject.strip() and body.strip()):
            raise ValidationError({"subject": "An automated email needs a subject and a body."})
        _check_tokens(subject=subject, body=body)
        template = EmailTemplate.objects.create(account=sequence.account, owner=owner, subject=subject.strip(),
                                                body=body.strip(), name=f"{sequence.name} · step {position}")
    return Step.objects.create(account=sequence.account, sequence=sequence, position=position, step_type=step_type,
                               delay_days=0 if position == 1 else delay_days, template=template,
                               task_title=task_title.strip(), task_notes=task_notes.strip())


def sequence_archive(*, sequence: Sequence) -> Sequence:
    """Delete a sequence as users see it: archived, its history kept (SPEC §1)."""
    if sequence.archived_at is None:
        sequence.archived_at = timezone.now()
        sequence.save(update_fields=["archived_at"])
    return sequence


def inbox_for(*, account, user) -> Inbox:
    """The user's first inbox in the account, made from their name and email when they have none (it sends
    through the account-wide SMTP_URL)."""
    inbox = Inbox.objects.filter(account=account, user=user).order_by("id").first()
    if inbox is not None:
        return inbox
    if not user.email:
        raise ValidationError({"inbox": "Your user has no email address to send from."})
    return Inbox.objects.create(account=account, user=user, from_name=user.get_full_name() or user.username,
                                from_email=user.email, time_zone=account.time_zone)


# Changing sequences and steps (the JSON API) -----------------------------------------------------------------------


class SequenceConflict(Exception):
    """A change the sequence's state or history does not allow (an archived sequence, a step that has run).
    The message says why, for the person asking."""


SEQUENCE_SETTINGS = ("name", "owner", "send_window_start", "send_window_end", "business_days_only",
                     "thread_follow_ups", "unenroll_same_company")


def _editable(sequence: Sequence) -> None:
    if sequence.archived_at is not None:
        raise SequenceConflict("This sequence was deleted (archived); its history is kept but it cannot change.")


def sequence_update(*, sequence: Sequence, **fields) -> Sequence:
    """Change a sequence's settings (SEQUENCE_SETTINGS). They apply from now on: a step already scheduled
    keeps its due time, the next ones follow the new send window and business-day rule."""
    _editable(sequence)
    unknown = set(fields) - set(SEQUENCE_SETTINGS)
    if unknown:
        raise ValidationError({name: "Not a setting of a sequence." for name in sorted(unknown)})
    if "name" in fields:
        fields["name"] = (fields["name"] or "").strip()
        if not fields["name"]:
            raise ValidationError({"name": "A sequence needs a name."})
    start = fields.get("send_window_start", sequence.send_window_start)
    end = fields.get("send_window_end", sequence.send_window_end)
    if start is None or end is None or start >= end:
        raise ValidationError({"send_window_end": "The send window must end after it starts."})
    for name, value in fields.items():
        setattr(sequence, name, value)
    sequence.save(update_fields=list(fields))
    return sequence


def step_history(step: Step) -> str:
    """What has already happened at `step`, in words ("2 emails sent, 1 task"), or "" when nothing has: a step
    with history keeps its type and stays, so the sequence's past performance reads as it happened."""
    counts = [
        (SentMessage.objects.filter(step=step).count(), "email sent", "emails sent"),
        (step.tasks.count(), "task", "tasks"),
        (Enrollment.objects.filter(current_step=step).count(), "enrollment at it", "enrollments at it"),
        (EngagementEvent.objects.filter(step=step).count(), "recorded event", "recorded events"),
    ]
    return ", ".join(f"{n} {one if n == 1 else many}" for n, one, many in counts if n)


@transaction.atomic
def step_update(*, step: Step, owner=None, **fields) -> Step:
    """Change a step: `step_type`, `delay_days`, `subject`, `body`, `task_title`, `task_notes` (only those given).

    Checks what step_add checks (known type, no negative delay, known tokens, an automated email has a subject
    and a body). The type of a step with history cannot change (SequenceConflict). New content never rewrites
    sent emails: when the step's template was already sent, or is shared with another step, the step gets a new
    template and the old one keeps its sends in Email performance. A new delay applies to enrollments that reach
    the step from now on."""
    sequence = step.sequence
    _editable(sequence)
    allowed = {"step_type", "delay_days", "subject", "body", "task_title", "task_notes"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({name: "Not a field of a step." for name in sorted(unknown)})
    step_type = fields.get("step_type", step.step_type)
    if step_type not in StepType.values:
        raise ValidationError({"step_type": f"Unknown step type {step_type!r}."})
    if step_type != step.step_type and (history := step_history(step)):
        raise SequenceConflict(f"Step {step.position} has history ({history}); its type cannot change. Add a new "
                               "step instead.")
    delay_days = fields.get("delay_days", step.delay_days)
    if delay_days < 0:
        raise ValidationError({"delay_days": "A delay cannot be negative."})
    if step.position == 1 and fields.get("delay_days"):
        raise ValidationError({"delay_days": "The first step runs at enrollment; it has no delay."})
    template = step.template
    subject = fields.get("subject", template.subject if template else "")
    body = fields.get("body", template.body if template else "")
    if step_type == StepType.AUTOMATED_EMAIL and not (subject.strip() and body.strip()):
        raise ValidationError({"subject": "An automated email needs a subject and a body."})
    content_changed = "subject" in fields or "body" in fields
    if content_changed:
        _check_tokens(subject=subject, body=body)
    if template is None and not (subject.strip() or body.strip()):
        content_changed = False  # a task step that still has no email
    if content_changed and (template is None or subject.strip() != template.subject
                            or body.strip() != template.body):
        shared = template is not None and (
            SentMessage.objects.filter(template=template).exists()
            or Step.objects.filter(template=template).exclude(pk=step.pk).exists())
        if template is None or shared:
            name = f"{sequence.name} · step {step.position}"
            if template is not None:
                name = f"{name} (edited {timezone.now():%Y-%m-%d %H:%M})"
            step.template = EmailTemplate.objects.create(account=sequence.account, owner=owner, name=name,
                                                         subject=subject.strip(), body=body.strip())
        else:
            template.subject, template.body = subject.strip(), body.strip()
            template.save(update_fields=["subject", "body", "updated_at"])
    step.step_type, step.delay_days = step_type, delay_days
    for name in ("task_title", "task_notes"):
        if name in fields:
            setattr(step, name, fields[name].strip())
    step.save()
    return step


@transaction.atomic
def step_delete(*, step: Step) -> None:
    """Remove a step that has never run; the later steps move up one position (the new first step loses its
    delay: the first step runs at enrollment). A step with history stays (SequenceConflict): removing it would
    rewrite the sequence's past. Its template stays in the library."""
    sequence = Sequence.objects.select_for_update().get(pk=step.sequence_id)
    _editable(sequence)
    if history := step_history(step):
        raise SequenceConflict(f"Step {step.position} has history ({history}); deleting it would rewrite the "
                               "sequence's past performance. Edit it, or archive the sequence and build a new one.")
    position = step.position
    step.delete()
    # One by one in ascending order, so the unique (sequence, position) never sees two rows on one position.
    for later in Step.objects.filter(sequence=sequence, position__gt=position).order_by("position"):
        later.position -= 1
        if later.position == 1:
            later.delay_days = 0
        later.save(update_fields=["position", "delay_days"])
