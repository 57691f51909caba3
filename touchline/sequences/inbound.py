"""Inbound mail: a raw RFC 5322 message — from `touchline inbound` (an MTA pipe), the API, or an IMAP poll —
classified, matched to its enrollments and applied through the services (docs/inbound.md).

Classification, first match wins:
1. **Bounce**: a delivery status notification (multipart/report; report-type=delivery-status, or a
   mailer-daemon/postmaster sender) from which `flufl.bounce` reads the failed addresses, permanent (hard) or
   temporary (soft); an ARF feedback report (report-type=feedback-report) is a complaint.
2. **Auto-reply** (recorded, the sequence goes on): RFC 3834 `Auto-Submitted` other than `no`, the common
   `X-Autoreply`/`X-Autorespond` headers, `Precedence: auto_reply`, or an out-of-office subject.
3. **Reply**: anything else from a contact — to a sequence email or not (SPEC §1).

Matching: In-Reply-To/References (and, in a bounce, the Message-ID of the returned original) against sent
messages; otherwise the sender's address among the account's contacts. A message from no known contact is
kept as `unmatched` and changes nothing. Every message is stored (`InboundMessage`) once: the same Message-ID
processed twice changes nothing the second time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_scopes import scope, scopes_disabled
from flufl.bounce import all_failures

from touchline.crm.models import Contact, normalise_email
from touchline.sequences import services
from touchline.sequences.models import BounceType, InboundMessage, SentMessage

MAX_BYTES = 10 * 1024 * 1024
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[- ]?(reply|response)|out of (the )?office|ooo\b|abwesenheitsnotiz|"
    r"automatische antwort|réponse automatique|absence|autosvar|respuesta automática|risposta automatica)",
    re.IGNORECASE)
AUTO_REPLY_BODY = re.compile(r"\b(i am|i'm|i will be) (currently )?(out of (the )?office|away|on (annual )?leave)\b",
                             re.IGNORECASE)
BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)


class InboundError(ValueError):
    """The bytes are not an email we can read."""


@dataclass
class InboundResult:
    classification: str  # bounce, complaint, auto_reply, reply, unmatched, duplicate
    enrollment_ids: list[int] = field(default_factory=list)
    detail: str = ""


def _ids(text: str | None) -> list[str]:
    return MESSAGE_ID.findall(text or "")


def _report_type(mail: EmailMessage) -> str:
    return mail.get_content_type() == "multipart/report" and (mail.get_param("report-type") or "").lower() or ""


def _original_ids(mail: EmailMessage) -> list[str]:
    """Message-IDs this mail refers to: its thread headers, and in a report the returned original's."""
    ids = _ids(mail["In-Reply-To"]) + _ids(mail["References"])
    for part in mail.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            payload = part.get_payload()
            text = payload[0].as_string() if isinstance(payload, list) and payload else str(payload)
            ids += _ids(re.search(r"^Message-ID:\s*(.*)$", text, re.IGNORECASE | re.MULTILINE).group(1)
                        if re.search(r"^Message-ID:", text, re.IGNORECASE | re.MULTILINE) else "")
    return ids


def _text_body(mail: EmailMessage) -> str:
    body = mail.get_body(("plain", "html"))
    try:
        return body.get_content() if body is not None else ""
    except (LookupError, ValueError):
        return ""


def _is_auto_reply(mail: EmailMessage) -> bool:
    auto_submitted = (mail["Auto-Submitted"] or "").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if mail["X-Autoreply"] or mail["X-Autorespond"] or mail["X-Autoresponder"]:
        return True
    if (mail["Precedence"] or "").strip().lower() == "auto_reply":
        return True
    if AUTO_REPLY_SUBJECT.search(mail["Subject"] or ""):
        return True
    return bool(AUTO_REPLY_BODY.search(_text_body(mail)[:2000]))


def _complaint_recipient(mail: EmailMessage) -> str:
    for part in mail.walk():
        if part.get_content_type() == "message/feedback-report":
            text = part.get_payload()[0].as_string() if isinstance(part.get_payload(), list) else \
                str(part.get_payload())
            found = re.search(r"^Original-Rcpt-To:\s*(.+)$", text, re.IGNORECASE | re.MULTILINE)
            if found:
                return normalise_email(parseaddr(found.group(1))[1])
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            payload = part.get_payload()
            original = payload[0] if isinstance(payload, list) and payload else None
            if original is not None and original["To"]:
                return normalise_email(getaddresses([original["To"]])[0][1])
    return ""


def bounce_failures(mail: EmailMessage) -> list[tuple[str, str]]:
    """The addresses a bounce reports as failed, each hard (permanent) or soft (temporary), read by
    flufl.bounce's detectors (which know the formats of Postfix, Exim, Exchange, Yahoo, AOL and others)."""
    temporary, permanent = all_failures(mail)
    return [(normalise_email(a.decode(errors="replace")), BounceType.HARD) for a in sorted(permanent)] + \
        [(normalise_email(a.decode(errors="replace")), BounceType.SOFT) for a in sorted(temporary - permanent)]


def mail_parse(raw: bytes) -> EmailMessage:
    if not raw or len(raw) > MAX_BYTES:
        raise InboundError("empty" if not raw else f"larger than {MAX_BYTES // (1024 * 1024)} MB")
    mail = message_from_bytes(raw, policy=policy.default)
    if not (mail["From"] or mail["Message-ID"] or mail.get_payload()):
        raise InboundError("no headers: this is not an email")
    return mail


def inbound_process(raw: bytes, *, account=None, now: datetime | None = None) -> InboundResult:
    """Classify and apply one raw email. `account` limits matching to one account (the API's, or the
    command's --account); without it the account comes from the matched message or contact."""
    now = now or timezone.now()
    mail = mail_parse(raw)
    with scopes_disabled():
        matched = SentMessage.all_accounts.select_related("account", "enrollment__contact").filter(
            message_id__in=_original_ids(mail)).order_by("-sent_at").first()
    if matched is not None and (account is None or matched.account_id == account.pk):
        account = matched.account
    elif account is None:
        sender = normalise_email(parseaddr(mail["From"] or "")[1])
        with scopes_disabled():
            contact = Contact.all_accounts.select_related("account").filter(email=sender).order_by("-id").first()
        account = contact.account if contact else None
        matched = None
    else:
        matched = None
    if account is None:
        return InboundResult("unmatched", detail="no account knows this message or its sender")
    with scope(account=account):
        return _apply(mail, raw, account, matched, now)


@transaction.atomic
def _apply(mail: EmailMessage, raw: bytes, account, matched: SentMessage | None, now: datetime) -> InboundResult:
    message_id = (mail["Message-ID"] or "").strip()[:255]
    if message_id and InboundMessage.objects.filter(account=account, message_id=message_id).exists():
        return InboundResult("duplicate", detail="this message was processed before")
    result = _classify_and_apply(mail, account, matched, now)
    try:
        with transaction.atomic():
            InboundMessage.objects.create(
                account=account, message_id=message_id, from_email=normalise_email(parseaddr(mail["From"] or "")[1]),
                subject=(mail["Subject"] or "")[:500], classification=result.classification,
                enrollment_id=result.enrollment_ids[0] if result.enrollment_ids else None, raw=raw, received_at=now)
    except IntegrityError:  # processed concurrently by another worker: its result stands
        transaction.set_rollback(True)
        return InboundResult("duplicate", detail="this message was processed at the same time elsewhere")
    return result


def _classify_and_apply(mail: EmailMessage, account, matched: SentMessage | None, now: datetime) -> InboundResult:
    report = _report_type(mail)
    sender = normalise_email(parseaddr(mail["From"] or "")[1])
    if report == "feedback-report":
        contact = _contact(account, _complaint_recipient(mail), matched)
        if contact is None:
            return InboundResult("unmatched", detail="complaint about an unknown address")
        ended = services.contact_bounced(contact=contact, bounce_type=BounceType.COMPLAINT, at=now, message=matched,
                                         detail="marked as spam (feedback report)")
        return InboundResult("complaint", [e.pk for e in ended])
    if report == "delivery-status" or BOUNCE_SENDERS.match(sender):
        failed = bounce_failures(mail)
        if failed:
            ended = []
            for address, bounce_type in failed:
                contact = _contact(account, address, matched)
                if contact is not None:
                    message = matched if matched and matched.enrollment.contact_id == contact.pk else None
                    ended += services.contact_bounced(contact=contact, bounce_type=bounce_type, at=now,
                                                      message=message, detail=_diagnostic(mail))
            return InboundResult("bounce", [e.pk for e in ended], _diagnostic(mail))
    contact = _contact(account, sender, matched, by_thread=False)
    if contact is None and matched is not None:
        contact = matched.enrollment.contact  # replied from another address of theirs, in the thread
    if contact is None:
        return InboundResult("unmatched", detail=f"{sender or 'no sender'} is not a contact")
    message = matched if matched and matched.enrollment.contact_id == contact.pk else None
    if _is_auto_reply(mail):
        services.contact_auto_replied(contact=contact, at=now, message=message, detail=(mail["Subject"] or "")[:200])
        return InboundResult("auto_reply")
    ended = services.contact_replied(contact=contact, at=now, message=message, detail=(mail["Subject"] or "")[:200])
    return InboundResult("reply", [e.pk for e in ended])


def _contact(account, email: str, matched: SentMessage | None, by_thread: bool = True) -> Contact | None:
    if email:
        found = Contact.objects.filter(account=account, email=email).first()
        if found is not None:
            return found
    if by_thread and matched is not None:
        return matched.enrollment.contact
    return None


def _diagnostic(mail: EmailMessage) -> str:
    for part in mail.walk():
        if part.get_content_type() == "message/delivery-status":
            text = "\n".join(p.as_string() for p in part.get_payload()) if isinstance(part.get_payload(), list) \
                else str(part.get_payload())
            found = re.search(r"^Diagnostic-Code:\s*(.+)$", text, re.IGNORECASE | re.MULTILINE)
            status = re.search(r"^Status:\s*(\S+)", text, re.IGNORECASE | re.MULTILINE)
            return " ".join(filter(None, [status.group(1) if status else "", found.group(1) if found else ""]))[:500]
    return (mail["Subject"] or "")[:200]
