"""Each provider's webhook payload, verified and turned into `EspEvent`s (docs/esp-webhooks.md has the tables).

`receive(webhook, body, headers, now)` is the one entry point: it checks the request with `verify.py` — before
reading the payload where the signature covers the raw body (SendGrid) or lives outside it (Postmark's basic
auth), after parsing where the signature is inside it (Mailgun, SNS) — and returns a `Batch`. Kinds Touchline
does not record (processed, deferred, accepted, send…) are counted as ignored.

Which email an event belongs to: the value of the custom argument / variable / metadata `touchline_message` when
the sender set it (the Message-ID), else the Message-ID header the provider echoes (SendGrid `smtp-id` on delivery
events, Mailgun `message.headers.message-id`, SES `mail.commonHeaders.messageId` or an `X-Touchline-Message` header
among `mail.headers`). Postmark echoes no header, and SendGrid none on opens and clicks: they need the metadata.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from touchline.sequences.esp import verify
from touchline.sequences.esp.events import UNSUBSCRIBE, Batch, EspEvent, Malformed
from touchline.sequences.models import BounceType, EspProvider, EspWebhook, EventKind

METADATA_KEY = "touchline_message"
HEADER = "X-Touchline-Message"
DETAIL_LENGTH = 500


def receive(webhook: EspWebhook, body: bytes, headers, now: datetime) -> Batch:
    return RECEIVERS[webhook.provider](webhook, body, headers, now)


def _json(body: bytes):
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Malformed(f"The body is not JSON: {error}.") from None


def _message_id(value) -> str:
    """A Message-ID in angle brackets, as SentMessage stores it ('' for anything that is not one)."""
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        return ""
    value = value.strip()
    return value if value.startswith("<") else f"<{value}>"


def _ids(*values) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in map(_message_id, values) if i))


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _detail(provider: str, *parts) -> str:
    text = ": ".join(str(p).strip() for p in parts if p not in (None, ""))
    return f"{EspProvider(provider).label}: {text}"[:DETAIL_LENGTH] if text else EspProvider(provider).label


def _from_unix(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _from_iso(value) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# SendGrid --------------------------------------------------------------------------------------------------------
# A JSON array of events, signed as a whole; custom arguments (X-SMTPAPI `unique_args`) are top-level keys.

SENDGRID_DROPPED = {"bounced address": ("bounce", BounceType.HARD), "invalid": ("bounce", BounceType.HARD),
                    "spam reporting address": ("bounce", BounceType.COMPLAINT),
                    "unsubscribed address": (UNSUBSCRIBE, "")}


def sendgrid_receive(webhook: EspWebhook, body: bytes, headers, now: datetime) -> Batch:
    verify.sendgrid_verify(webhook, body, headers)
    events = _json(body)
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise Malformed("SendGrid posts a JSON array of event objects.")
    batch = Batch()
    for raw in events:
        event = _sendgrid_event(raw)
        if event is None:
            batch.ignored += 1
        else:
            batch.events.append(event)
    return batch


def _sendgrid_event(raw: dict) -> EspEvent | None:
    kind, bounce_type, name = "", "", _text(raw.get("event"))
    if name == "delivered":
        kind = EventKind.DELIVERED
    elif name in ("open", "click"):
        kind = EventKind.OPEN if name == "open" else EventKind.CLICK
    elif name == "bounce":
        # type "bounce" is a permanent failure; "blocked" (and "expired") a temporary one SendGrid gave up on.
        kind, bounce_type = EventKind.BOUNCE, BounceType.HARD if raw.get("type", "bounce") == "bounce" \
            else BounceType.SOFT
    elif name == "spamreport":
        kind, bounce_type = EventKind.BOUNCE, BounceType.COMPLAINT
    elif name in ("unsubscribe", "group_unsubscribe"):
        kind = UNSUBSCRIBE
    elif name == "dropped":  # not sent because the address is on SendGrid's own suppression lists
        kind, bounce_type = SENDGRID_DROPPED.get(_text(raw.get("reason")).lower(), ("", ""))
    event_id = _text(raw.get("sg_event_id"))
    if not kind or not event_id:
        return None  # processed, deferred, group_resubscribe, or an entry without an id
    return EspEvent(
        provider=EspProvider.SENDGRID, event_id=event_id, kind=kind,
        message_ids=_ids(raw.get(METADATA_KEY), raw.get("smtp-id")), recipients=(_text(raw.get("email")),),
        occurred_at=_from_unix(raw.get("timestamp")), bounce_type=bounce_type, url=_text(raw.get("url")),
        user_agent=_text(raw.get("useragent")), ip=_text(raw.get("ip")) if kind in (EventKind.OPEN, EventKind.CLICK)
        else None, machine_reason="apple_mpp" if raw.get("sg_machine_open") is True else "",
        detail=_detail(EspProvider.SENDGRID, name, raw.get("reason") or raw.get("response")))


# Mailgun ---------------------------------------------------------------------------------------------------------
# One event per request: {"signature": {...}, "event-data": {...}}; variables (X-Mailgun-Variables) are in
# event-data.user-variables. Mailgun's legacy form-encoded webhooks are not accepted.

def mailgun_receive(webhook: EspWebhook, body: bytes, headers, now: datetime) -> Batch:
    payload = _json(body)
    if not isinstance(payload, dict) or not isinstance(payload.get("event-data"), dict):
        raise Malformed("Mailgun posts a JSON object with signature and event-data (legacy webhooks are not "
                        "supported).")
    batch = Batch()
    batch.used_token = verify.mailgun_verify(webhook, payload.get("signature"), now)
    event = _mailgun_event(payload["event-data"], str(payload["signature"]["token"]))
    if event is None:
        batch.ignored += 1
    else:
        batch.events.append(event)
    return batch


def _mailgun_event(data: dict, token: str) -> EspEvent | None:
    name, kind, bounce_type = _text(data.get("event")), "", ""
    if name == "delivered":
        kind = EventKind.DELIVERED
    elif name in ("opened", "clicked"):
        kind = EventKind.OPEN if name == "opened" else EventKind.CLICK
    elif name == "failed":
        kind = EventKind.BOUNCE
        bounce_type = BounceType.HARD if data.get("severity") == "permanent" else BounceType.SOFT
    elif name == "complained":
        kind, bounce_type = EventKind.BOUNCE, BounceType.COMPLAINT
    elif name == "unsubscribed":
        kind = UNSUBSCRIBE
    if not kind:
        return None  # accepted, rejected, stored, …
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    message_headers = message.get("headers") if isinstance(message.get("headers"), dict) else {}
    variables = data.get("user-variables") if isinstance(data.get("user-variables"), dict) else {}
    client = data.get("client-info") if isinstance(data.get("client-info"), dict) else {}
    status = data.get("delivery-status") if isinstance(data.get("delivery-status"), dict) else {}
    return EspEvent(
        provider=EspProvider.MAILGUN, event_id=_text(data.get("id")) or f"token:{token}", kind=kind,
        message_ids=_ids(variables.get(METADATA_KEY), message_headers.get("message-id")),
        recipients=(_text(data.get("recipient")),), occurred_at=_from_unix(data.get("timestamp")),
        bounce_type=bounce_type, url=_text(data.get("url")), user_agent=_text(client.get("user-agent")),
        ip=_text(data.get("ip")) or None,
        detail=_detail(EspProvider.MAILGUN, name, data.get("reason"),
                       status.get("message") or status.get("description")))


# Postmark --------------------------------------------------------------------------------------------------------
# One event per request; metadata (X-PM-Metadata-touchline_message) in Metadata. Only bounces and spam complaints
# have an ID; the others are keyed by a hash of the body, which Postmark's retries repeat byte for byte.

POSTMARK_HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "SMTPApiError"}
POSTMARK_NOT_BOUNCES = {"AutoResponder", "OpenRelayTest", "SpamNotification", "Subscribe", "ChallengeVerification",
                        "AddressChange", "InboundError"}
POSTMARK_SUPPRESSIONS = {"ManualSuppression": (UNSUBSCRIBE, ""), "HardBounce": (EventKind.BOUNCE, BounceType.HARD),
                         "SpamComplaint": (EventKind.BOUNCE, BounceType.COMPLAINT)}


def postmark_receive(webhook: EspWebhook, body: bytes, headers, now: datetime) -> Batch:
    verify.postmark_verify(webhook, headers.get("Authorization"))
    payload = _json(body)
    if not isinstance(payload, dict) or not isinstance(payload.get("RecordType"), str):
        raise Malformed("Postmark posts a JSON object with a RecordType.")
    event = _postmark_event(payload, hashlib.sha256(body).hexdigest())
    return Batch(events=[event]) if event is not None else Batch(ignored=1)


def _postmark_event(data: dict, body_hash: str) -> EspEvent | None:
    record, kind, bounce_type, occurred = data["RecordType"], "", "", None
    if record == "Delivery":
        kind, occurred = EventKind.DELIVERED, data.get("DeliveredAt")
    elif record in ("Open", "Click"):
        kind, occurred = (EventKind.OPEN if record == "Open" else EventKind.CLICK), data.get("ReceivedAt")
    elif record == "Bounce":
        occurred, bounce = data.get("BouncedAt"), _text(data.get("Type"))
        if bounce == "SpamComplaint":
            kind, bounce_type = EventKind.BOUNCE, BounceType.COMPLAINT
        elif bounce == "Unsubscribe":
            kind = UNSUBSCRIBE
        elif bounce not in POSTMARK_NOT_BOUNCES:
            kind, bounce_type = EventKind.BOUNCE, BounceType.HARD if bounce in POSTMARK_HARD else BounceType.SOFT
    elif record == "SpamComplaint":
        kind, bounce_type, occurred = EventKind.BOUNCE, BounceType.COMPLAINT, data.get("BouncedAt")
    elif record == "SubscriptionChange" and data.get("SuppressSending") is True:
        # A reactivation (SuppressSending false) lifts nothing here: Touchline's suppressions are lifted by people.
        kind, bounce_type = POSTMARK_SUPPRESSIONS.get(_text(data.get("SuppressionReason")), ("", ""))
        occurred = data.get("ChangedAt")
    if not kind:
        return None
    metadata = data.get("Metadata") if isinstance(data.get("Metadata"), dict) else {}
    geo = data.get("Geo") if isinstance(data.get("Geo"), dict) else {}
    event_id = f"{record}:{data['ID']}" if isinstance(data.get("ID"), int | str) and data.get("ID") != "" \
        else f"{record}:sha256:{body_hash}"
    return EspEvent(
        provider=EspProvider.POSTMARK, event_id=event_id, kind=kind, message_ids=_ids(metadata.get(METADATA_KEY)),
        recipients=(_text(data.get("Recipient") or data.get("Email")),), occurred_at=_from_iso(occurred),
        bounce_type=bounce_type, url=_text(data.get("OriginalLink")), user_agent=_text(data.get("UserAgent")),
        ip=_text(geo.get("IP")) or None,
        detail=_detail(EspProvider.POSTMARK, data.get("Name") or record, data.get("Details") or
                       data.get("Description") or data.get("SuppressionReason")))


# Amazon SES through SNS ------------------------------------------------------------------------------------------
# SNS posts its envelope (as text/plain); the SES event (event publishing `eventType`, or the older identity
# notifications' `notificationType`) is the JSON string in Message. The SNS MessageId keys the event.

def amazon_ses_receive(webhook: EspWebhook, body: bytes, headers, now: datetime) -> Batch:
    envelope = _json(body)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("Type"), str):
        raise Malformed("Amazon SNS posts a JSON object with a Type.")
    verify.sns_verify(webhook, envelope, now=now)
    if envelope["Type"] == "SubscriptionConfirmation":
        return Batch(subscribe_url=_text(envelope.get("SubscribeURL")))
    if envelope["Type"] != "Notification":
        return Batch(ignored=1)  # UnsubscribeConfirmation: nothing to do
    try:
        ses = json.loads(envelope["Message"])
    except json.JSONDecodeError:
        return Batch(ignored=1)  # "Successfully validated SNS topic for Amazon SES event publishing."
    if not isinstance(ses, dict) or not isinstance(ses.get("mail"), dict):
        raise Malformed("The SNS message is not an Amazon SES event.")
    event = _ses_event(ses, _text(envelope.get("MessageId")), _from_iso(envelope.get("Timestamp")))
    return Batch(events=[event]) if event is not None else Batch(ignored=1)


def _addresses(entries) -> tuple[str, ...]:
    if not isinstance(entries, list):
        return ()
    return tuple(e.get("emailAddress", "") if isinstance(e, dict) else str(e) for e in entries)


def _ses_event(ses: dict, sns_id: str, sns_timestamp: datetime | None) -> EspEvent | None:
    name = _text(ses.get("eventType") or ses.get("notificationType"))
    mail = ses["mail"]
    part = ses.get(name.lower()) if isinstance(ses.get(name.lower()), dict) else {}
    kind, bounce_type, recipients, detail = "", "", tuple(mail.get("destination") or ()), ()
    if name == "Delivery":
        kind, recipients, detail = EventKind.DELIVERED, tuple(part.get("recipients") or recipients), \
            (part.get("smtpResponse"),)
    elif name in ("Open", "Click"):
        kind = EventKind.OPEN if name == "Open" else EventKind.CLICK
    elif name == "Bounce":
        kind, recipients = EventKind.BOUNCE, _addresses(part.get("bouncedRecipients"))
        bounce_type = BounceType.HARD if part.get("bounceType") == "Permanent" else BounceType.SOFT
        diagnostics = [r.get("diagnosticCode") for r in part.get("bouncedRecipients") or [] if isinstance(r, dict)]
        detail = (f"{part.get('bounceType')}: {part.get('bounceSubType')}", next(filter(None, diagnostics), None))
    elif name == "Complaint" and part.get("complaintFeedbackType") != "not-spam":
        kind, bounce_type = EventKind.BOUNCE, BounceType.COMPLAINT
        recipients, detail = _addresses(part.get("complainedRecipients")), (part.get("complaintFeedbackType"),)
    elif name == "Subscription" and (part.get("newTopicPreferences") or {}).get("unsubscribeAll") is True:
        kind, detail = UNSUBSCRIBE, (part.get("source"),)
    if not kind or not sns_id:
        return None  # Send, Reject, DeliveryDelay, Rendering Failure, a topic preference change
    common = mail.get("commonHeaders") if isinstance(mail.get("commonHeaders"), dict) else {}
    own_header = [h.get("value") for h in mail.get("headers") or []
                  if isinstance(h, dict) and _text(h.get("name")).lower() == HEADER.lower()]
    tags = mail.get("tags") if isinstance(mail.get("tags"), dict) else {}
    return EspEvent(
        provider=EspProvider.AMAZON_SES, event_id=sns_id, kind=kind,
        message_ids=_ids(*own_header, *(tags.get(METADATA_KEY) or []), common.get("messageId")),
        recipients=tuple(r for r in recipients if isinstance(r, str)),
        occurred_at=_from_iso(part.get("timestamp")) or sns_timestamp, bounce_type=bounce_type,
        url=_text(part.get("link")), user_agent=_text(part.get("userAgent")), ip=_text(part.get("ipAddress")) or None,
        detail=_detail(EspProvider.AMAZON_SES, name, *detail))


RECEIVERS = {EspProvider.SENDGRID: sendgrid_receive, EspProvider.MAILGUN: mailgun_receive,
             EspProvider.POSTMARK: postmark_receive, EspProvider.AMAZON_SES: amazon_ses_receive}
