"""Personalisation tokens: values, fallbacks, and the clear error when neither exists."""

import html
import io
import json
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from unittest import mock

import pytest
from django.utils import timezone

from touchline.sequences import tokens
from touchline.sequences.rendering import (
    URL,
    RenderedEmail,
    RenderError,
    _html_body,
    build_mime,
    header_line,
    render_text,
    template_tokens_check,
)

VALUES = {
    "contact": {"first_name": "Grace", "last_name": "", "full_name": "Grace", "email": "grace@navy.test",
                "job_title": "", "phone": ""},
    "company": {"name": "US Navy", "domain": "navy.test", "industry": ""},
    "sender": {"first_name": "Ada", "last_name": "Lovelace", "full_name": "Ada Lovelace", "email": "ada@acme.test"},
}


def test_render_text_fills_tokens_with_the_recipients_values():
    assert render_text("Hi {{contact.first_name}} at {{ company.name }}, {{ sender.full_name }}", VALUES) == \
        "Hi Grace at US Navy, Ada Lovelace"


def test_render_text_uses_the_fallback_when_the_value_is_empty():
    assert render_text("Dear {{ contact.job_title | colleague }},", VALUES) == "Dear colleague,"
    assert render_text("{{ contact.last_name | }}!", VALUES) == "!"  # an empty fallback is a fallback


def test_render_text_blocks_the_send_when_an_empty_value_has_no_fallback():
    with pytest.raises(RenderError, match=r"contact.job_title is empty and the token \{\{ contact.job_title \}\}"):
        render_text("As {{ contact.job_title }} you", VALUES)


def test_template_tokens_check_names_unknown_tokens():
    assert template_tokens_check("{{ contact.first_name }} {{ contact.shoe_size }} {{ deal.amount | 0 }}") == [
        "{{ contact.shoe_size }}", "{{ deal.amount | 0 }}"]


def test_html_body_escapes_text_makes_paragraphs_and_rewrites_every_link():
    body = _html_body("Hi <b>you</b> & co,\n\nSee https://acme.test/a?x=1&y=2.\nBye", lambda url: f"T({url})")
    assert body == ('<p>Hi &lt;b&gt;you&lt;/b&gt; &amp; co,</p>\n'
                    '<p>See <a href="T(https://acme.test/a?x=1&amp;y=2)">https://acme.test/a?x=1&amp;y=2</a>.<br>\n'
                    'Bye</p>')


# The MIME message -------------------------------------------------------------------------------------------------


def reference_mime(*, message_pk, message_id, rendered, from_name, from_email, to_email, reply_to="",
                   in_reply_to="", thread_subject="", esp_providers=frozenset()) -> bytes:
    """The message as the stdlib's EmailMessage builds and smtplib serialises it (build_mime until it wrote the
    bytes itself): what a reader must keep getting."""
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
    mime["X-Touchline-Message"] = message_id
    if "sendgrid" in esp_providers:
        mime["X-SMTPAPI"] = json.dumps({"unique_args": {"touchline_message": message_id}})
    if "mailgun" in esp_providers:
        mime["X-Mailgun-Variables"] = json.dumps({"touchline_message": message_id})
    if "postmark" in esp_providers:
        mime["X-PM-Metadata-touchline_message"] = message_id
    mime["List-Unsubscribe"] = f"<{tokens.unsubscribe_url(message_pk)}>"
    mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"

    def link(url):
        return tokens.click_url(message_pk, url)

    mime.set_content(URL.sub(lambda m: link(m.group(0)), rendered.text) + "\n")
    pixel = f'<img src="{html.escape(tokens.open_pixel_url(message_pk))}" width="1" height="1" alt="" ' \
            'style="display:block;border:0;width:1px;height:1px">'
    mime.add_alternative(f"<!doctype html>\n<html><body>\n{_html_body(rendered.text, link)}\n{pixel}\n</body></html>\n",
                         subtype="html")
    out = io.BytesIO()
    BytesGenerator(out).flatten(mime, linesep="\r\n")
    return out.getvalue()


def read(raw: bytes):
    """What a mail client reads: every header decoded, and the content of each part."""
    mail = message_from_bytes(raw, policy=policy.default)
    headers = [(name, str(value)) for name, value in mail.items() if name not in ("Content-Type",)]
    parts = [(part.get_content_type(), part.get_content_charset(), part.get_content()) for part in mail.iter_parts()]
    return mail.get_content_type(), headers, parts


MIME_CASES = {
    "plain": dict(rendered=RenderedEmail("Quick question, Grace", "Hi Grace,\n\nSee https://acme.test/tour?ref=seq.\n\n"
                                                                   "Ada"), from_name="Ada Lovelace"),
    "non-ascii name and subject": dict(
        rendered=RenderedEmail("Grüße aus Köln, Jürgen — 東京でお会いしましょう", "Hallo Jürgen,\n\nbis bald in Köln."),
        from_name="Zoë Ångström-Ölund"),
    "long ascii subject folds": dict(
        rendered=RenderedEmail("A subject long enough to need folding at a space somewhere, since it runs past "
                               "seventy-eight characters: " + "x" * 100, "Short."), from_name="Ada Lovelace"),
    "threaded follow-up with every provider": dict(
        rendered=RenderedEmail("ignored", "Any thoughts?"), from_name='Ada "the Countess" Lovelace, Ltd.',
        reply_to="replies@acme.test", in_reply_to="<1.2@acme.test>", thread_subject="Quick question, Grace",
        esp_providers=frozenset({"sendgrid", "mailgun", "postmark"})),
    "bodies that need encoding": dict(
        rendered=RenderedEmail("=?utf-8?q?looks_encoded?= but is not",
                               "Trailing space \n.dot-led line\nFrom the start\n" + "long " * 40 + "\n\n"
                               "a=b & <c> " + "ü" * 90 + "\n\n" + "日本語のテキスト" * 20),
        from_name="Ada"),
}


@pytest.mark.parametrize("case", list(MIME_CASES))
def test_build_mime_gives_a_reader_the_message_the_stdlib_builds_when_written_directly(case, settings):
    settings.PUBLIC_URL = "https://touchline.example"
    fields = dict(message_pk=4711, message_id="<177.42@acme.test>", from_email="ada@acme.test",
                  to_email="grace@navy.test") | MIME_CASES[case]
    now = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
    # One instant for both: the Date header and the signed links' timestamps.
    with mock.patch("touchline.sequences.rendering.timezone.now", return_value=now), \
            mock.patch("django.core.signing.time.time", return_value=now.timestamp()):
        raw, reference = build_mime(**fields), reference_mime(**fields)
    assert read(raw) == read(reference)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n")) and b"\n" not in raw.replace(b"\r\n", b"")
    unsubscribe = next(line for line in raw.split(b"\r\n") if line.startswith(b"List-Unsubscribe:"))
    assert unsubscribe.startswith(b"List-Unsubscribe: <https://touchline.example/t/")  # never an encoded word


def test_header_line_folds_long_ascii_at_spaces_and_keeps_a_long_word_whole():
    value = "word " * 30 + "x" * 120
    line = header_line("Subject", value)
    lines = line.removesuffix("\r\n").split("\r\n")
    assert all(len(part) <= 78 for part in lines[:-1]) and lines[-1] == " " + "x" * 120
    assert "".join(lines) == f"Subject: {value}"  # unfolding (removing the CRLFs) gives the value back
    assert header_line("To", "grace@navy.test") == "To: grace@navy.test\r\n"
