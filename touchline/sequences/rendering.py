"""Personalised emails: tokens in templates, and the MIME message a step sends.

Tokens look like `{{ contact.first_name }}` or, with a fallback after the bar, `{{ contact.first_name | there }}`.
Only the fields in TOKEN_FIELDS exist; an unknown token is refused when the template is saved. At send time
a token whose value is empty uses its fallback, and without one the send is blocked with an error naming the
token (the enrollment ends as `error`, SPEC §1) — a "Hi ," email is worse than none.

The message is real MIME: text and HTML alternatives, a Message-ID on the sender's domain, In-Reply-To and
References when follow-ups thread under the first email, every link rewritten to a signed click redirect,
an open pixel, and `List-Unsubscribe` with one-click `List-Unsubscribe-Post` (RFC 8058).
"""

from __future__ import annotations

import binascii
import email.policy
import functools
import html
import json
import re
import secrets
from dataclasses import dataclass
from email.utils import format_datetime, formataddr, make_msgid

from django.utils import timezone

from touchline.sequences import tokens

TOKEN = re.compile(r"\{\{\s*([a-z_]+)\.([a-z_]+)\s*(?:\|\s*([^}]*?)\s*)?\}\}")
URL = re.compile(r"https?://[^\s<>\"')\]]+[^\s<>\"')\].,;:!?]")

TOKEN_FIELDS: dict[str, tuple[str, ...]] = {
    "contact": ("first_name", "last_name", "full_name", "email", "job_title", "phone"),
    "company": ("name", "domain", "industry"),
    "sender": ("first_name", "last_name", "full_name", "email"),
}


class RenderError(ValueError):
    """A token has no value and no fallback, or does not exist."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str


def template_tokens_check(text: str) -> list[str]:
    """The unknown tokens of `text`, as written, for a validation message."""
    return [m.group(0) for m in TOKEN.finditer(text) if m.group(2) not in TOKEN_FIELDS.get(m.group(1), ())]


def token_values(*, contact, company, sender_user, inbox) -> dict[str, dict[str, str]]:
    sender_first = (sender_user.first_name if sender_user else "") or inbox.from_name.split(" ")[0]
    sender_last = (sender_user.last_name if sender_user else "") or " ".join(inbox.from_name.split(" ")[1:])
    return {
        "contact": {"first_name": contact.first_name, "last_name": contact.last_name,
                    "full_name": f"{contact.first_name} {contact.last_name}".strip(), "email": contact.email,
                    "job_title": contact.job_title, "phone": contact.phone},
        "company": {"name": company.name if company else "", "domain": company.domain if company else "",
                    "industry": company.industry if company else ""},
        "sender": {"first_name": sender_first, "last_name": sender_last,
                   "full_name": inbox.from_name or f"{sender_first} {sender_last}".strip(),
                   "email": inbox.from_email},
    }


def render_text(text: str, values: dict[str, dict[str, str]]) -> str:
    def substitute(match: re.Match) -> str:
        group, field, fallback = match.group(1), match.group(2), match.group(3)
        if field not in TOKEN_FIELDS.get(group, ()):
            raise RenderError(f"unknown token {match.group(0)}")
        value = (values[group].get(field) or "").strip()
        if value:
            return value
        if fallback is not None:
            return fallback
        raise RenderError(f"{group}.{field} is empty and the token {match.group(0)} has no fallback")

    return TOKEN.sub(substitute, text)


def render_email(*, subject: str, body: str, values: dict[str, dict[str, str]]) -> RenderedEmail:
    return RenderedEmail(subject=render_text(subject, values).strip(), text=render_text(body, values).strip())


def _html_body(text: str, link: callable) -> str:
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        escaped, last = [], 0
        for match in URL.finditer(block):
            escaped.append(html.escape(block[last:match.start()]))
            url = match.group(0)
            escaped.append(f'<a href="{html.escape(link(url))}">{html.escape(url)}</a>')
            last = match.end()
        escaped.append(html.escape(block[last:]))
        paragraphs.append("<p>" + "".join(escaped).replace("\n", "<br>\n") + "</p>")
    return "\n".join(paragraphs)


def message_id_for(from_email: str) -> str:
    return make_msgid(domain=from_email.rpartition("@")[2] or "touchline.local")


# The policy of the headers the fast path below does not write itself (non-ASCII text, encoded-word look-alikes):
# the stdlib's own folding and RFC 2047 encoding, exactly what an EmailMessage would send.
_POLICY = email.policy.default.clone(linesep="\r\n")
_POLICY_UTF8 = _POLICY.clone(utf8=True)
MAX_HEADER_LINE = 78  # RFC 5322's "SHOULD"; a word longer than that stays whole on its own line (< 998)


@functools.lru_cache(maxsize=4096)
def _header_by_policy(name: str, value: str, utf8: bool) -> str:
    policy = _POLICY_UTF8 if utf8 else _POLICY
    return policy.header_factory(name, value).fold(policy=policy)


def header_line(name: str, value: str, *, utf8: bool = False) -> str:
    """`Name: value` folded for the wire, ending in CRLF. Printable ASCII (the common case: addresses, ids, URLs,
    most subjects) is folded here at spaces, without parsing; anything else (non-ASCII, control characters,
    text that looks like an RFC 2047 encoded word) goes through the stdlib's header classes — cached, since
    the same From line or subject comes back message after message."""
    if not (value.isascii() and value.isprintable()) or "=?" in value:
        return _header_by_policy(name, value, utf8)
    line = f"{name}: {value}"
    if len(line) <= MAX_HEADER_LINE:
        return line + "\r\n"
    # Folding puts a CRLF before a space, so unfolding gives the value back exactly.
    lines, current = [], f"{name}:"
    for word in value.split(" "):
        if word and len(current) + 1 + len(word) > MAX_HEADER_LINE and current.strip() and current != f"{name}:":
            lines.append(current)
            current = ""
        current += " " + word
    lines.append(current)
    return "\r\n".join(lines) + "\r\n"


def _body(text: str) -> tuple[str, bytes]:
    """The transfer encoding and encoded bytes of a text part, chosen as the stdlib's content manager chooses:
    7bit when it is ASCII in short lines, else the shorter of quoted-printable and base64. Lines end in CRLF."""
    lines = text.encode("utf-8").splitlines()
    data = b"\r\n".join(lines) + b"\r\n"
    if data.isascii() and max(map(len, lines), default=0) <= MAX_HEADER_LINE:
        return "7bit", data
    qp = binascii.b2a_qp(data, istext=True)
    # As the stdlib does, base64 carries the text with bare LF line ends (a reader gets the same content).
    plain = b"\n".join(lines) + b"\n"
    b64 = b"".join(binascii.b2a_base64(plain[i:i + 57], newline=False) + b"\r\n" for i in range(0, len(plain), 57))
    return ("quoted-printable", qp) if len(qp) <= len(b64) else ("base64", b64)


def _part(subtype: str, text: str) -> bytes:
    encoding, data = _body(text)
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n'
            .encode("ascii") + data)


def build_mime(*, message_pk: int, message_id: str, rendered: RenderedEmail, from_name: str, from_email: str,
               to_email: str, reply_to: str = "", in_reply_to: str = "", thread_subject: str = "",
               esp_providers: frozenset[str] = frozenset(), utf8: bool = False) -> bytes:
    """The MIME message of one sent email, as the bytes handed to SMTP (CRLF line ends; smtplib adds the
    dot-stuffing). `message_pk` signs the tracking links; with `in_reply_to` the email threads under it and its
    subject becomes "Re: <thread_subject>". `esp_providers` are the providers the account takes webhooks from:
    each gets the header that makes it echo the Message-ID in its events (docs/esp-webhooks.md), and no other
    provider's header is added. `utf8` when the addresses need SMTPUTF8: headers then carry UTF-8 as it is.

    Written directly rather than through EmailMessage, whose parsing of every header it stores and
    re-serialisation on send were most of the cost of an email; `test_rendering.py` proves a reader gets the
    same message either way (headers, both alternatives, non-ASCII names and subjects)."""
    subject = f"Re: {thread_subject}" if in_reply_to and thread_subject else rendered.subject
    headers = [("From", formataddr((from_name, from_email))), ("To", to_email), ("Subject", subject),
               ("Date", format_datetime(timezone.now())), ("Message-ID", message_id)]
    if reply_to:
        headers.append(("Reply-To", reply_to))
    if in_reply_to:
        headers += [("In-Reply-To", in_reply_to), ("References", in_reply_to)]
    headers.append(("X-Touchline-Message", message_id))  # Amazon SES echoes it with "include original headers"
    if "sendgrid" in esp_providers:
        headers.append(("X-SMTPAPI", json.dumps({"unique_args": {"touchline_message": message_id}})))
    if "mailgun" in esp_providers:
        headers.append(("X-Mailgun-Variables", json.dumps({"touchline_message": message_id})))
    if "postmark" in esp_providers:
        headers.append(("X-PM-Metadata-touchline_message", message_id))
    # RFC 2369/8058: the URL in angle brackets as it is (never an encoded word, which no mailbox provider reads).
    headers += [("List-Unsubscribe", f"<{tokens.unsubscribe_url(message_pk)}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]

    links: dict[str, str] = {}  # the text and the HTML part link each URL through the same signed redirect

    def link(url: str) -> str:
        if url not in links:
            links[url] = tokens.click_url(message_pk, url)
        return links[url]

    text = URL.sub(lambda m: link(m.group(0)), rendered.text)
    pixel = f'<img src="{html.escape(tokens.open_pixel_url(message_pk))}" width="1" height="1" alt="" ' \
            'style="display:block;border:0;width:1px;height:1px">'
    parts = [_part("plain", text + "\n"),
             _part("html", f"<!doctype html>\n<html><body>\n{_html_body(rendered.text, link)}\n{pixel}\n"
                           "</body></html>\n")]
    boundary = _boundary(parts)
    head = "".join(header_line(name, value, utf8=utf8) for name, value in headers)
    head += f'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'
    delimiter = f"--{boundary}\r\n".encode("ascii")
    return (head.encode("utf-8") + b"".join(delimiter + part + b"\r\n" for part in parts)
            + f"--{boundary}--\r\n".encode("ascii"))


def _boundary(parts: list[bytes]) -> str:
    """A multipart boundary in the stdlib's shape that occurs in no part."""
    while True:
        boundary = f"{'=' * 15}{secrets.randbelow(10 ** 19):019d}=="
        if not any(boundary.encode("ascii") in part for part in parts):
            return boundary
