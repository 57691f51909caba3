"""Recording provider events in the engagement log — the service behind every ESP webhook.

An `EspEvent` is matched to a sequence email by the Message-ID Touchline set on it, among the sent messages of the
webhook's own account only (so one account's webhook can never touch another's messages), and only when the
recipient the provider names is the email's recipient. Then it has exactly the effect the built-in paths have:

- `delivered`: one `delivered` event;
- `open`/`click`: classified person or machine by `tracking.hit_classify` at the time the provider saw it, capped at
  `tracking.MAX_HITS_PER_MINUTE` per message and minute, and a click with no open implies one — as the pixel and
  the click redirect do (docs/tracking.md);
- a soft bounce is recorded; a hard bounce or a complaint suppresses the address and ends the contact's running
  enrollments as bounced (`services.contact_bounced`, as an inbound bounce); an unsubscribe suppresses and ends
  them as unsubscribed (`services.contact_unsubscribed`, as the unsubscribe link).

Idempotency: the event the provider's event writes first carries `external_id = "<provider>:<event id>"`, which is
unique per account, so a second delivery of the event is a `duplicate` that changes nothing, also when both arrive
at once. A bounce or unsubscribe for an enrollment that had already ended writes no event (as an inbound one does);
applying it again changes nothing either: the suppression exists and nothing is running.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from touchline.crm.models import normalise_email
from touchline.sequences import services, tracking
from touchline.sequences.models import (
    BounceType,
    EngagementEvent,
    EnrollmentStatus,
    EspWebhook,
    EventKind,
    SentMessage,
)

UNSUBSCRIBE = "unsubscribe"
ACTIONS = (EventKind.DELIVERED, EventKind.OPEN, EventKind.CLICK, EventKind.BOUNCE, UNSUBSCRIBE)
# EngagementEvent.external_id holds 100 characters; longer provider ids are hashed to fit.
MAX_EXTERNAL_ID = 100


class Refused(Exception):
    """The request is not provably the provider's (401 or 403); nothing is recorded."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class Malformed(Exception):
    """The payload is not what the provider sends (400); nothing is recorded."""


@dataclass(frozen=True)
class EspEvent:
    """One provider event, in Touchline's terms. `kind` is one of ACTIONS; `message_ids` are the Message-IDs the
    event may belong to (from custom arguments/metadata or the echoed header), in angle brackets; `recipients` the
    addresses it is about (empty: the provider does not say)."""

    provider: str
    event_id: str
    kind: str
    message_ids: tuple[str, ...]
    recipients: tuple[str, ...] = ()
    occurred_at: datetime | None = None
    bounce_type: str = ""  # hard, soft or complaint, for a bounce
    url: str = ""
    user_agent: str = ""
    ip: str | None = None
    machine_reason: str = ""  # the provider itself says a machine did it (SendGrid's Apple MPP flag)
    detail: str = ""

    @property
    def external_id(self) -> str:
        key = f"{self.provider}:{self.event_id}"
        if len(key) <= MAX_EXTERNAL_ID:
            return key
        return f"{self.provider}:sha256:{hashlib.sha256(self.event_id.encode()).hexdigest()}"


@dataclass
class Batch:
    """What one request carried: events to record, how many were of kinds Touchline does not record (processed,
    deferred, …), an SNS subscription's confirmation URL, and the cache key marking a Mailgun token used (released
    when recording fails, so that Mailgun's retry is not refused as a replay)."""

    events: list[EspEvent] = field(default_factory=list)
    ignored: int = 0
    subscribe_url: str = ""
    used_token: str = ""


@dataclass
class EspResult:
    """The counts the endpoint answers. `recorded`: applied (written, or a suppression for an enrollment that had
    ended); `duplicates`: seen before; `unknown`: no sent email of this account matches; `ignored`: kinds Touchline
    does not record, and opens or clicks over the rate cap."""

    received: int = 0
    recorded: int = 0
    duplicates: int = 0
    unknown: int = 0
    ignored: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"received": self.received, "recorded": self.recorded, "duplicates": self.duplicates,
                "unknown": self.unknown, "ignored": self.ignored}


RECORDED, DUPLICATE, UNKNOWN, IGNORED = "recorded", "duplicate", "unknown", "ignored"


def esp_events_record(*, webhook: EspWebhook, batch: Batch, now: datetime | None = None) -> EspResult:
    """Record a batch in the webhook's account (call inside its scope). Each event commits on its own, so a batch
    with unknown messages or duplicates records the others."""
    now = now or timezone.now()
    result = EspResult(received=len(batch.events) + batch.ignored, ignored=batch.ignored)
    for event in batch.events:
        outcome = esp_event_record(webhook=webhook, event=event, now=now)
        if outcome == RECORDED:
            result.recorded += 1
        elif outcome == DUPLICATE:
            result.duplicates += 1
        elif outcome == UNKNOWN:
            result.unknown += 1
        else:
            result.ignored += 1
    return result


def esp_event_record(*, webhook: EspWebhook, event: EspEvent, now: datetime) -> str:
    """Record one event: RECORDED, DUPLICATE, UNKNOWN (no matching email of the webhook's account, or another
    recipient) or IGNORED (over the open/click rate cap)."""
    if event.kind not in ACTIONS:
        raise ValueError(f"unknown ESP event kind {event.kind!r}")
    key = event.external_id
    if EngagementEvent.objects.filter(account=webhook.account, external_id=key).exists():
        return DUPLICATE
    message = _message(webhook, event)
    if message is None:
        return UNKNOWN
    at = min(event.occurred_at or now, now)  # a provider's clock ahead of ours must not record the future
    try:
        with transaction.atomic():
            return _apply(event, message, key, at)
    except IntegrityError:
        # The same event delivered twice at once: the other delivery wrote the key first.
        if EngagementEvent.objects.filter(account=webhook.account, external_id=key).exists():
            return DUPLICATE
        raise


def _message(webhook: EspWebhook, event: EspEvent) -> SentMessage | None:
    ids = [i for i in event.message_ids if i]
    if not ids:
        return None
    message = (SentMessage.objects.select_related("enrollment__contact")
               .filter(account=webhook.account, message_id__in=ids).first())
    if message is None:
        return None
    recipients = {normalise_email(r) for r in event.recipients if r}
    if recipients and normalise_email(message.to_email) not in recipients:
        return None  # the event is about another address than the one this email went to
    return message


def _apply(event: EspEvent, message: SentMessage, key: str, at: datetime) -> str:
    contact, enrollment = message.enrollment.contact, message.enrollment
    if event.kind == EventKind.DELIVERED:
        services.event_record(contact=contact, kind=EventKind.DELIVERED, message=message, occurred_at=at,
                              detail=event.detail, external_id=key)
        return RECORDED
    if event.kind in (EventKind.OPEN, EventKind.CLICK):
        return _hit(event, message, key, at)
    if event.kind == EventKind.BOUNCE and event.bounce_type == BounceType.SOFT:
        # services.contact_bounced's soft branch, with the key: recorded on the email's enrollment, ends nothing.
        services.event_record(contact=contact, kind=EventKind.BOUNCE, enrollment=enrollment, message=message,
                              occurred_at=at, bounce_type=BounceType.SOFT, detail=event.detail, external_id=key)
        return RECORDED
    # The email's own enrollment is ended first, by the same call the services make, so its event carries the key;
    # the service then suppresses the address and ends the contact's other running enrollments exactly as it does
    # for an inbound bounce or the unsubscribe link (the email's enrollment has ended: it is skipped).
    if event.kind == EventKind.BOUNCE:
        services.enrollment_end(enrollment=enrollment, status=EnrollmentStatus.BOUNCED, detail=event.detail, at=at,
                                message=message, bounce_type=event.bounce_type, external_id=key)
        services.contact_bounced(contact=contact, bounce_type=event.bounce_type, at=at, message=message,
                                 detail=event.detail)
    else:
        services.enrollment_end(enrollment=enrollment, status=EnrollmentStatus.UNSUBSCRIBED, detail=event.detail,
                                at=at, message=message, external_id=key)
        services.contact_unsubscribed(contact=contact, at=at, message=message, detail=event.detail)
    return RECORDED


def _clean_ip(ip: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(ip.strip())) if ip else None
    except ValueError:
        return None


def _hit(event: EspEvent, message: SentMessage, key: str, at: datetime) -> str:
    """An open or click, judged as tracking.hit_record judges one, but at the time the provider saw it."""
    events = EngagementEvent.objects.filter(message=message)
    if events.filter(kind=event.kind, occurred_at__gt=at - tracking.RATE_WINDOW,
                     occurred_at__lte=at).count() >= tracking.MAX_HITS_PER_MINUTE:
        return IGNORED
    user_agent, ip = event.user_agent[:tracking.MAX_AGENT_LENGTH], _clean_ip(event.ip)
    other_link_just_clicked = event.kind == EventKind.CLICK and events.filter(
        kind=EventKind.CLICK, occurred_at__gte=at - timedelta(seconds=tracking.BURST_SECONDS),
        occurred_at__lte=at).exclude(url=event.url).exists()
    verdict = tracking.hit_classify(kind=event.kind, user_agent=user_agent, ip=ip, sent_at=message.sent_at, now=at,
                                    other_link_just_clicked=other_link_just_clicked)
    if not verdict.is_machine and event.machine_reason:
        verdict = tracking.Verdict(True, event.machine_reason, "flagged by the provider")
    fields = {"is_machine": verdict.is_machine, "machine_reason": verdict.reason, "user_agent": user_agent, "ip": ip}
    contact = message.enrollment.contact
    if event.kind == EventKind.CLICK:
        opens = events.filter(kind=EventKind.OPEN)
        # As tracking.hit_record: a person's click proves a read; a machine click implies a machine open only
        # when there is no open at all.
        if not (opens if verdict.is_machine else opens.filter(is_machine=False)).exists():
            services.event_record(contact=contact, kind=EventKind.OPEN, message=message, occurred_at=at,
                                  detail="implied by a click (the images were not loaded)",
                                  external_id=f"{key[:MAX_EXTERNAL_ID - 5]}#open", **fields)
    services.event_record(contact=contact, kind=event.kind, message=message, occurred_at=at, url=event.url[:4096],
                          detail=verdict.detail, external_id=key, **fields)
    return RECORDED


def esp_subscription_record(*, webhook: EspWebhook, subscribe_url: str, now: datetime | None = None) -> None:
    """Keep an SNS subscription's confirmation URL for an administrator to open (never fetched by Touchline)."""
    EspWebhook.objects.filter(pk=webhook.pk).update(subscribe_url=subscribe_url,
                                                    subscribe_url_received_at=now or timezone.now())
