"""Inbound mail: one raw RFC 5322 message — from `touchline inbound` (an MTA pipe), `touchline imap_poll`, or
`POST /api/v1/sequences/inbound` — parsed, classified, matched to its enrollments and applied through the
services (docs/inbound.md). Three stages, the first two free of the database:

1. `mail_parse` — bytes to an `EmailMessage`, or `InboundError` when it is not an email.
2. `mail_classify` — what the message is, first match wins:
   - **bounce**: the message is a delivery report (`multipart/report`), comes from a mailer daemon/postmaster
     or the null sender, or says so in its subject; `flufl.bounce` then reads the failed addresses (hard =
     permanent, soft = temporary). A person's message quoting a bounce is not one;
   - **complaint**: an ARF feedback report (`report-type=feedback-report`);
   - **auto_reply**: RFC 3834 `Auto-Submitted` other than `no`, `X-Autoreply`/`X-Autorespond`, `Precedence:
     auto_reply|bulk|junk`, Exchange's rules agent, a read receipt, an out-of-office subject, or a new text
     (quotes left out) opening with an out-of-office sentence. `X-Auto-Response-Suppress` alone is not
     enough: Outlook puts it on ordinary mail too;
   - **reply**: anything else.
3. `inbound_process` — matching and applying. The Message-IDs the message refers to (`In-Reply-To` and
   `References`; in a bounce or complaint, the returned original's) find the sent message and so the account
   and contact; otherwise the addresses (the sender; a bounce's failed addresses) find contacts in the given
   account, or in the accounts where they have running enrollments. A reply or auto-reply from an address
   that is no contact, inside a thread Touchline started, counts as that thread's contact (another address of
   theirs). Replies end enrollments (`contact_replied`), auto-replies are recorded (`contact_auto_replied`),
   bounces and complaints go to `contact_bounced`. A reply from a contact with no running enrollment, or from
   nobody known, is kept as `unmatched` and changes nothing.

Every processed message is stored once per account (`InboundMessage`: raw bytes, classification, enrollment)
in the same transaction as its effects; the same Message-ID (or, without one, the same bytes) processed again
is a `duplicate` and changes nothing.
"""

from __future__ import annotations

import hashlib
import html
import imaplib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_scopes import scope, scopes_disabled
from flufl.bounce import all_failures

from touchline.core.models import Account
from touchline.crm.models import Contact, normalise_email
from touchline.crm.selectors import contact_by_email
from touchline.sequences import services
from touchline.sequences.models import (
    RUNNING_STATUSES,
    BounceType,
    Enrollment,
    InboundMessage,
    Inbox,
    SentMessage,
)

logger = logging.getLogger(__name__)
# flufl.bounce logs one INFO line per detector per message; unless the operator configured its logger, keep
# only its warnings, or every piped message would print a screenful.
if logging.getLogger("flufl.bounce").level == logging.NOTSET:
    logging.getLogger("flufl.bounce").setLevel(logging.WARNING)

MAX_BYTES = 10 * 1024 * 1024

REPLY, AUTO_REPLY, BOUNCE, COMPLAINT = "reply", "auto_reply", "bounce", "complaint"
UNMATCHED, DUPLICATE = "unmatched", "duplicate"

MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# Senders of delivery reports: Postfix/Sendmail/Exim/qmail MAILER-DAEMON, postmaster, MDaemon, "<>".
BOUNCE_LOCAL_PART = re.compile(r"^(mailer[-_.]?daemon|postmaster|mail[-_.]?daemon|mdaemon|mail\.delivery\.system)$",
                               re.IGNORECASE)
BOUNCE_DISPLAY_NAME = re.compile(r"mail delivery (system|subsystem|service)|mailer[-_ ]daemon", re.IGNORECASE)
# Subjects MTAs give their reports (a person's reply starts "Re:" and never matches: the pattern is anchored).
BOUNCE_SUBJECT = re.compile(
    r"^\s*(undeliver(able|ed)|delivery (status notification|failure|notification|has failed|report)|"
    r"returned mail|mail delivery fail|failure notice|non[- ]?delivery|mail could not be delivered|"
    r"mail not delivered|failed mail|delayed mail|message delayed|mail system error|mail error|"
    r"nicht zustellbar|non recapitabile|non remis|no entregado)",
    re.IGNORECASE)
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[- ]?(reply|response|antwort)|auto:|out of (the )?office|ooo\b|"
    r"abwesenheitsnotiz|automatische antwort|abwesend|réponse automatique|autosvar|automatisk svar|"
    r"automatisch antwoord|respuesta automática|risposta automatica|fuori sede|frånvaro)",
    re.IGNORECASE)
AUTO_REPLY_BODY = re.compile(
    r"\b(i am|i'm|i will be|i'll be) (currently |now )?(out of (the )?office|away|on (annual |parental )?leave|"
    r"on vacation|on holiday|travelling|traveling|out of the country)\b|"
    r"\b(away|out of (the )?office) until\b|"
    r"\bich bin (derzeit |zurzeit )?(nicht im büro|abwesend)\b|\bje suis (actuellement )?absente?\b",
    re.IGNORECASE)
# Where the quoted original starts in a reply's text: Gmail/Apple "On … wrote:", Outlook's rule or
# "-----Original Message-----", a "From:" block, or ">" lines.
QUOTE_START = re.compile(
    r"^(>|on .{5,200}wrote:\s*$|am .{5,200}schrieb.*:\s*$|le .{5,200}a écrit\s*:\s*$|-{2,}\s*original message|"
    r"_{8,}\s*$|from:\s)", re.IGNORECASE | re.MULTILINE)
# Auto-replies lead with their sentence; a person mentioning an absence deep in a reply is still replying.
AUTO_REPLY_BODY_WINDOW = 500


class InboundError(ValueError):
    """The bytes are not an email we can read (empty, too large, or without any header)."""


@dataclass(frozen=True)
class Failure:
    """One failed recipient of a bounce (or the complaining recipient of a feedback report)."""

    address: str
    bounce_type: str  # BounceType
    detail: str = ""  # the SMTP status and diagnostic, when the report gives them


@dataclass(frozen=True)
class Classified:
    kind: str  # REPLY, AUTO_REPLY, BOUNCE or COMPLAINT
    reason: str  # what decided it, for the audit trail (a header, the subject, flufl.bounce…)
    sender: str  # normalised From address
    subject: str
    message_id: str  # this message's own Message-ID, or a digest of its bytes when it has none
    references: tuple[str, ...] = ()  # Message-IDs it answers (In-Reply-To, References) or returns
    failures: tuple[Failure, ...] = ()


@dataclass
class InboundResult:
    classification: str  # REPLY, AUTO_REPLY, BOUNCE, COMPLAINT, UNMATCHED or DUPLICATE
    enrollment_ids: list[int] = field(default_factory=list)  # ended, or (auto-reply, soft bounce) recorded on
    detail: str = ""


# ---- 1. parsing ---------------------------------------------------------------------------------------------

IDENTIFYING_HEADERS = ("From", "Sender", "Return-Path", "Message-ID", "Date", "Subject", "Received", "To")


def mail_parse(raw: bytes) -> EmailMessage:
    if not raw:
        raise InboundError("the message is empty")
    if len(raw) > MAX_BYTES:
        raise InboundError(f"the message is larger than {MAX_BYTES // (1024 * 1024)} MB")
    mail = message_from_bytes(raw, policy=policy.default)
    if not any(name in mail for name in IDENTIFYING_HEADERS):
        raise InboundError("no email headers (From, Date, Message-ID…) were found")
    return mail


def _header(mail: EmailMessage, name: str) -> str:
    """A header as text; a header the strict parser chokes on is read raw rather than failing the message."""
    try:
        value = mail[name]
    except Exception:  # noqa: BLE001 — malformed headers in the wild raise a zoo of errors
        value = next((v for k, v in mail.raw_items() if k.lower() == name.lower()), None)
    return str(value or "").strip()


def _address(value: str) -> str:
    return normalise_email(parseaddr(value)[1])


def _ids(text: str) -> list[str]:
    return MESSAGE_ID.findall(text or "")


# ---- 2. classification --------------------------------------------------------------------------------------

def mail_classify(mail: EmailMessage, raw: bytes) -> Classified:
    """What `mail` (parsed from `raw`) is; see the module docstring. Pure: reads nothing but the message."""
    # Without a Message-ID, the digest of the bytes keeps processing idempotent all the same.
    own_id = (_ids(_header(mail, "Message-ID")) or [""])[0][:255] or \
        f"<{hashlib.sha256(raw).hexdigest()}@no-message-id.invalid>"
    common = {"sender": _address(_header(mail, "From")), "subject": _header(mail, "Subject")[:500],
              "message_id": own_id}
    report = _report_type(mail)
    if report == "feedback-report":
        # With the recipient redacted (some feedback loops do), the returned original still names our email.
        failure = Failure(_complaint_recipient(mail), BounceType.COMPLAINT, _feedback_detail(mail))
        return Classified(COMPLAINT, "ARF feedback report", references=tuple(_returned_ids(mail)),
                          failures=(failure,), **common)
    # flufl.bounce is asked only about what looks like a delivery report: its detectors also fire on a
    # person's text quoting one ("FYI, this bounced: … User unknown"), which is a reply, not a bounce.
    definite = _bounce_signal(mail, report)
    if definite:
        failures = bounce_failures(mail) or _dsn_failures_without_address(mail)
        return Classified(BOUNCE, definite, references=tuple(_returned_ids(mail)), failures=tuple(failures),
                          **common)
    references = _ids(_header(mail, "In-Reply-To")) + _ids(_header(mail, "References"))
    reason = _auto_reply_signal(mail, report)
    return Classified(AUTO_REPLY if reason else REPLY, reason or "a message from a person",
                      references=tuple(dict.fromkeys(references)), **common)


def _report_type(mail: EmailMessage) -> str:
    if mail.get_content_type() != "multipart/report":
        return ""
    return str(mail.get_param("report-type") or "unknown").lower()


def bounce_failures(mail: EmailMessage) -> list[Failure]:
    """The addresses a bounce reports as failed, each hard (permanent) or soft (temporary), as read by
    flufl.bounce's detectors (Postfix, Exim, qmail, Exchange, Yahoo, AOL, GroupWise, DSN and others)."""
    try:
        temporary, permanent = all_failures(mail)
    except Exception:  # noqa: BLE001 — one odd message must not stop the pipe; the message is still kept
        logger.exception("flufl.bounce failed on message %s", _header(mail, "Message-ID"))
        return []
    diagnostics = {r["address"]: r["detail"] for r in _dsn_recipients(mail)}
    hard = {normalise_email(a.decode(errors="replace")) for a in permanent}
    soft = {normalise_email(a.decode(errors="replace")) for a in temporary} - hard
    return [Failure(address, bounce_type, diagnostics.get(address) or _first_diagnostic(mail))
            for bounce_type, addresses in ((BounceType.HARD, hard), (BounceType.SOFT, soft))
            for address in sorted(addresses)]


def _bounce_signal(mail: EmailMessage, report: str) -> str:
    """Why this is certainly a delivery report even when no failed address can be read from it ("" if not)."""
    if report and report not in ("feedback-report", "disposition-notification"):
        return f"delivery report (multipart/report; report-type={report})"
    display_name, address = parseaddr(_header(mail, "From"))
    local_part = address.rpartition("@")[0] if "@" in address else address
    if re.search(r"<\s*>", _header(mail, "From")):
        return "sent from the null sender <>"
    if BOUNCE_LOCAL_PART.match(local_part) or BOUNCE_DISPLAY_NAME.search(display_name):
        return f"sent by {address or display_name}"
    if BOUNCE_SUBJECT.match(_header(mail, "Subject")):
        return "a delivery report's subject"
    return ""


def _dsn_recipients(mail: EmailMessage) -> list[dict]:
    """Per-recipient fields of a DSN's message/delivery-status part (RFC 3464)."""
    found = []
    for part in mail.walk():
        if part.get_content_type() != "message/delivery-status" or not isinstance(part.get_payload(), list):
            continue
        for block in part.get_payload()[1:]:  # the first block is about the whole message
            recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
            status = str(block.get("Status") or "").strip()
            diagnostic = " ".join(str(block.get("Diagnostic-Code") or "").split())
            found.append({"address": normalise_email(recipient.rpartition(";")[2].strip(" <>")),
                          "action": str(block.get("Action") or "").strip().lower(), "status": status,
                          "detail": " ".join(filter(None, [status, diagnostic]))[:500]})
    return found


def _first_diagnostic(mail: EmailMessage) -> str:
    details = [r["detail"] for r in _dsn_recipients(mail) if r["detail"]]
    return details[0] if details else _header(mail, "Subject")[:200]


def _dsn_failures_without_address(mail: EmailMessage) -> list[Failure]:
    """A report flufl.bounce could read no address from: one failure with no address, hard when a DSN status
    says 5.x.x, else soft (recorded, ends nothing) — applied to the returned message's recipient, if known."""
    statuses = [r["status"] for r in _dsn_recipients(mail)]
    hard = any(s.startswith("5") for s in statuses)
    return [Failure("", BounceType.HARD if hard else BounceType.SOFT, _first_diagnostic(mail))]


def _returned_parts(mail: EmailMessage):
    """The headers of the original message a report returns (message/rfc822 or text/rfc822-headers)."""
    for part in mail.walk():
        content_type = part.get_content_type()
        try:
            if content_type in ("message/rfc822", "message/global") and isinstance(part.get_payload(), list):
                yield part.get_payload()[0]
            elif content_type in ("text/rfc822-headers", "message/rfc822-headers", "message/global-headers"):
                payload = part.get_payload(decode=True)
                text = payload.decode(errors="replace") if isinstance(payload, bytes) else str(part.get_payload())
                yield HeaderParser(policy=policy.default).parsestr(text, headersonly=True)
        except (LookupError, ValueError, TypeError, AttributeError):  # an undecodable part returns nothing
            continue


def _returned_ids(mail: EmailMessage) -> list[str]:
    ids = []
    for original in _returned_parts(mail):
        ids += _ids(_header(original, "Message-ID"))
    return list(dict.fromkeys(ids + _ids(_header(mail, "In-Reply-To")) + _ids(_header(mail, "References"))))


def _complaint_recipient(mail: EmailMessage) -> str:
    for part in mail.walk():
        if part.get_content_type() == "message/feedback-report":
            fields = part.get_payload() if isinstance(part.get_payload(), list) else []
            for block in fields:
                for name in ("Original-Rcpt-To", "Removal-Recipient"):
                    if block.get(name):
                        return _address(str(block.get(name)))
    for original in _returned_parts(mail):
        recipients = getaddresses([_header(original, "To")])
        if recipients and recipients[0][1]:
            return normalise_email(recipients[0][1])
    return ""


def _feedback_detail(mail: EmailMessage) -> str:
    for part in mail.walk():
        if part.get_content_type() == "message/feedback-report" and isinstance(part.get_payload(), list):
            for block in part.get_payload():
                if block.get("Feedback-Type"):
                    return f"complaint (feedback type {str(block.get('Feedback-Type')).strip()})"
    return "complaint (feedback report)"


def _auto_reply_signal(mail: EmailMessage, report: str) -> str:
    """Why this is an automatic answer ("" if it reads as a person's reply)."""
    auto_submitted = _header(mail, "Auto-Submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if _header(mail, name) and _header(mail, name).lower() != "no":
            return f"{name} header"
    for name in ("Precedence", "X-Precedence"):
        if _header(mail, name).lower() in ("auto_reply", "bulk", "junk"):
            return f"{name}: {_header(mail, name).lower()}"
    if _header(mail, "X-Autogenerated").lower() == "reply":
        return "X-Autogenerated: Reply"
    # Exchange's out-of-office and rule answers; X-MS-Exchange-Inbox-Rules-Loop alone is also on rule forwards.
    if _header(mail, "X-MS-Exchange-Generated-Message-Source").lower() == "mailbox rules agent":
        return "generated by Exchange's mailbox rules agent"
    if report == "disposition-notification":
        return "a read receipt (disposition notification)"
    if AUTO_REPLY_SUBJECT.search(_header(mail, "Subject")):
        return "an out-of-office subject"
    if AUTO_REPLY_BODY.search(new_text(mail)[:AUTO_REPLY_BODY_WINDOW]):
        return "an out-of-office text"
    return ""


def new_text(mail: EmailMessage) -> str:
    """The text the sender wrote, without the quoted message it answers (plain text, else the HTML's text)."""
    try:
        body = mail.get_body(preferencelist=("plain", "html"))
        text = body.get_content() if body is not None else ""
    except (LookupError, ValueError, KeyError, AttributeError):  # unknown charset or broken encoding
        return ""
    if body is not None and body.get_content_subtype() == "html":
        text = re.sub(r"(?is)<blockquote.*?</blockquote>|<(style|script|head).*?</\2>", " ", text)
        text = html.unescape(re.sub(r"(?s)<br\s*/?>|</p>|</div>", "\n", text))
        text = re.sub(r"(?s)<[^>]+>", " ", text)
    quote = QUOTE_START.search(text)
    return (text[:quote.start()] if quote else text).strip()


# ---- 3. matching and applying -------------------------------------------------------------------------------

def inbound_process(raw: bytes, *, account=None, now: datetime | None = None) -> InboundResult:
    """Classify one raw email and apply it. `account` limits matching to one account (the API token's, the
    command's --account); without it the account comes from the message it answers or returns, else from the
    contacts its addresses belong to. Raises InboundError when the bytes are not an email."""
    now = now or timezone.now()
    mail = mail_parse(raw)
    classified = mail_classify(mail, raw)
    with scopes_disabled():
        threads = list(SentMessage.all_accounts.select_related("account", "enrollment__contact")
                       .filter(message_id__in=classified.references).order_by("-sent_at", "-id"))
        accounts = [account] if account is not None else _accounts_for(classified, threads)
    if not accounts:
        return InboundResult(UNMATCHED, detail="no account knows this message or its sender")
    results = []
    with transaction.atomic():  # all accounts or none: a retry then finds nothing half-applied
        for target in accounts:
            with scope(account=target):
                results.append(_process_in_account(
                    mail, raw, classified, target, [t for t in threads if t.account_id == target.pk], now))
    return _merge(results)


def _accounts_for(classified: Classified, threads: list[SentMessage]) -> list:
    """Accounts to apply a message in when none is given (runs with scopes disabled): the account of the sent
    message it refers to; else those where its addresses have running enrollments; else those that know the
    addresses (where it is only kept, as unmatched)."""
    if threads:
        return [threads[0].account]
    addresses = [f.address for f in classified.failures if f.address] if classified.kind in (BOUNCE, COMPLAINT) \
        else [classified.sender]
    addresses = [a for a in addresses if a]
    if not addresses:
        return []
    of_address = Q(contact__email__in=addresses) | Q(contact__other_emails__email__in=addresses)
    running = Enrollment.all_accounts.filter(of_address, status__in=RUNNING_STATUSES)
    known = Contact.all_accounts.filter(Q(email__in=addresses) | Q(other_emails__email__in=addresses))
    account_ids = set(running.values_list("account_id", flat=True)) or set(known.values_list("account_id", flat=True))
    return list(Account.objects.filter(pk__in=account_ids).order_by("pk"))


def _merge(results: list[InboundResult]) -> InboundResult:
    applied = [r for r in results if r.classification not in (UNMATCHED, DUPLICATE)]
    if not applied:
        return results[0] if all(r.classification == DUPLICATE for r in results) else \
            next(r for r in results if r.classification == UNMATCHED)
    return InboundResult(applied[0].classification, [i for r in applied for i in r.enrollment_ids],
                         "; ".join(dict.fromkeys(r.detail for r in applied if r.detail)))


def _process_in_account(mail: EmailMessage, raw: bytes, classified: Classified, account, threads: list[SentMessage],
                        now: datetime) -> InboundResult:
    """Claim the message in `account` (the unique Message-ID makes a second arrival a no-op), then apply it."""
    try:
        with transaction.atomic():
            stored = InboundMessage.objects.create(
                account=account, message_id=classified.message_id, from_email=classified.sender[:254],
                subject=classified.subject, classification=UNMATCHED, raw=raw, received_at=now)
    except IntegrityError:  # processed before, or right now by another worker: its result stands
        before = InboundMessage.objects.filter(account=account, message_id=classified.message_id).first()
        return InboundResult(DUPLICATE, detail=f"processed before, as {before.classification if before else '?'}")
    result = _apply(classified, account, threads, now)
    stored.classification = result.classification
    stored.enrollment_id = result.enrollment_ids[0] if result.enrollment_ids else None
    stored.save(update_fields=["classification", "enrollment"])
    return result


def _apply(classified: Classified, account, threads: list[SentMessage], now: datetime) -> InboundResult:
    if SentMessage.objects.filter(account=account, message_id=classified.message_id).exists():
        return InboundResult(UNMATCHED, detail="this is one of our own sent emails (a copy, not an answer)")
    if classified.kind in (BOUNCE, COMPLAINT):
        return _apply_bounce(classified, account, threads, now)
    if Inbox.objects.filter(account=account, from_email__iexact=classified.sender).exists():
        return InboundResult(UNMATCHED, detail=f"{classified.sender} is one of our own inboxes")
    contact = _contact(account, classified.sender)
    if contact is None and threads:
        contact = threads[0].enrollment.contact  # another address of theirs, answering inside our thread
    if contact is None:
        return InboundResult(UNMATCHED, detail=f"{classified.sender or 'the sender'} is not a contact")
    message = next((t for t in threads if t.enrollment.contact_id == contact.pk), None)
    if classified.kind == AUTO_REPLY:
        return _apply_auto_reply(classified, contact, message, now)
    if not services.running_enrollments_touched_by(contact):
        return InboundResult(UNMATCHED, detail=f"{contact.email} has no running enrollment")
    ended = services.contact_replied(contact=contact, at=now, message=message, detail=classified.subject[:200])
    return InboundResult(REPLY, [e.pk for e in ended], classified.subject[:200])


def _apply_auto_reply(classified: Classified, contact: Contact, message: SentMessage | None,
                      now: datetime) -> InboundResult:
    if message is not None and message.enrollment.status not in RUNNING_STATUSES:
        message = None  # it answers an email of an enrollment that has ended: record it on the running ones
    targets = [message.enrollment_id] if message is not None else list(
        Enrollment.objects.filter(contact=contact, status__in=RUNNING_STATUSES).values_list("pk", flat=True))
    if not targets:
        return InboundResult(UNMATCHED, detail=f"auto-reply from {contact.email}, who has no running enrollment")
    services.contact_auto_replied(contact=contact, at=now, message=message, detail=classified.subject[:200])
    return InboundResult(AUTO_REPLY, sorted(targets), classified.reason)


def _apply_bounce(classified: Classified, account, threads: list[SentMessage], now: datetime) -> InboundResult:
    enrollment_ids, details = [], []
    for failure in classified.failures:
        message = next((t for t in threads if normalise_email(t.to_email) == failure.address), None)
        contact = _contact(account, failure.address) if failure.address else None
        if contact is None and threads and (len(classified.failures) == 1 or not failure.address):
            # The report names an address that is no contact (a forward target, a rewritten address) or none
            # at all, but returns our email: it is that email's bounce.
            message = threads[0]
            contact = message.enrollment.contact
        if contact is None:
            continue
        if message is not None and message.enrollment.contact_id != contact.pk:
            message = None
        ended = services.contact_bounced(contact=contact, bounce_type=failure.bounce_type, at=now, message=message,
                                         detail=failure.detail)
        if failure.bounce_type == BounceType.SOFT:
            enrollment_ids += [message.enrollment_id] if message is not None else []
        else:
            enrollment_ids += [e.pk for e in ended]
        details.append(f"{contact.email}: {failure.bounce_type}" + (f" ({failure.detail})" if failure.detail else ""))
    if not details:
        addresses = ", ".join(f.address for f in classified.failures if f.address) or "no readable address"
        return InboundResult(UNMATCHED, detail=f"{classified.kind} for {addresses}: no contact of this account")
    return InboundResult(classified.kind, enrollment_ids, "; ".join(details)[:1000])


def _contact(account, email: str) -> Contact | None:
    return contact_by_email(account, email)


# ---- IMAP ---------------------------------------------------------------------------------------------------

@dataclass
class PollResult:
    processed: list[tuple[bytes, InboundResult]] = field(default_factory=list)  # (IMAP UID, result)
    unreadable: list[tuple[bytes, str]] = field(default_factory=list)  # (UID, why): marked \Seen, left in place
    failed: list[tuple[bytes, str]] = field(default_factory=list)  # (UID, error): left unseen for the next poll


def mailbox_poll(imap: imaplib.IMAP4, *, folder: str, account) -> PollResult:
    """Process the UNSEEN messages of `folder` on a logged-in IMAP connection. Each is fetched with BODY.PEEK
    (which leaves it unseen) and flagged \\Seen only after its processing has committed, so a crash in between
    leaves it for the next poll — where, if it had committed, it is a harmless duplicate."""
    typ, data = imap.select(_quote_mailbox(folder))
    if typ != "OK":
        raise imaplib.IMAP4.error(f"cannot open folder {folder!r}: {_text(data)}")
    typ, data = imap.uid("SEARCH", None, "UNSEEN")
    if typ != "OK":
        raise imaplib.IMAP4.error(f"cannot search folder {folder!r}: {_text(data)}")
    result = PollResult()
    for uid in (data[0] or b"").split():
        size = _fetch_size(imap, uid)
        if size is not None and size > MAX_BYTES:
            result.unreadable.append((uid, f"larger than {MAX_BYTES // (1024 * 1024)} MB ({size} bytes)"))
            _flag_seen(imap, uid)
            continue
        raw = _fetch_body(imap, uid)
        try:
            processed = inbound_process(raw, account=account)
        except InboundError as error:
            result.unreadable.append((uid, str(error)))
        except Exception as error:  # noqa: BLE001 — e.g. the database went away: keep it unseen, go on
            logger.exception("processing IMAP message %s failed", uid.decode())
            result.failed.append((uid, f"{type(error).__name__}: {error}"))
            continue
        else:
            result.processed.append((uid, processed))
        _flag_seen(imap, uid)
    return result


def _flag_seen(imap: imaplib.IMAP4, uid: bytes) -> None:
    # Unchecked, a server refusing the flag would have every poll process the message again (as a duplicate).
    typ, data = imap.uid("STORE", uid, "+FLAGS", "(\\Seen)")
    if typ != "OK":
        raise imaplib.IMAP4.error(f"cannot flag message {uid.decode()} \\Seen: {_text(data)}")


def _quote_mailbox(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data) -> str:
    return " ".join(d.decode(errors="replace") if isinstance(d, bytes) else str(d) for d in data or [])


def _fetch_size(imap: imaplib.IMAP4, uid: bytes) -> int | None:
    typ, data = imap.uid("FETCH", uid, "(RFC822.SIZE)")
    found = re.search(rb"RFC822\.SIZE (\d+)", b" ".join(d for d in data or [] if isinstance(d, bytes)))
    return int(found.group(1)) if typ == "OK" and found else None


def _fetch_body(imap: imaplib.IMAP4, uid: bytes) -> bytes:
    typ, data = imap.uid("FETCH", uid, "(BODY.PEEK[])")
    if typ != "OK":
        raise imaplib.IMAP4.error(f"cannot fetch message {uid.decode()}: {_text(data)}")
    # imaplib answers [(b'1 (UID 7 BODY[] {1234}', b'<the message>'), b')']
    return next((d[1] for d in data if isinstance(d, tuple) and len(d) == 2), b"")
