"""Running due steps: sending the emails of automated steps and creating the tasks of manual ones.

Each step's email goes out at most once, even when a worker dies mid-send or several run at once:

1. **Claim.** In one transaction the worker takes the enrollment's due step — a conditional UPDATE that
   only one worker can win — and inserts the `SentMessage` row (unique per enrollment and step) with status
   `claimed`. Nothing has been said to any mail server yet.
2. **Hand over.** A second conditional UPDATE moves the row from `claimed` to `sending` and commits. Only
   then does the SMTP conversation start; `sent` is written when the server accepted the message.
3. **Recovery.** A `claimed` row whose worker died is picked up by the next tick and sent: it never reached a
   server. A `sending` row older than SENDING_LEASE may or may not have been delivered; resending it could
   duplicate the email, so it is marked failed and its enrollment ends as `error` with that explanation.

Temporary SMTP failures (connection refused, 4xx) go back to `claimed` with a retry time on an increasing
backoff; after MAX_ATTEMPTS the enrollment ends as `error` with the server's last answer. A permanent
refusal of the recipient (5xx to RCPT TO) is a bounce. Emails over an inbox's per-minute or rolling 24-hour
limit wait for the next free slot; they are never dropped.
"""

from __future__ import annotations

import contextlib
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from touchline.sequences import services
from touchline.sequences.models import (
    BounceType,
    Enrollment,
    EnrollmentStatus,
    EventKind,
    Inbox,
    MessageStatus,
    SentMessage,
    Step,
    StepType,
    Task,
    TaskStatus,
)
from touchline.sequences.rendering import RenderError, build_mime, message_id_for, render_email, token_values
from touchline.sequences.scheduling import in_window, send_time, step_due_at

MAX_ATTEMPTS = 4
RETRY_BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))
SENDING_LEASE = timedelta(minutes=10)  # far longer than any SMTP conversation with its timeouts
SMTP_TIMEOUT_SECONDS = 30


# SMTP ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str  # none | starttls | tls
    username: str = ""
    password: str = ""


def smtp_server_of(inbox: Inbox) -> SmtpServer:
    if not inbox.use_default_smtp:
        return SmtpServer(inbox.smtp_host, inbox.smtp_port or 587, inbox.smtp_security, inbox.smtp_username,
                          inbox.smtp_password)
    url = urlsplit(settings.SMTP_URL)
    security = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "tls"}.get(url.scheme)
    if security is None:
        raise ValueError(f"SMTP_URL must start with smtp://, smtp+starttls:// or smtps://, not {url.scheme}://")
    port = url.port or {"none": 25, "starttls": 587, "tls": 465}[security]
    return SmtpServer(url.hostname or "127.0.0.1", port, security, unquote(url.username or ""),
                      unquote(url.password or ""))


@dataclass
class SmtpConnections:
    """Open SMTP connections of one tick, one per server, reused for every email it sends."""

    open: dict[SmtpServer, smtplib.SMTP] = field(default_factory=dict)

    def get(self, server: SmtpServer) -> smtplib.SMTP:
        if server not in self.open:
            cls = smtplib.SMTP_SSL if server.security == "tls" else smtplib.SMTP
            connection = cls(server.host, server.port, timeout=SMTP_TIMEOUT_SECONDS)
            if server.security == "starttls":
                connection.starttls()
            if server.username:
                connection.login(server.username, server.password)
            self.open[server] = connection
        return self.open[server]

    def drop(self, server: SmtpServer) -> None:
        connection = self.open.pop(server, None)
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.close()

    def close(self) -> None:
        for server in list(self.open):
            with contextlib.suppress(OSError):  # SMTPException is an OSError
                self.open[server].quit()
            self.drop(server)


# Limits ----------------------------------------------------------------------------------------------------------


def inbox_next_free_slot(inbox: Inbox, now: datetime) -> datetime | None:
    """None when the inbox may send now, else when its per-minute or 24-hour limit frees a slot."""
    # Claimed messages count: a tick claims its steps before it sends them.
    recent = SentMessage.objects.filter(inbox=inbox, status__in=[MessageStatus.CLAIMED, MessageStatus.SENDING,
                                                                 MessageStatus.SENT])
    minute = list(recent.filter(claimed_at__gt=now - timedelta(minutes=1)).order_by("claimed_at")
                  .values_list("claimed_at", flat=True)[: inbox.per_minute_limit])
    if len(minute) >= inbox.per_minute_limit:
        return minute[0] + timedelta(minutes=1)
    day = recent.filter(claimed_at__gt=now - timedelta(hours=24))
    if day.count() >= inbox.daily_limit:
        oldest = day.order_by("claimed_at").values_list("claimed_at", flat=True)[0]
        return oldest + timedelta(hours=24)
    return None


# Steps -----------------------------------------------------------------------------------------------------------


def _take(enrollment: Enrollment) -> bool:
    """Claim the due step: only one worker's UPDATE matches the due time it read."""
    return Enrollment.objects.filter(pk=enrollment.pk, status=EnrollmentStatus.ACTIVE,
                                     next_due_at=enrollment.next_due_at).update(next_due_at=None) == 1


def _postpone(enrollment: Enrollment, until: datetime) -> None:
    Enrollment.objects.filter(pk=enrollment.pk, status=EnrollmentStatus.ACTIVE,
                              next_due_at=enrollment.next_due_at).update(next_due_at=until)


def _values(enrollment: Enrollment) -> dict:
    return token_values(contact=enrollment.contact, company=enrollment.contact.company,
                        sender_user=enrollment.inbox.user, inbox=enrollment.inbox)


def step_run(*, enrollment_id: int, now: datetime | None = None) -> SentMessage | Task | None:
    """Run the enrollment's current step if it is due: claim an email (then send it) or create a task."""
    now = now or timezone.now()
    with transaction.atomic():
        enrollment = (Enrollment.objects.select_related("sequence", "current_step__template", "inbox__user",
                                                        "contact__company").get(pk=enrollment_id))
        if enrollment.status == EnrollmentStatus.SCHEDULED and enrollment.next_due_at <= now:
            Enrollment.objects.filter(pk=enrollment.pk, status=EnrollmentStatus.SCHEDULED).update(
                status=EnrollmentStatus.ACTIVE)
            enrollment.status = EnrollmentStatus.ACTIVE
        if enrollment.status != EnrollmentStatus.ACTIVE or enrollment.next_due_at is None \
                or enrollment.next_due_at > now:
            return None
        step, sequence = enrollment.current_step, enrollment.sequence
        if step.step_type != StepType.AUTOMATED_EMAIL:
            return _task_create(enrollment, step, now)
        window = {"window_start": sequence.send_window_start, "window_end": sequence.send_window_end,
                  "time_zone": enrollment.inbox.time_zone}
        if not in_window(now, **window):
            _postpone(enrollment, send_time(due_at=now, business_days_only=sequence.business_days_only,
                                            first_step=step.position == 1, **window))
            return None
        if (free_at := inbox_next_free_slot(enrollment.inbox, now)) is not None:
            _postpone(enrollment, free_at)
            return None
        try:
            rendered = render_email(subject=step.template.subject, body=step.template.body,
                                    values=_values(enrollment))
        except RenderError as error:
            services.enrollment_end(enrollment=enrollment, status=EnrollmentStatus.ERROR, at=now,
                                    detail=f"not sent: {error}", step=step)
            return None
        if not _take(enrollment):
            return None
        try:
            with transaction.atomic():
                message = SentMessage.objects.create(
                    account=enrollment.account, enrollment=enrollment, step=step, template=step.template,
                    inbox=enrollment.inbox, message_id=message_id_for(enrollment.inbox.from_email),
                    in_reply_to=enrollment.thread_message_id if sequence.thread_follow_ups else "",
                    to_email=enrollment.contact.email, subject=rendered.subject, claimed_at=now)
        except IntegrityError:  # this step's email already exists: never a second one
            return None
    return message


def _task_create(enrollment: Enrollment, step: Step, now: datetime) -> Task | None:
    if not _take(enrollment):
        return None
    title = step.task_title or f"{step.get_step_type_display()}: {enrollment.contact}"
    task, _ = Task.objects.get_or_create(
        enrollment=enrollment, step=step,
        defaults={"account": enrollment.account, "assignee": enrollment.enrolled_by, "step_type": step.step_type,
                  "title": title, "notes": step.task_notes, "due_at": now})
    return task


def _advance(enrollment: Enrollment, ran_at: datetime) -> None:
    """Move to the step after the current one (or finish), due per the timing rules."""
    enrollment = Enrollment.objects.select_related("current_step", "inbox", "sequence", "contact").get(
        pk=enrollment.pk)
    following = Step.objects.filter(sequence_id=enrollment.sequence_id,
                                    position__gt=enrollment.current_step.position).order_by("position").first()
    if following is None:
        Enrollment.objects.filter(pk=enrollment.pk).update(last_step_completed_at=ran_at)
        services.enrollment_end(enrollment=enrollment, status=EnrollmentStatus.FINISHED, at=ran_at,
                                detail="all steps done")
        return
    due = step_due_at(previous_run_at=ran_at, delay_days=following.delay_days, enrolled_at=enrollment.enrolled_at,
                      time_zone=enrollment.inbox.time_zone, business_days_only=enrollment.sequence.business_days_only,
                      now=ran_at)
    changes = {"current_step": following, "last_step_completed_at": ran_at}
    if enrollment.status == EnrollmentStatus.PAUSED:
        changes["remaining_delay"] = due - ran_at  # resumes with this delay left
    elif enrollment.status == EnrollmentStatus.ACTIVE:
        changes["next_due_at"] = due
    else:
        return  # ended meanwhile (a reply arrived during the send)
    Enrollment.objects.filter(pk=enrollment.pk).update(**changes)


@transaction.atomic
def task_finish(*, task: Task, skipped: bool = False, by=None, now: datetime | None = None) -> bool:
    """Complete or skip a task; the sequence goes on with the next step's delay counted from now."""
    now = now or timezone.now()
    if Task.objects.filter(pk=task.pk, status=TaskStatus.OPEN).update(
            status=TaskStatus.SKIPPED if skipped else TaskStatus.COMPLETED, completed_at=now) != 1:
        return False
    task.refresh_from_db()
    enrollment = task.enrollment
    services.event_record(contact=enrollment.contact, enrollment=enrollment, occurred_at=now, step=task.step,
                          kind=EventKind.TASK_SKIPPED if skipped else EventKind.TASK_COMPLETED,
                          detail=f"by {by}" if by else "")
    if enrollment.current_step_id == task.step_id and enrollment.is_running:
        _advance(enrollment, now)
    return True


# Sending ---------------------------------------------------------------------------------------------------------


def message_send(*, message_id: int, connections: SmtpConnections, now: datetime | None = None) -> str:
    """Hand a claimed message to its SMTP server; returns the message's new status."""
    now = now or timezone.now()
    due = Q(retry_at__isnull=True) | Q(retry_at__lte=now)
    if SentMessage.objects.filter(due, pk=message_id, status=MessageStatus.CLAIMED).update(
            status=MessageStatus.SENDING, attempts=F("attempts") + 1, claimed_at=now) != 1:
        return ""  # another worker has it, or it is not due
    message = SentMessage.objects.select_related("enrollment__contact__company", "enrollment__inbox__user",
                                                 "enrollment__sequence", "template", "inbox").get(pk=message_id)
    enrollment = message.enrollment
    if not enrollment.is_running:
        SentMessage.objects.filter(pk=message.pk).update(status=MessageStatus.FAILED,
                                                         error=f"not sent: enrollment {enrollment.status}")
        return MessageStatus.FAILED
    try:
        rendered = render_email(subject=message.template.subject, body=message.template.body,
                                values=_values(enrollment))
    except RenderError as error:
        return _give_up(message, f"not sent: {error}", now)
    thread_subject = ""
    if message.in_reply_to:
        thread_subject = SentMessage.objects.filter(message_id=message.in_reply_to).values_list(
            "subject", flat=True).first() or ""
    mime = build_mime(message_pk=message.pk, message_id=message.message_id, rendered=rendered,
                      from_name=message.inbox.from_name, from_email=message.inbox.from_email,
                      to_email=message.to_email, reply_to=message.inbox.reply_to, in_reply_to=message.in_reply_to,
                      thread_subject=thread_subject)
    server = smtp_server_of(message.inbox)
    try:
        connections.get(server).send_message(mime)
    except smtplib.SMTPRecipientsRefused as refused:
        code, reason = next(iter(refused.recipients.values()))
        if 500 <= code < 600:
            SentMessage.objects.filter(pk=message.pk).update(status=MessageStatus.FAILED,
                                                             error=f"{code} {reason.decode(errors='replace')}")
            services.contact_bounced(contact=enrollment.contact, bounce_type=BounceType.HARD, at=now,
                                     message=message, detail=f"refused at send: {code} "
                                                             f"{reason.decode(errors='replace')}")
            return MessageStatus.FAILED
        return _retry(message, f"{code} {reason.decode(errors='replace')}", now)
    except OSError as error:  # every SMTPException, refused connections and timeouts
        connections.drop(server)
        permanent = isinstance(error, smtplib.SMTPResponseException) and 500 <= error.smtp_code < 600
        reason = _smtp_reason(error)
        return _give_up(message, reason, now) if permanent else _retry(message, reason, now)
    with transaction.atomic():
        SentMessage.objects.filter(pk=message.pk).update(status=MessageStatus.SENT, sent_at=now, error="")
        message.status, message.sent_at = MessageStatus.SENT, now
        services.event_record(contact=enrollment.contact, kind=EventKind.SENT, enrollment=enrollment,
                              message=message, occurred_at=now)
        if not enrollment.thread_message_id:
            Enrollment.objects.filter(pk=enrollment.pk, thread_message_id="").update(
                thread_message_id=message.message_id)
        _advance(enrollment, now)
    return MessageStatus.SENT


def _smtp_reason(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        return f"{error.smtp_code} {text}"
    return f"{type(error).__name__}: {error}"


def _retry(message: SentMessage, reason: str, now: datetime) -> str:
    attempts = SentMessage.objects.filter(pk=message.pk).values_list("attempts", flat=True)[0]
    if attempts >= MAX_ATTEMPTS:
        return _give_up(message, f"after {attempts} attempts: {reason}", now)
    SentMessage.objects.filter(pk=message.pk).update(
        status=MessageStatus.CLAIMED, retry_at=now + RETRY_BACKOFF[min(attempts, len(RETRY_BACKOFF)) - 1],
        error=reason)
    return MessageStatus.CLAIMED


@transaction.atomic
def _give_up(message: SentMessage, reason: str, now: datetime) -> str:
    SentMessage.objects.filter(pk=message.pk).update(status=MessageStatus.FAILED, error=reason)
    services.enrollment_end(enrollment=message.enrollment, status=EnrollmentStatus.ERROR, at=now,
                            detail=f"send failed: {reason}", message=message)
    return MessageStatus.FAILED


# The tick --------------------------------------------------------------------------------------------------------


@dataclass
class TickResult:
    steps_run: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    tasks: int = 0
    interrupted: int = 0


def sequences_tick(*, now: datetime | None = None, limit: int = 500) -> TickResult:
    """One pass of the engine over every account: recover interrupted sends, run due steps, send claimed
    emails. Safe to run in several workers at once."""
    now = now or timezone.now()
    result = TickResult()
    with scopes_disabled():
        stale = list(SentMessage.all_accounts.filter(status=MessageStatus.SENDING, claimed_at__lt=now - SENDING_LEASE)
                     .values_list("pk", "account_id"))
        due = list(Enrollment.all_accounts.filter(
            status__in=[EnrollmentStatus.ACTIVE, EnrollmentStatus.SCHEDULED], next_due_at__lte=now)
            .order_by("next_due_at").values_list("pk", "account_id")[:limit])
        pending_sql = Q(retry_at__isnull=True) | Q(retry_at__lte=now)
        accounts = {a.pk: a for a in _accounts({a for _, a in stale} | {a for _, a in due})}
    for message_pk, account_id in stale:
        with scope(account=accounts[account_id]):
            if SentMessage.objects.filter(pk=message_pk, status=MessageStatus.SENDING).update(
                    status=MessageStatus.FAILED, error="interrupted while handing to SMTP; not resent, it may "
                                                       "have been delivered") == 1:
                message = SentMessage.objects.select_related("enrollment").get(pk=message_pk)
                services.enrollment_end(enrollment=message.enrollment, status=EnrollmentStatus.ERROR, at=now,
                                        message=message, detail="the send was interrupted; not resent to avoid "
                                                                "a duplicate — it may have been delivered")
                result.interrupted += 1
    for enrollment_pk, account_id in due:
        with scope(account=accounts[account_id]):
            outcome = step_run(enrollment_id=enrollment_pk, now=now)
            result.steps_run += outcome is not None
            result.tasks += isinstance(outcome, Task)
    with scopes_disabled():
        pending = list(SentMessage.all_accounts.filter(pending_sql, status=MessageStatus.CLAIMED)
                       .order_by("claimed_at").values_list("pk", "account_id")[:limit])
        accounts |= {a.pk: a for a in _accounts({a for _, a in pending} - accounts.keys())}
    connections = SmtpConnections()
    try:
        for message_pk, account_id in pending:
            with scope(account=accounts[account_id]):
                status = message_send(message_id=message_pk, connections=connections, now=now)
            result.sent += status == MessageStatus.SENT
            result.retrying += status == MessageStatus.CLAIMED
            result.failed += status == MessageStatus.FAILED
    finally:
        connections.close()
    return result


def _accounts(ids: set[int]):
    from touchline.core.models import Account

    return Account.objects.filter(pk__in=ids) if ids else []
