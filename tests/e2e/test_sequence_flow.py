"""The newcomer's flow in Chromium: build a sequence, enroll contacts, see the email in the outbox, a reply
ends that enrollment; then pause two enrollments from the Enrollments tab. The worker's tick and the reply's
arrival are run in the test process — the same functions the worker and `touchline inbound` call."""

from __future__ import annotations

import pytest
from django.utils import timezone
from django_scopes import scope
from playwright.sync_api import expect

from touchline.crm import services as crm
from touchline.sequences.inbound import inbound_process
from touchline.sequences.mailsink import MailSink
from touchline.sequences.models import SentMessage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sink(settings, tmp_path):
    server = MailSink(directory=tmp_path / "mailsink").start()
    settings.SMTP_URL, settings.VAR_DIR = server.url, tmp_path
    yield server
    server.stop()


def test_build_enroll_send_reply_and_pause(logged_in_page, page_errors, account, user, sink):
    from touchline.sequences.sending import sequences_tick

    with scope(account=account):
        for name in ("Grace", "Alan", "Edsger"):
            crm.contact_create(account=account, email=f"{name.lower()}@example.test", first_name=name,
                               last_name="Test")
    page = logged_in_page
    page.goto("/sequences/")
    page.get_by_role("button", name="New sequence").click()
    page.get_by_label("Name").fill("Newcomer outbound")
    page.get_by_label("Send window start").fill("00:00")
    page.get_by_label("Send window end").fill("23:59")
    page.get_by_label("Business days only").uncheck()
    page.get_by_role("button", name="Create").click()
    page.get_by_label("Subject").fill("Hello {{ contact.first_name | there }}")
    page.get_by_label("Body").fill("Hi {{ contact.first_name | there }}, see https://acme.test/tour")
    page.get_by_role("button", name="Add step").click()
    expect(page.locator("ol.steps")).to_contain_text("Automated email")
    page.get_by_label("Type").select_option("call")
    page.get_by_label("Delay (days after the previous step)").fill("2")
    page.get_by_label("Task title").fill("Call about the tour")
    page.get_by_role("button", name="Add step").click()
    expect(page.locator("ol.steps li")).to_have_count(2)

    page.get_by_role("button", name="Enroll contacts").click()
    for name in ("Grace", "Alan", "Edsger"):
        page.get_by_label(f"Select {name} Test").check()
    page.get_by_role("button", name="Enroll selected").click()
    expect(page.get_by_role("status")).to_contain_text("3 enrolled.")

    assert sequences_tick(now=timezone.now()).sent == 3
    page.goto("/outbox/")
    expect(page.locator("tbody tr")).to_have_count(3)
    expect(page.locator("tbody")).to_contain_text("Hello Grace")

    with scope(account=account):
        grace_message = SentMessage.objects.get(to_email="grace@example.test")
    reply = (f"From: Grace Test <grace@example.test>\r\nTo: {user.email}\r\nSubject: Re: Hello Grace\r\n"
             f"Message-ID: <reply-1@example.test>\r\nIn-Reply-To: {grace_message.message_id}\r\n"
             "Content-Type: text/plain\r\n\r\nSounds good, call me.\r\n").encode()
    assert inbound_process(reply).classification == "reply"

    page.goto("/sequences/")
    page.get_by_role("link", name="Newcomer outbound").click()
    page.get_by_role("button", name="Enrollments").click()
    expect(page.locator("tbody tr", has_text="Grace")).to_contain_text("Replied")
    page.get_by_label("Select Alan Test").check()
    page.get_by_label("Select Edsger Test").check()
    page.get_by_label("Action").select_option("pause")
    page.get_by_role("button", name="Apply to selected").click()
    expect(page.get_by_role("status")).to_contain_text("Alan Test: done")
    expect(page.locator("tbody tr", has_text="Edsger")).to_contain_text("Paused")
    assert page_errors.messages == []
