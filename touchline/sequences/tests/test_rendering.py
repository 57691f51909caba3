"""Personalisation tokens: values, fallbacks, and the clear error when neither exists."""

import pytest

from touchline.sequences.rendering import RenderError, _html_body, render_text, template_tokens_check

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
