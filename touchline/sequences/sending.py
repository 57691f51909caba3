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

import bisect
import contextlib
import smtplib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from touchline.core.db import Statement, rows_update
from touchline.sequences import services
from touchline.sequences.engagement import engagement_rollup_add
from touchline.sequences.models import (
    BounceType,
    EngagementEvent,
    Enrollment,
    EnrollmentStatus,
    EspWebhook,
    EventKind,
    Inbox,
    MessageStatus,
    SentMessage,
    Step,
    StepType,
    Task,
    TaskStatus,
)
from touchline.sequences.rendering import (
    RenderedEmail,
    RenderError,
    build_mime,
    message_id_for,
    render_email,
    token_values,
)
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


class InboxBudget:
    """What each inbox has claimed in the last 24 hours, read once per tick and kept up to date as the tick
    claims more, so checking the per-minute and daily limits costs no query per email."""

    def __init__(self, now: datetime):
        self.now, self.claimed = now, {}

    def _times(self, inbox: Inbox) -> list[datetime]:
        if inbox.pk not in self.claimed:
            # Claimed messages count: a tick claims its steps before it sends them.
            self.claimed[inbox.pk] = sorted(SentMessage.objects.filter(
                inbox=inbox, claimed_at__gt=self.now - timedelta(hours=24),
                status__in=[MessageStatus.CLAIMED, MessageStatus.SENDING, MessageStatus.SENT],
            ).values_list("claimed_at", flat=True))
        return self.claimed[inbox.pk]

    def next_free_slot(self, inbox: Inbox) -> datetime | None:
        """None when the inbox may send now, else when its per-minute or 24-hour limit frees a slot."""
        times = self._times(inbox)  # sorted: read in order, kept so by take()
        in_last_minute = len(times) - bisect.bisect_right(times, self.now - timedelta(minutes=1))
        if in_last_minute >= inbox.per_minute_limit:
            return times[-inbox.per_minute_limit] + timedelta(minutes=1)
        if len(times) >= inbox.daily_limit:
            return times[-inbox.daily_limit] + timedelta(hours=24)
        return None

    def take(self, inbox: Inbox) -> None:
        bisect.insort(self._times(inbox), self.now)


# Steps -----------------------------------------------------------------------------------------------------------


# The per-email conditional UPDATEs, written once (building a queryset for each was a large share of a send).
_TAKE = Statement(Enrollment, "UPDATE {table} SET next_due_at = NULL WHERE id = %s AND status = %s "
                              "AND next_due_at = %s", ("id", "status", "next_due_at"))
_HAND_OVER = Statement(SentMessage, "UPDATE {table} SET status = %s, attempts = attempts + 1, claimed_at = %s "
                                    "WHERE id = %s AND status = %s AND (retry_at IS NULL OR retry_at <= %s)",
                       ("status", "claimed_at", "id", "status", "retry_at"))


def _take(enrollment: Enrollment) -> bool:
    """Claim the due step: only one worker's UPDATE matches the due time it read."""
    return _TAKE.run(enrollment.pk, EnrollmentStatus.ACTIVE, enrollment.next_due_at) == 1


def _postpone(enrollment: Enrollment, until: datetime) -> None:
    Enrollment.objects.filter(pk=enrollment.pk, status=EnrollmentStatus.ACTIVE,
                              next_due_at=enrollment.next_due_at).update(next_due_at=until)


def _values(enrollment: Enrollment) -> dict:
    return token_values(contact=enrollment.contact, company=enrollment.contact.company,
                        sender_user=enrollment.inbox.user, inbox=enrollment.inbox)


def steps_run(*, enrollment_ids: list[int], now: datetime | None = None, budget: InboxBudget | None = None,
              renders: dict[int, RenderedEmail] | None = None) -> list[SentMessage | Task | None]:
    """Run the current step of each enrollment that is due: claim its email or create its task. One query
    loads them all; each claim is its own conditional UPDATE and insert, so a race is lost per enrollment.
    `renders`, when given, gets each claimed message's rendered email (by message id): the claim renders it to
    check its tokens, and messages_send in the same tick sends that instead of rendering it again."""
    now = now or timezone.now()
    budget = budget or InboxBudget(now)
    loaded = Enrollment.objects.select_related("sequence", "current_step__template", "inbox__user",
                                               "contact__company").in_bulk(enrollment_ids)
    return [_step_run(loaded[pk], now, budget, renders) if pk in loaded else None for pk in enrollment_ids]


def step_run(*, enrollment_id: int, now: datetime | None = None) -> SentMessage | Task | None:
    """Run one enrollment's current step if it is due (see steps_run)."""
    return steps_run(enrollment_ids=[enrollment_id], now=now)[0]


@transaction.atomic
def _step_run(enrollment: Enrollment, now: datetime, budget: InboxBudget,
              renders: dict[int, RenderedEmail] | None) -> SentMessage | Task | None:
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
    if (free_at := budget.next_free_slot(enrollment.inbox)) is not None:
        _postpone(enrollment, free_at)
        return None
    try:
        rendered = render_email(subject=step.template.subject, body=step.template.body, values=_values(enrollment))
    except RenderError as error:
        services.enrollment_end(enrollment=enrollment, status=EnrollmentStatus.ERROR, at=now,
                                detail=f"not sent: {error}", step=step)
        return None
    if not _take(enrollment):
        return None
    try:
        with transaction.atomic():
            message = SentMessage.objects.create(
                account_id=enrollment.account_id, enrollment=enrollment, step=step, template=step.template,
                inbox=enrollment.inbox, message_id=message_id_for(enrollment.inbox.from_email),
                in_reply_to=enrollment.thread_message_id if sequence.thread_follow_ups else "",
                to_email=enrollment.contact.email, subject=rendered.subject, claimed_at=now)
    except IntegrityError:  # this step's email already exists: never a second one
        return None
    budget.take(enrollment.inbox)
    if renders is not None:
        renders[message.pk] = rendered
    return message


def _task_create(enrollment: Enrollment, step: Step, now: datetime) -> Task | None:
    if not _take(enrollment):
        return None
    title = step.task_title or f"{step.get_step_type_display()}: {enrollment.contact}"
    task, _ = Task.objects.get_or_create(
        enrollment=enrollment, step=step,
        defaults={"account_id": enrollment.account_id, "assignee": enrollment.enrolled_by,
                  "step_type": step.step_type, "title": title, "notes": step.task_notes, "due_at": now})
    return task


ADVANCED_FIELDS = ("thread_message_id", "last_step_completed_at", "current_step", "next_due_at", "remaining_delay")


def _advance_many(ran: list[tuple[int, datetime, str]]) -> None:
    """Move each enrollment (id, when its step ran, the Message-ID it sent or "") to its next step, due per
    the timing rules, or finish it. A handful of queries for the lot, however many finish."""
    enrollments = Enrollment.objects.select_related("current_step", "inbox", "sequence").in_bulk(
        [pk for pk, _, _ in ran])
    steps: dict[int, list[Step]] = {}
    for step in Step.objects.filter(sequence_id__in={e.sequence_id for e in enrollments.values()}).order_by(
            "position"):
        steps.setdefault(step.sequence_id, []).append(step)
    changed, finished = [], []
    for pk, ran_at, message_id in ran:
        enrollment = enrollments[pk]
        if message_id and not enrollment.thread_message_id:
            enrollment.thread_message_id = message_id
        following = next((s for s in steps[enrollment.sequence_id] if s.position > enrollment.current_step.position),
                         None)
        if enrollment.status in (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED):
            enrollment.last_step_completed_at = ran_at
            if following is None:
                finished.append((enrollment, ran_at))
            else:
                due = step_due_at(previous_run_at=ran_at, delay_days=following.delay_days,
                                  enrolled_at=enrollment.enrolled_at, time_zone=enrollment.inbox.time_zone,
                                  business_days_only=enrollment.sequence.business_days_only, now=ran_at)
                enrollment.current_step = following
                if enrollment.status == EnrollmentStatus.PAUSED:
                    enrollment.remaining_delay = due - ran_at  # resumes with this delay left
                else:
                    enrollment.next_due_at = due
        # else: ended meanwhile (a reply arrived during the send); only the thread id is kept
        changed.append(enrollment)
    rows_update(Enrollment, ADVANCED_FIELDS, [(e.thread_message_id, e.last_step_completed_at, e.current_step_id,
                                               e.next_due_at, e.remaining_delay, e.pk) for e in changed])
    finished_at: dict[datetime, list[Enrollment]] = defaultdict(list)
    for enrollment, ran_at in finished:
        finished_at[ran_at].append(enrollment)
    for ran_at, enrollments in finished_at.items():  # one instant for a batch of sends
        services.enrollments_end(enrollments=enrollments, status=EnrollmentStatus.FINISHED, at=ran_at,
                                 detail="all steps done")


def _advance(enrollment: Enrollment, ran_at: datetime) -> None:
    _advance_many([(enrollment.pk, ran_at, "")])


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

SENT_BATCH = 50  # emails whose bookkeeping is written together; an interrupted batch is at most this many


def messages_send(*, message_ids: list[int], connections: SmtpConnections, now: datetime | None = None,
                  renders: dict[int, RenderedEmail] | None = None) -> list[str]:
    """Hand claimed messages to their SMTP servers, one by one (each moved to `sending` first); the sent ones
    are marked, logged and their enrollments advanced in batches. Returns each message's new status ("" when
    another worker had it or it was not due). A message found in `renders` (steps_run of this tick) is sent as
    rendered there; any other (a retry, one a dead worker claimed) is rendered now."""
    renders = renders if renders is not None else {}
    now = now or timezone.now()
    loaded = SentMessage.objects.select_related(
        "enrollment__contact__company", "enrollment__inbox__user", "enrollment__sequence", "template",
        "inbox").in_bulk(message_ids)
    threads = dict(SentMessage.objects.filter(
        message_id__in={m.in_reply_to for m in loaded.values() if m.in_reply_to}).values_list("message_id",
                                                                                                "subject"))
    # The account's ESP webhooks decide which provider headers the emails carry (rendering.build_mime).
    esp_providers: dict[int, set[str]] = defaultdict(set)
    for account_id, provider in EspWebhook.objects.filter(
            account_id__in={m.account_id for m in loaded.values()}).values_list("account_id", "provider"):
        esp_providers[account_id].add(provider)
    statuses, sent = [], []
    for pk in message_ids:
        status = _send_one(loaded[pk], connections, now, threads, frozenset(esp_providers[loaded[pk].account_id]),
                           renders.pop(pk, None)) if pk in loaded else ""
        statuses.append(status)
        if status == MessageStatus.SENT:
            sent.append(loaded[pk])
            if len(sent) == SENT_BATCH:
                _sent_record(sent, now)
                sent = []
    if sent:
        _sent_record(sent, now)
    return statuses


def message_send(*, message_id: int, connections: SmtpConnections, now: datetime | None = None) -> str:
    return messages_send(message_ids=[message_id], connections=connections, now=now)[0]


def _send_one(message: SentMessage, connections: SmtpConnections, now: datetime, threads: dict[str, str],
              esp_providers: frozenset[str], rendered: RenderedEmail | None) -> str:
    if _HAND_OVER.run(MessageStatus.SENDING, now, message.pk, MessageStatus.CLAIMED, now) != 1:
        return ""  # another worker has it, or it is not due (claimed → sending, committed before SMTP)
    enrollment = message.enrollment
    if not enrollment.is_running:
        SentMessage.objects.filter(pk=message.pk).update(status=MessageStatus.FAILED,
                                                         error=f"not sent: enrollment {enrollment.status}")
        return MessageStatus.FAILED
    try:
        if rendered is None:
            rendered = render_email(subject=message.template.subject, body=message.template.body,
                                    values=_values(enrollment))
    except RenderError as error:
        return _give_up(message, f"not sent: {error}", now)
    from_email = message.inbox.from_email
    # Addresses beyond ASCII need the server's SMTPUTF8 (smtplib refuses the MAIL command without it, as
    # send_message did); the headers then carry UTF-8 as it is.
    international = not (from_email + message.to_email).isascii()
    raw = build_mime(message_pk=message.pk, message_id=message.message_id, rendered=rendered,
                     from_name=message.inbox.from_name, from_email=from_email, to_email=message.to_email,
                     reply_to=message.inbox.reply_to, in_reply_to=message.in_reply_to,
                     thread_subject=threads.get(message.in_reply_to, ""), esp_providers=esp_providers,
                     utf8=international)
    server = smtp_server_of(message.inbox)
    try:
        connections.get(server).sendmail(from_email, [message.to_email], raw,
                                         mail_options=("SMTPUTF8", "BODY=8BITMIME") if international else ())
    except smtplib.SMTPRecipientsRefused as refused:
        code, reason = next(iter(refused.recipients.values()))
        answer = f"{code} {reason.decode(errors='replace')}"
        if 500 <= code < 600:
            SentMessage.objects.filter(pk=message.pk).update(status=MessageStatus.FAILED, error=answer)
            services.contact_bounced(contact=enrollment.contact, bounce_type=BounceType.HARD, at=now,
                                     message=message, detail=f"refused at send: {answer}")
            return MessageStatus.FAILED
        return _retry(message, answer, now)
    except OSError as error:  # every SMTPException, refused connections and timeouts
        connections.drop(server)
        permanent = isinstance(error, smtplib.SMTPResponseException) and 500 <= error.smtp_code < 600
        reason = _smtp_reason(error)
        return _give_up(message, reason, now) if permanent else _retry(message, reason, now)
    return MessageStatus.SENT


@transaction.atomic
def _sent_record(messages: list[SentMessage], now: datetime) -> None:
    """Mark handed-over messages sent, log a `sent` event each, and move their enrollments on."""
    SentMessage.objects.filter(pk__in=[m.pk for m in messages]).update(status=MessageStatus.SENT, sent_at=now,
                                                                       error="")
    events = []
    for message in messages:
        message.status, message.sent_at = MessageStatus.SENT, now
        enrollment = message.enrollment
        events.append(EngagementEvent(account_id=message.account_id, kind=EventKind.SENT, occurred_at=now,
                                      contact_id=enrollment.contact_id, enrollment=enrollment,
                                      sequence_id=enrollment.sequence_id, step_id=message.step_id, message=message))
    EngagementEvent.objects.bulk_create(events)
    engagement_rollup_add(events)  # one UPDATE for the batch: the enrollments' latest event is now
    _advance_many([(m.enrollment_id, now, m.message_id) for m in messages])


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


def _by_account(rows: list[tuple[int, int]]) -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = {}
    for pk, account_id in rows:
        grouped.setdefault(account_id, []).append(pk)
    return grouped


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
    budget = InboxBudget(now)
    renders: dict[int, RenderedEmail] = {}  # what this tick's claims rendered, sent without rendering again
    for account_id, enrollment_ids in _by_account(due).items():
        with scope(account=accounts[account_id]):
            for outcome in steps_run(enrollment_ids=enrollment_ids, now=now, budget=budget, renders=renders):
                result.steps_run += outcome is not None
                result.tasks += isinstance(outcome, Task)
    with scopes_disabled():
        pending = list(SentMessage.all_accounts.filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now),
                                                       status=MessageStatus.CLAIMED)
                       .order_by("claimed_at").values_list("pk", "account_id")[:limit])
        accounts |= {a.pk: a for a in _accounts({a for _, a in pending} - accounts.keys())}
    connections = SmtpConnections()
    try:
        for account_id, message_ids in _by_account(pending).items():
            with scope(account=accounts[account_id]):
                for status in messages_send(message_ids=message_ids, connections=connections, now=now,
                                            renders=renders):
                    result.sent += status == MessageStatus.SENT
                    result.retrying += status == MessageStatus.CLAIMED
                    result.failed += status == MessageStatus.FAILED
    finally:
        connections.close()
    return result


def _accounts(ids: set[int]):
    from touchline.core.models import Account

    return Account.objects.filter(pk__in=ids) if ids else []
