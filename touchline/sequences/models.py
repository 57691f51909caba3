"""Sequences: cadences of steps a rep enrolls contacts in, the emails and tasks they produce, and the one
append-only log of everything that happens to an enrollment (SPEC §1 "Mechanics").

Every report of the sequence analytics is defined over `EngagementEvent` and the enrollment rows, and read from
the engagement rollup those define: per enrollment and per sent message, how many opens (human, and all), clicks,
replies and meetings its events hold (kept in the same transaction as each event, `engagement.py`). Nothing
here is ever deleted by normal use: a deleted sequence is archived, an unenrolled contact keeps its history.
Identifiers of statuses, step types and event kinds are the stable ones of SPEC §3.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from touchline.core.models import Account, AccountOwned
from touchline.crm.models import Company, Contact


class SmtpSecurity(models.TextChoices):
    NONE = "none", "None (local relay)"
    STARTTLS = "starttls", "STARTTLS"
    TLS = "tls", "TLS (SMTPS)"


class Inbox(AccountOwned):
    """A sending identity: the From address and how to reach its SMTP server. With `use_default_smtp`, the
    server comes from the SMTP_URL setting (the account-wide default)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inboxes")
    from_name = models.CharField(max_length=200)
    from_email = models.EmailField()
    reply_to = models.EmailField(blank=True)
    use_default_smtp = models.BooleanField(default=True)
    smtp_host = models.CharField(max_length=255, blank=True)
    smtp_port = models.PositiveIntegerField(null=True, blank=True)
    smtp_username = models.CharField(max_length=255, blank=True)
    smtp_password = models.CharField(max_length=255, blank=True)
    smtp_security = models.CharField(max_length=10, choices=SmtpSecurity.choices, default=SmtpSecurity.STARTTLS)
    daily_limit = models.PositiveIntegerField(default=1000, help_text="Emails per rolling 24 hours")
    per_minute_limit = models.PositiveIntegerField(default=10, help_text="Emails per minute")
    time_zone = models.CharField(max_length=64, default="UTC", help_text="Sender's time zone (send window)")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "from_email"], name="inbox_unique_email")]

    def __str__(self) -> str:
        return f"{self.from_name} <{self.from_email}>"


class EmailTemplate(AccountOwned):
    """Subject and body with personalisation tokens, e.g. `{{ contact.first_name | there }}` (text after `|`
    is the fallback; a token without one blocks the send when the value is missing)."""

    name = models.CharField(max_length=200)
    subject = models.CharField(max_length=300)
    body = models.TextField(help_text="Plain text with tokens; blank lines separate paragraphs; URLs become links")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class Sequence(AccountOwned):
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="sequences")
    send_window_start = models.TimeField(default=time(8, 0))
    send_window_end = models.TimeField(default=time(18, 0))
    business_days_only = models.BooleanField(default=True, help_text="Steps falling on a weekend run on Monday")
    thread_follow_ups = models.BooleanField(default=True, help_text="Follow-up emails reply in the first thread")
    unenroll_same_company = models.BooleanField(
        default=False, help_text="A reply or meeting from a colleague at the same company ends the enrollment")
    created_at = models.DateTimeField(default=timezone.now)
    archived_at = models.DateTimeField(null=True, blank=True, help_text="Deleted sequences are archived")
    external_id = models.CharField(max_length=100, blank=True, help_text="Key of an imported sequence")

    class Meta:
        indexes = [models.Index(fields=["account", "archived_at", "name"])]
        constraints = [models.UniqueConstraint(fields=["account", "external_id"], condition=~Q(external_id=""),
                                               name="sequence_unique_external_id")]

    def __str__(self) -> str:
        return self.name


class StepType(models.TextChoices):
    AUTOMATED_EMAIL = "automated_email", "Automated email"
    MANUAL_EMAIL = "manual_email", "Manual email task"
    CALL = "call", "Call task"
    TASK = "task", "General task"
    LINKEDIN = "linkedin", "LinkedIn task"


class Step(AccountOwned):
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(help_text="1 for the first step")
    step_type = models.CharField(max_length=20, choices=StepType.choices)
    delay_days = models.PositiveSmallIntegerField(default=0, help_text="Days after the previous step")
    template = models.ForeignKey(EmailTemplate, null=True, blank=True, on_delete=models.RESTRICT, related_name="steps")
    task_title = models.CharField(max_length=200, blank=True)
    task_notes = models.TextField(blank=True)

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [models.UniqueConstraint(fields=["sequence", "position"], name="step_unique_position")]

    def __str__(self) -> str:
        return f"{self.sequence} · step {self.position} ({self.get_step_type_display()})"

    @property
    def is_email(self) -> bool:
        return self.step_type in {StepType.AUTOMATED_EMAIL, StepType.MANUAL_EMAIL}


class EnrollmentStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    FINISHED = "finished", "Finished"
    REPLIED = "replied", "Replied"
    MEETING_BOOKED = "meeting_booked", "Booked a meeting"
    BOUNCED = "bounced", "Bounced"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    UNENROLLED = "unenrolled", "Unenrolled manually"
    ERROR = "error", "Error"


RUNNING_STATUSES = (EnrollmentStatus.SCHEDULED, EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED)
ROLLUP_COLUMNS = ("human_opens", "all_opens", "human_clicks", "all_clicks", "replies_received", "meetings_booked")
# What a sequence report reads of an enrollment besides account and contact: the filters, the status and the
# rollup. Both report indexes carry all of them, so SQLite and PostgreSQL answer from the index alone.
REPORT_COLUMNS = ("sequence", "status", "enrolled_at", "enrolled_by", "company_at_enrollment", *ROLLUP_COLUMNS,
                  "last_event_at")


class EngagementCounts(models.Model):
    """The engagement rollup of a row (an enrollment or a sent message): how many events of each counted kind
    the append-only log holds for it — opens and clicks human-only and machine-inclusive, replies, meetings.
    A report's "opened" is `human_opens > 0` (or `all_opens > 0` with machine events). Written only by
    `touchline.sequences.engagement` in the transaction that records the events, and rebuilt from the log by
    `enrollment_engagement_rebuild`; tests prove it equals a count over the log (docs/sequences.md)."""

    human_opens = models.PositiveIntegerField(default=0)
    all_opens = models.PositiveIntegerField(default=0, help_text="Opens, machine ones included")
    human_clicks = models.PositiveIntegerField(default=0)
    all_clicks = models.PositiveIntegerField(default=0, help_text="Clicks, machine ones included")
    replies_received = models.PositiveIntegerField(default=0)
    meetings_booked = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class Enrollment(AccountOwned, EngagementCounts):
    """One contact going through one sequence. `next_due_at` is when the current step runs (None while a
    task holds the sequence, or when ended); `remaining_delay` keeps the rest of a delay across a pause."""

    sequence = models.ForeignKey(Sequence, on_delete=models.RESTRICT, related_name="enrollments")
    # Deleting a contact erases their sequence history with them (a data-protection request); sequences,
    # steps and inboxes with history are archived, never deleted (RESTRICT; an account deletion cascades).
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="enrollments")
    enrolled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                    related_name="enrollments")
    inbox = models.ForeignKey(Inbox, on_delete=models.RESTRICT, related_name="enrollments")
    company_at_enrollment = models.ForeignKey(Company, null=True, blank=True, on_delete=models.SET_NULL,
                                              related_name="+")
    current_step = models.ForeignKey(Step, null=True, on_delete=models.RESTRICT, related_name="+")
    status = models.CharField(max_length=20, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE)
    status_detail = models.CharField(max_length=500, blank=True)
    enrolled_at = models.DateTimeField(default=timezone.now)
    last_step_completed_at = models.DateTimeField(null=True, blank=True)
    next_due_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    remaining_delay = models.DurationField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    thread_message_id = models.CharField(max_length=255, blank=True, help_text="Message-ID follow-ups reply to")
    external_id = models.CharField(max_length=100, blank=True, help_text="Key of an imported enrollment")
    last_event_at = models.DateTimeField(null=True, blank=True, help_text="When its latest event (any kind) occurred")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "external_id"], condition=~Q(external_id=""),
                                    name="enrollment_unique_external_id"),
            # In one sequence only once at a time (SPEC §1); past enrollments of the contact stay.
            models.UniqueConstraint(fields=["sequence", "contact"], condition=Q(status__in=RUNNING_STATUSES),
                                    name="enrollment_one_running_per_contact"),
        ]
        indexes = [
            models.Index(fields=["status", "next_due_at"]),
            models.Index(fields=["account", "sequence", "status"]),
            models.Index(fields=["account", "contact", "status"]),
            # The sequence reports read only these three indexes (never the table): every filter column and the
            # rollup, in the order a report groups by — per contact across sequences, per sequence — or ranges
            # over: an enrollment-date filter reads its days' entries alone (2-3x faster than by table lookups).
            models.Index(fields=["account", "enrolled_at", "contact", *REPORT_COLUMNS[:2], *REPORT_COLUMNS[3:]],
                         name="enrollment_report_by_date"),
            models.Index(fields=["account", "contact", *REPORT_COLUMNS], name="enrollment_report_by_contact"),
            models.Index(fields=["account", "sequence", "contact", *REPORT_COLUMNS[1:]],
                         name="enrollment_report_by_sequence"),
        ]

    def __str__(self) -> str:
        return f"{self.contact} in {self.sequence} ({self.status})"

    @property
    def is_running(self) -> bool:
        return self.status in RUNNING_STATUSES


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETED = "completed", "Completed"
    SKIPPED = "skipped", "Skipped"


class Task(AccountOwned):
    """A manual step in the enrolling user's queue; the enrollment waits until it is completed or skipped."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="tasks")
    step = models.ForeignKey(Step, on_delete=models.RESTRICT, related_name="tasks")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="tasks")
    step_type = models.CharField(max_length=20, choices=StepType.choices)
    title = models.CharField(max_length=300)
    notes = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    due_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enrollment", "step"], name="task_once_per_step")]
        indexes = [models.Index(fields=["account", "assignee", "status", "due_at"])]


class MessageStatus(models.TextChoices):
    CLAIMED = "claimed", "Claimed (not yet handed to SMTP)"
    SENDING = "sending", "Handing to SMTP"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class SentMessage(AccountOwned, EngagementCounts):
    """One email of one step of one enrollment. The row is the claim that makes sending at-most-once: it is
    unique per (enrollment, step) and written before the SMTP conversation starts (see services docstring)."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="messages")
    step = models.ForeignKey(Step, on_delete=models.RESTRICT, related_name="messages")
    template = models.ForeignKey(EmailTemplate, null=True, on_delete=models.SET_NULL, related_name="messages")
    inbox = models.ForeignKey(Inbox, on_delete=models.RESTRICT, related_name="messages")
    message_id = models.CharField(max_length=255, unique=True)
    in_reply_to = models.CharField(max_length=255, blank=True)
    to_email = models.CharField(max_length=254)
    subject = models.CharField(max_length=300)
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=MessageStatus.CLAIMED)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(default=timezone.now)
    retry_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enrollment", "step"], name="message_once_per_step")]
        indexes = [models.Index(fields=["inbox", "status", "sent_at"]),
                   # Email performance reads the sent messages of the selected enrollments from this, without
                   # the table: all of it across sequences, one range per step for chosen sequences.
                   models.Index(fields=["step", "status", "template", "enrollment", *ROLLUP_COLUMNS, "account"],
                                name="message_report_by_step")]

    def __str__(self) -> str:
        return f"{self.subject} to {self.to_email} ({self.status})"


class EventKind(models.TextChoices):
    ENROLLED = "enrolled", "Enrolled"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    OPEN = "open", "Opened"
    CLICK = "click", "Clicked"
    REPLY = "reply", "Replied"
    AUTO_REPLY = "auto_reply", "Auto-reply"
    BOUNCE = "bounce", "Bounced"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribed"
    MEETING_BOOKED = "meeting_booked", "Booked a meeting"
    TASK_COMPLETED = "task_completed", "Task completed"
    TASK_SKIPPED = "task_skipped", "Task skipped"
    PAUSED = "paused", "Paused"
    RESUMED = "resumed", "Resumed"
    UNENROLLED = "unenrolled", "Unenrolled"
    FINISHED = "finished", "Finished"
    ERROR = "error", "Error"


class BounceType(models.TextChoices):
    HARD = "hard", "Hard (permanent)"
    SOFT = "soft", "Soft (temporary)"
    COMPLAINT = "complaint", "Complaint"


class EngagementEvent(AccountOwned):
    """The append-only log. Opens and clicks from privacy proxies, link scanners and bots are recorded with
    `is_machine` and the reason; reports count human events unless asked for raw numbers."""

    kind = models.CharField(max_length=20, choices=EventKind.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="engagement_events")
    enrollment = models.ForeignKey(Enrollment, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    sequence = models.ForeignKey(Sequence, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    step = models.ForeignKey(Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    message = models.ForeignKey(SentMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    is_machine = models.BooleanField(default=False)
    machine_reason = models.CharField(max_length=100, blank=True)
    bounce_type = models.CharField(max_length=10, choices=BounceType.choices, blank=True)
    url = models.TextField(blank=True)
    user_agent = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.TextField(blank=True)
    external_id = models.CharField(max_length=100, blank=True, help_text="Key of an imported event")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "external_id"], condition=~Q(external_id=""),
                                               name="event_unique_external_id")]
        indexes = [
            models.Index(fields=["account", "sequence", "kind", "contact"]),
            models.Index(fields=["enrollment", "kind"]),
            models.Index(fields=["message", "kind"]),
        ]


class SuppressionReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    BOUNCED = "bounced", "Hard bounce"
    COMPLAINT = "complaint", "Complaint"


class EmailSuppression(AccountOwned):
    """Addresses never emailed again by sequences: unsubscribed, hard-bounced or complained."""

    email = models.CharField(max_length=254)
    reason = models.CharField(max_length=20, choices=SuppressionReason.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "email"], name="suppression_unique_email")]


class MeetingSource(models.TextChoices):
    BOOKING_PAGE = "booking_page", "Booking page"
    WEBHOOK = "webhook", "External scheduler"
    LOGGED = "logged", "Logged by a user"


class Meeting(AccountOwned):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="meetings")
    host = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="meetings")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    title = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=20, choices=MeetingSource.choices)
    external_id = models.CharField(max_length=200, blank=True)
    enrollment = models.ForeignKey(Enrollment, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="meetings", help_text="The enrollment it ended, if any")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "external_id"], condition=~Q(external_id=""),
                                               name="meeting_unique_external_id")]
        indexes = [models.Index(fields=["account", "host", "starts_at"])]


class BookingPage(AccountOwned):
    """A user's public booking page: free slots of `duration_minutes` in working hours, minus meetings."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="booking_pages")
    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200, default="Book a meeting")
    duration_minutes = models.PositiveSmallIntegerField(default=30)
    day_start = models.TimeField(default=time(9, 0))
    day_end = models.TimeField(default=time(17, 0))
    weekdays = models.CharField(max_length=7, default="12345", help_text="ISO weekdays offered, 1 = Monday")
    time_zone = models.CharField(max_length=64, default="UTC")
    days_ahead = models.PositiveSmallIntegerField(default=14)


class InboundMessage(AccountOwned):
    """Every raw inbound email kept with what it was classified as, so a misclassification can be audited."""

    received_at = models.DateTimeField(default=timezone.now)
    message_id = models.CharField(max_length=255, blank=True)
    from_email = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=500, blank=True)
    classification = models.CharField(max_length=20, blank=True)  # reply, auto_reply, bounce, unmatched
    enrollment = models.ForeignKey(Enrollment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    raw = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "message_id"], condition=~Q(message_id=""),
                                               name="inbound_unique_message_id")]


class EspProvider(models.TextChoices):
    SENDGRID = "sendgrid", "SendGrid"
    MAILGUN = "mailgun", "Mailgun"
    POSTMARK = "postmark", "Postmark"
    AMAZON_SES = "amazon_ses", "Amazon SES (via SNS)"


def _esp_webhook_key() -> str:
    import secrets

    return secrets.token_urlsafe(24)


class EspWebhook(AccountOwned):
    """Where an account's own email provider (ESP) posts its event notifications: `/webhooks/esp/<provider>/<key>`
    (docs/esp-webhooks.md). What proves a request is the provider's differs per provider:

    - SendGrid: `secret` is the signed event webhook's verification key (ECDSA P-256 public key, base64 or PEM);
    - Mailgun: `secret` is the HTTP webhook signing key (HMAC-SHA256);
    - Postmark: no signature: `username`/`secret` are the HTTP basic auth credentials put in the webhook URL;
    - Amazon SES: SNS signs every message with Amazon's certificate; `topic_arn` names the only topic accepted, and
      a topic's subscription confirmation leaves its `subscribe_url` here for an administrator to open.

    `allowed_ips` optionally limits any provider to the listed addresses or networks (one a line or comma)."""

    provider = models.CharField(max_length=20, choices=EspProvider.choices)
    key = models.CharField(max_length=64, unique=True, default=_esp_webhook_key,
                           help_text="The unguessable last part of the webhook URL")
    secret = models.TextField(blank=True, help_text="SendGrid verification key, Mailgun signing key or Postmark "
                                                    "basic auth password")
    username = models.CharField(max_length=200, blank=True, help_text="Postmark basic auth user name")
    topic_arn = models.CharField(max_length=300, blank=True, help_text="Amazon SNS topic ARN (Amazon SES only)")
    allowed_ips = models.TextField(blank=True, help_text="Optional: accept requests only from these addresses "
                                                         "or networks (one a line)")
    subscribe_url = models.TextField(blank=True, help_text="SNS subscription waiting for confirmation: open this "
                                                           "URL to confirm it")
    subscribe_url_received_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.get_provider_display()} webhook of {self.account_id}"


class PendingEmailHit(models.Model):
    """An open-pixel or click request whose signed token verified, waiting for the worker to classify and record
    it (tracking.pending_email_hits_process). The public endpoints answer after this one insert, so a burst of
    pixel loads costs the database one row each; classification reads the message and its earlier events, which
    the worker does in order of arrival. Not account-owned: the token names only the message; the worker records
    the event in the message's account."""

    kind = models.CharField(max_length=10, choices=[("open", "Open"), ("click", "Click")])
    message_id = models.BigIntegerField()
    user_agent = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    url = models.TextField(blank=True)
    received_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["received_at", "id"])]

    def __str__(self) -> str:
        return f"{self.kind} of message {self.message_id} at {self.received_at:%Y-%m-%d %H:%M:%S}"


# The account-wide totals of the sequence reports (touchline/sequences/report_totals.py): what the reports read
# when nothing but a sequence is filtered, instead of scanning every enrollment of the account.
class TotalsGrain(models.IntegerChoices):
    ACCOUNT = 0, "All sequences"  # key 0
    SEQUENCE = 1, "Sequence"  # key: the sequence id
    MONTH = 2, "Enrollment month"  # key: year * 100 + month, in the account's time zone
    USER = 3, "Enrolling user"  # key: the user id, 0 for none
    TEMPLATE = 4, "Email template"  # key: the template id, 0 for none (deleted); measures messages_* only


class MessageCounts(models.Model):
    """Email performance's counts of sent messages (SPEC §1): sent, and of those opened (human, all), clicked
    (human, all), replied to, and that led to a meeting — each once or more."""

    messages_sent = models.PositiveIntegerField(default=0)
    messages_opened_human = models.PositiveIntegerField(default=0)
    messages_opened_all = models.PositiveIntegerField(default=0)
    messages_clicked_human = models.PositiveIntegerField(default=0)
    messages_clicked_all = models.PositiveIntegerField(default=0)
    messages_replied = models.PositiveIntegerField(default=0)
    messages_met = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class TotalsMeasures(MessageCounts):
    """What one contact adds to a grain (a part), and what all contacts add up to (a total). Contact flags (0/1
    per part) count contacts; the `enrollments_*` and `ended*` columns count enrollments; the `messages_*`
    columns (TEMPLATE grain only, from `MessageCounts`) count sent messages."""

    contacts = models.PositiveIntegerField(default=0)
    enrollments = models.PositiveIntegerField(default=0)
    contacts_opened_human = models.PositiveIntegerField(default=0)
    contacts_opened_all = models.PositiveIntegerField(default=0)
    contacts_clicked_human = models.PositiveIntegerField(default=0)
    contacts_clicked_all = models.PositiveIntegerField(default=0)
    contacts_replied = models.PositiveIntegerField(default=0)
    contacts_met = models.PositiveIntegerField(default=0)
    contacts_no_response = models.PositiveIntegerField(default=0)
    enrollments_opened_human = models.PositiveIntegerField(default=0)
    enrollments_opened_all = models.PositiveIntegerField(default=0)
    enrollments_clicked_human = models.PositiveIntegerField(default=0)
    enrollments_clicked_all = models.PositiveIntegerField(default=0)
    enrollments_replied = models.PositiveIntegerField(default=0)
    enrollments_met = models.PositiveIntegerField(default=0)
    enrollments_unenrolled = models.PositiveIntegerField(default=0)
    ended = models.PositiveIntegerField(default=0)
    ended_replied = models.PositiveIntegerField(default=0)
    ended_bounced = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class ContactTotalsPart(AccountOwned, TotalsMeasures):
    """One contact's share of one grain's totals, computed from its (not scheduled) enrollments in that grain.
    `contact_id` is a plain integer, not a foreign key: when a contact is deleted its part must outlive it until
    the refresh has taken it off the totals. The event counts and scores feed "Highly engaged contacts"."""

    # The unique key starts with the account: an index on the account alone would only cost every write.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    contact_id = models.BigIntegerField()
    grain = models.PositiveSmallIntegerField(choices=TotalsGrain.choices)
    grain_key = models.BigIntegerField()
    opens_human = models.PositiveIntegerField(default=0)
    opens_all = models.PositiveIntegerField(default=0)
    clicks_human = models.PositiveIntegerField(default=0)
    clicks_all = models.PositiveIntegerField(default=0)
    replies = models.PositiveIntegerField(default=0)
    meetings = models.PositiveIntegerField(default=0)
    score_human = models.PositiveIntegerField(default=0)
    score_all = models.PositiveIntegerField(default=0)
    last_event_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "contact_id", "grain", "grain_key"],
                                               name="totals_part_once")]
        indexes = [
            # Highly engaged contacts across all sequences, or of one enrolling user: the top of the ranking,
            # read in index order. Partial, one grain each: only the all-sequences and the user parts are ranked,
            # and SQLite uses a partial index only when the query names its condition (`grain = 3` does not
            # imply `grain IN (0, 3)` to it).
            *(models.Index(fields=["account", "grain_key", f"-score_{kind}", "-last_event_at", "contact_id"],
                           condition=Q(grain=grain), name=f"totals_part_rank_{name}_{kind}")
              for grain, name in ((TotalsGrain.ACCOUNT, "account"), (TotalsGrain.USER, "user"))
              for kind in ("human", "all")),
        ]

    def __str__(self) -> str:
        return f"contact {self.contact_id} in {self.get_grain_display()} {self.grain_key}"


# The contact flags of the date-filtered reports, each counted once per contact: enrolled,
# opened and clicked (human, all), replied, met, and live — an enrollment still running or replied to or met; a
# contact with no live enrollment in the range is a "no response" contact.
DAY_FLAGS = ("enrolled", "opened_human", "opened_all", "clicked_human", "clicked_all", "replied", "met", "live")
DAY_PRIORS = tuple(f"{flag}_prior" for flag in DAY_FLAGS)
DAY_NEVER = 2**31 - 1  # a "prior" of a row without the flag: it never counts for it
DAY_NONE = -(2**31)  # a "prior" of a row with the flag and no earlier one: it counts in any range
# The latest event of a contact without any event time, in the ranking of highly engaged contacts: it ranks after
# every contact with one among equal scores, on both databases (where NULL would sort differently).
NO_EVENT = datetime(1970, 1, 1, tzinfo=UTC)


class DayPriors(models.Model):
    """Per contact flag, the day of a previous day part with the flag (see `ContactDayPart`)."""

    enrolled_prior = models.IntegerField()
    opened_human_prior = models.IntegerField()
    opened_all_prior = models.IntegerField()
    clicked_human_prior = models.IntegerField()
    clicked_all_prior = models.IntegerField()
    replied_prior = models.IntegerField()
    met_prior = models.IntegerField()
    live_prior = models.IntegerField()

    class Meta:
        abstract = True


class ContactDayPart(AccountOwned, DayPriors):
    """One contact's not-scheduled enrollments in one sequence on one local day (the account's zone), kept by the
    totals' refresh for reports filtered by enrollment date (report_totals.py: "Date ranges"). Each contact has two
    sets of rows: one over all its enrollments (`user_key` 0), and one per enrolling user over that user's
    enrollments (`user_key` the user's id), which answer a date range or a per-sequence table of one user. Every
    "earlier", "last" and "from this day on" below is within the row's set.

    For each flag, `<flag>_prior` is the day of the contact's latest earlier row with that flag across sequences
    (rows in (day, sequence) order), DAY_NONE if none, DAY_NEVER if this row lacks the flag;
    `<flag>_prior_in_sequence` is the same within the sequence. A contact then counts once in a range of days
    [a, b]: at its first row in the range with the flag, the only one whose prior is before a — so a report sums
    `prior < a` over the rows in the range, with no grouping by contact.

    `<flag>_last` marks the contact's last row with the flag (across sequences; `_last_in_sequence` within it).
    Summed per day into `SequenceDayTotal`, they let a long range be counted from the rows after it instead of
    the rows in it (`analytics.day_counts_sql`).

    `score_<kind>_from` and `last_event_from` are the contact's engagement score and latest event over its rows on
    or after this row's day (all sequences): at a contact's first row in a range, a bound of its rank in the
    range, which "Highly engaged contacts" walks in index order (`analytics.top_contacts_in_range`). The bound is
    the rank itself when the contact has no row after the range: `contact_last_day` is its latest row's day.
    When the contact's next day with a row (`next_day`) is after the range, this day is its only one in the
    range, and `score_<kind>_day` and `last_event_day` (over its rows on this day) are its rank there."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)  # as parts
    contact_id = models.BigIntegerField()
    user_key = models.BigIntegerField()  # the enrolling user's id, 0 for the rows over every enrollment
    sequence_id = models.BigIntegerField()
    day = models.IntegerField()  # days since 1970-01-01, in the account's time zone
    enrolled_prior_in_sequence = models.IntegerField()
    opened_human_prior_in_sequence = models.IntegerField()
    opened_all_prior_in_sequence = models.IntegerField()
    clicked_human_prior_in_sequence = models.IntegerField()
    clicked_all_prior_in_sequence = models.IntegerField()
    replied_prior_in_sequence = models.IntegerField()
    met_prior_in_sequence = models.IntegerField()
    live_prior_in_sequence = models.IntegerField()
    enrolled_last = models.BooleanField(default=False)
    opened_human_last = models.BooleanField(default=False)
    opened_all_last = models.BooleanField(default=False)
    clicked_human_last = models.BooleanField(default=False)
    clicked_all_last = models.BooleanField(default=False)
    replied_last = models.BooleanField(default=False)
    met_last = models.BooleanField(default=False)
    live_last = models.BooleanField(default=False)
    enrolled_last_in_sequence = models.BooleanField(default=False)
    opened_human_last_in_sequence = models.BooleanField(default=False)
    opened_all_last_in_sequence = models.BooleanField(default=False)
    clicked_human_last_in_sequence = models.BooleanField(default=False)
    clicked_all_last_in_sequence = models.BooleanField(default=False)
    replied_last_in_sequence = models.BooleanField(default=False)
    met_last_in_sequence = models.BooleanField(default=False)
    live_last_in_sequence = models.BooleanField(default=False)
    score_human_from = models.PositiveIntegerField(default=0)
    score_all_from = models.PositiveIntegerField(default=0)
    last_event_from = models.DateTimeField(default=NO_EVENT)
    contact_last_day = models.IntegerField(default=0)
    next_day = models.IntegerField(default=DAY_NEVER)
    score_human_day = models.PositiveIntegerField(default=0)
    score_all_day = models.PositiveIntegerField(default=0)
    last_event_day = models.DateTimeField(default=NO_EVENT)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "contact_id", "user_key", "sequence_id", "day"],
                                               name="day_part_once")]
        # Ranges are counted from the `DayPriorTotal`s; the parts are read in the order of the ranking over a
        # range's first rows, whose day and prior pick those rows.
        indexes = [*(models.Index(fields=["account", "user_key", f"-score_{kind}_from", "-last_event_from",
                                          "contact_id", "day", "enrolled_prior", "contact_last_day", "next_day",
                                          f"score_{kind}_day", "last_event_day"],
                                  name=f"day_part_rank_{kind}")
                     for kind in ("human", "all"))]

    def __str__(self) -> str:
        of_user = f" by user {self.user_key}" if self.user_key else ""
        return f"contact {self.contact_id} in sequence {self.sequence_id}{of_user} on day {self.day}"


class SequenceDayTotal(AccountOwned):
    """Per local day, across sequences (`sequence_key` 0) or in one sequence, over every enrollment (`user_key` 0)
    or one user's: how many day parts there are and how many contacts' last row with each flag falls on it — the
    sums of the `ContactDayPart`s' `_last` marks (or `_last_in_sequence`). Their sum over the days from a on is the
    number of contacts with the flag on or after day a, which `analytics.day_counts_sql` needs to count a range
    from the rows after it."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)  # as parts
    user_key = models.BigIntegerField()  # the enrolling user's id, 0 for every enrollment
    sequence_key = models.BigIntegerField()  # the sequence id, 0 for all sequences
    day = models.IntegerField()  # days since 1970-01-01, in the account's time zone
    rows = models.PositiveIntegerField(default=0)  # day parts: the cost of reading the day
    enrolled_last = models.PositiveIntegerField(default=0)
    opened_human_last = models.PositiveIntegerField(default=0)
    opened_all_last = models.PositiveIntegerField(default=0)
    clicked_human_last = models.PositiveIntegerField(default=0)
    clicked_all_last = models.PositiveIntegerField(default=0)
    replied_last = models.PositiveIntegerField(default=0)
    met_last = models.PositiveIntegerField(default=0)
    live_last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "user_key", "sequence_key", "day"],
                                               name="day_total_once")]

    def __str__(self) -> str:
        return (f"sequence {self.sequence_key or 'all'}, user {self.user_key or 'any'} on day {self.day}: "
                f"{self.rows} day parts")


class DayPriorTotal(AccountOwned, DayPriors):
    """How many day parts of one local day share one set of prior days: across sequences (`sequence_key` 0, their
    `_prior` days) or in one sequence (their `_prior_in_sequence` days, in the same columns). A day's parts mostly
    share a few sets — a contact's first enrollment has no prior day for any flag — so a range's contacts are
    counted from far fewer rows than it has day parts (at 2 M enrollments, about 21,000 sets across sequences
    for 2 M day parts; `analytics.day_counts_sql`). `user_key` is the day parts' (0: every enrollment)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)  # as parts
    user_key = models.BigIntegerField()  # the enrolling user's id, 0 for every enrollment
    sequence_key = models.BigIntegerField()  # the sequence id, 0 for all sequences
    day = models.IntegerField()  # days since 1970-01-01, in the account's time zone
    rows = models.PositiveIntegerField(default=0)  # day parts

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "user_key", "sequence_key", "day", *DAY_PRIORS],
                                               name="day_prior_total_once")]
        # A range is read from the index alone.
        indexes = [models.Index(fields=["account", "user_key", "sequence_key", "day", *DAY_PRIORS, "rows"],
                                name="day_prior_read")]

    def __str__(self) -> str:
        return (f"sequence {self.sequence_key or 'all'}, user {self.user_key or 'any'} on day {self.day}: "
                f"{self.rows} day parts with one set of priors")


class TemplateDayPart(AccountOwned, MessageCounts):
    """One contact's sent messages with one template, from its not-scheduled enrollments by one user on one local
    day: what it adds to a `TemplateDayTotal`. Messages add up (unlike contacts), so these totals answer email
    performance filtered by enrollment date, enrolling user, or both; the part is what the refresh takes off
    again when the contact changes (report_totals.py)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)  # as parts
    contact_id = models.BigIntegerField()
    template_key = models.BigIntegerField()  # the template id, 0 for none (deleted)
    enrolled_by_key = models.BigIntegerField()  # the enrolling user id, 0 for none
    day = models.IntegerField()  # of the enrollment, days since 1970-01-01 in the account's time zone

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["account", "contact_id", "template_key", "enrolled_by_key", "day"], name="template_day_part_once")]

    def __str__(self) -> str:
        return f"contact {self.contact_id}, template {self.template_key}, day {self.day}"


class TemplateDayTotal(AccountOwned, MessageCounts):
    """The sum of the `TemplateDayPart`s of one template, enrolling user and enrollment day."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)  # as parts
    template_key = models.BigIntegerField()
    enrolled_by_key = models.BigIntegerField()
    day = models.IntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "day", "template_key", "enrolled_by_key"],
                                               name="template_day_total_once")]

    def __str__(self) -> str:
        return f"template {self.template_key}, user {self.enrolled_by_key}, day {self.day}: {self.messages_sent} sent"


class SequenceReportTotal(AccountOwned, TotalsMeasures):
    """The sum of the parts of one grain key: e.g. (SEQUENCE, 12) is sequence 12's unfiltered numbers."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)  # as above
    grain = models.PositiveSmallIntegerField(choices=TotalsGrain.choices)
    grain_key = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "grain", "grain_key"], name="totals_once")]

    def __str__(self) -> str:
        return f"{self.get_grain_display()} {self.grain_key}: {self.contacts} contacts"


class SequenceTotalsState(AccountOwned):
    """The time zone an account's totals cut their months in ('' until they are first built; a change of the
    account's zone rebuilds them). The refresh locks this row, so two refreshes of one account never interleave."""

    time_zone = models.CharField(max_length=64, blank=True)
    refreshed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account"], name="totals_state_once")]

    def __str__(self) -> str:
        return f"totals of account {self.account_id} ({self.time_zone})"


class SequenceTotalsDirty(models.Model):
    """Contacts whose enrollments changed since the last refresh, written by database triggers on the
    enrollment table (every write path, bulk and raw SQL included). Plain integers: a trigger may write it while
    the account or contact is being deleted. Duplicates are allowed on purpose — a unique key would let a
    writer's mark fold into one the refresh is about to delete."""

    account_id = models.BigIntegerField()
    contact_id = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["account_id", "id"], name="totals_dirty_by_account")]

    def __str__(self) -> str:
        return f"contact {self.contact_id} of account {self.account_id}"
