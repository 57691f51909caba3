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

import html
import json
import re
from dataclasses import dataclass
from email.message import EmailMessage
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


def build_mime(*, message_pk: int, message_id: str, rendered: RenderedEmail, from_name: str, from_email: str,
               to_email: str, reply_to: str = "", in_reply_to: str = "", thread_subject: str = "",
               esp_providers: frozenset[str] = frozenset()) -> EmailMessage:
    """The MIME message of one sent email. `message_pk` signs the tracking links; with `in_reply_to` the
    email threads under it and its subject becomes "Re: <thread_subject>". `esp_providers` are the providers
    the account takes webhooks from: each gets the header that makes it echo the Message-ID in its events
    (docs/esp-webhooks.md), and no other provider's header is added."""
    subject = f"Re: {thread_subject}" if in_reply_to and thread_subject else rendered.subject
    mime = EmailMessage()
    mime["From"] = formataddr((from_name, from_email))
    mime["To"] = to_email
    mime["Subject"] = subject
    mime["Date"] = format_datetime(timezone.now())
    mime["Message-ID"] = message_id
    if reply_to:
        mime["Reply-To"] = reply_to
    if in_reply_to:
        mime["In-Reply-To"] = in_reply_to
        mime["References"] = in_reply_to
    mime["X-Touchline-Message"] = message_id  # Amazon SES echoes it with "include original headers"
    if "sendgrid" in esp_providers:
        mime["X-SMTPAPI"] = json.dumps({"unique_args": {"touchline_message": message_id}})
    if "mailgun" in esp_providers:
        mime["X-Mailgun-Variables"] = json.dumps({"touchline_message": message_id})
    if "postmark" in esp_providers:
        mime["X-PM-Metadata-touchline_message"] = message_id
    unsubscribe = tokens.unsubscribe_url(message_pk)
    mime["List-Unsubscribe"] = f"<{unsubscribe}>"
    mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"

    def link(url: str) -> str:
        return tokens.click_url(message_pk, url)

    text = URL.sub(lambda m: link(m.group(0)), rendered.text)
    mime.set_content(text + "\n")
    pixel = f'<img src="{html.escape(tokens.open_pixel_url(message_pk))}" width="1" height="1" alt="" ' \
            'style="display:block;border:0;width:1px;height:1px">'
    mime.add_alternative(f"<!doctype html>\n<html><body>\n{_html_body(rendered.text, link)}\n{pixel}\n</body></html>\n",
                         subtype="html")
    return mime
