"""Opens, clicks and unsubscribes through the public endpoints (Django's test client: the real HTTP stack and
middleware), and the person-or-machine verdict on each hit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope

from touchline.core.accounts import user_create
from touchline.core.models import Role
from touchline.crm.services import contact_create
from touchline.sequences import tokens, tracking
from touchline.sequences.models import (
    EmailSuppression,
    EmailTemplate,
    EngagementEvent,
    Enrollment,
    EnrollmentStatus,
    EventKind,
    Inbox,
    MessageStatus,
    SentMessage,
    Sequence,
    Step,
    StepType,
    SuppressionReason,
)
from touchline.sequences.public_views import PIXEL

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
          "Safari/537.36")
OUTLOOK = ("Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; .NET4.0E; "
           "Microsoft Outlook 16.0.5266; ms-office; MSOffice 16)")
APPLE_MAIL = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HEADLESS = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 "
            "Safari/537.36")


@dataclass
class Mail:
    """One sent email of a running enrollment, built with the ORM."""

    account: object
    enrollment: Enrollment
    message: SentMessage

    def sent_seconds_ago(self, seconds: float) -> None:
        with scope(account=self.account):
            SentMessage.objects.filter(pk=self.message.pk).update(
                sent_at=timezone.now() - timedelta(seconds=seconds))

    def events(self, kind: str) -> list[EngagementEvent]:
        """The message's events once the worker has recorded what the public endpoints queued."""
        tracking.pending_email_hits_drain()
        with scope(account=self.account):
            return list(EngagementEvent.objects.filter(message_id=self.message.pk, kind=kind).order_by("id"))

    def open_path(self) -> str:
        return reverse("sequences-public:open", kwargs={"token": tokens.open_token(self.message.pk)})

    def click_path(self, url: str = "https://acme.test/tour") -> str:
        return reverse("sequences-public:click", kwargs={"token": tokens.click_token(self.message.pk, url)})

    def unsubscribe_path(self) -> str:
        return reverse("sequences-public:unsubscribe", kwargs={"token": tokens.unsubscribe_token(self.message.pk)})


@pytest.fixture
def mail(account, user) -> Mail:
    """Grace, enrolled in a one-step sequence, whose email went out an hour ago."""
    with scope(account=account):
        contact = contact_create(account=account, email="grace@hopper.test", first_name="Grace")
        inbox = Inbox.objects.create(account=account, user=user, from_name="Ada Lovelace", from_email="ada@acme.test")
        sequence = Sequence.objects.create(account=account, name="Outbound Q1", owner=user)
        template = EmailTemplate.objects.create(account=account, name="Intro", subject="Quick question",
                                                body="Have a look at https://acme.test/tour")
        step = Step.objects.create(account=account, sequence=sequence, position=1,
                                   step_type=StepType.AUTOMATED_EMAIL, template=template)
        enrollment = Enrollment.objects.create(account=account, sequence=sequence, contact=contact, enrolled_by=user,
                                               inbox=inbox, current_step=step, status=EnrollmentStatus.ACTIVE)
        message = SentMessage.objects.create(
            account=account, enrollment=enrollment, step=step, template=template, inbox=inbox,
            message_id="<intro-1@acme.test>", to_email=contact.email, subject="Quick question",
            status=MessageStatus.SENT, sent_at=timezone.now() - timedelta(hours=1))
    return Mail(account, enrollment, message)


# Classification: the pure verdict -----------------------------------------------------------------------------

SENT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("kind", "agent", "ip", "seconds", "expected"), [
    ("open", CHROME, "203.0.113.7", 3600, (False, "")),
    ("open", OUTLOOK, "203.0.113.7", 3600, (False, "")),  # crawlerdetect alone would call Outlook a bot
    ("open", APPLE_MAIL, "203.0.113.7", 3600, (False, "")),
    ("open", "Mozilla/5.0", "203.0.113.7", 3600, (True, "apple_mpp")),
    ("open", CHROME, "17.58.101.4", 3600, (True, "apple_mpp")),  # Apple's network, whatever the agent
    ("open", GMAIL_PROXY, "66.249.84.1", 3600, (False, "")),  # fetched when the reader opens it
    ("open", GOOGLEBOT, "66.249.66.1", 3600, (True, "bot")),
    ("open", "python-requests/2.31.0", None, 3600, (True, "bot")),
    ("open", "", None, 3600, (True, "bot")),
    ("open", HEADLESS, "198.51.100.9", 3600, (True, "link_scanner")),
    ("open", CHROME, "203.0.113.7", 1, (True, "prefetch")),
    ("click", CHROME, "203.0.113.7", 2, (True, "link_scanner")),
    ("click", CHROME, "203.0.113.7", 9, (True, "link_scanner")),
    ("click", CHROME, "203.0.113.7", 10, (False, "")),  # SCANNER_SECONDS is exclusive
    ("click", CHROME, "203.0.113.7", 3600, (False, "")),
    ("click", CHROME, "17.58.101.4", 3600, (False, "")),  # Mail Privacy Protection never follows links
    ("click", OUTLOOK, "203.0.113.7", 3600, (True, "link_scanner")),  # a person's click opens a browser
    ("click", "Barracuda Sentinel (EE)", "198.51.100.9", 3600, (True, "link_scanner")),
    ("click", "Mozilla/5.0", "203.0.113.7", 3600, (True, "bot")),
    ("click", GOOGLEBOT, "66.249.66.1", 3600, (True, "bot")),
])
def test_hit_classify_gives_the_table_verdict_when_given_the_agent_ip_and_time_since_sending(
        kind, agent, ip, seconds, expected):
    verdict = tracking.hit_classify(kind=kind, user_agent=agent, ip=ip, sent_at=SENT,
                                    now=SENT + timedelta(seconds=seconds))
    assert (verdict.is_machine, verdict.reason) == expected


def test_hit_classify_calls_a_click_a_scanner_when_another_link_was_clicked_at_the_same_moment():
    verdict = tracking.hit_classify(kind="click", user_agent=CHROME, ip="203.0.113.7", sent_at=SENT,
                                    now=SENT + timedelta(hours=1), other_link_just_clicked=True)
    assert (verdict.is_machine, verdict.reason, verdict.detail) == (True, "link_scanner",
                                                                     "several links clicked at once")


def test_hit_classify_flags_a_gmail_proxy_open_as_human_via_the_proxy_when_the_agent_is_googleimageproxy():
    verdict = tracking.hit_classify(kind="open", user_agent=GMAIL_PROXY, ip="66.249.84.1", sent_at=SENT,
                                    now=SENT + timedelta(hours=1))
    assert verdict == tracking.Verdict(False, "", "via Gmail image proxy")


# The open pixel ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("agent", [CHROME, OUTLOOK])
def test_open_pixel_records_a_human_open_when_a_mail_client_or_browser_loads_it(client, mail, agent):
    response = client.get(mail.open_path(), headers={"user-agent": agent}, REMOTE_ADDR="203.0.113.7")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif" and response.content == PIXEL
    assert "no-store" in response["Cache-Control"] and "no-cache" in response["Cache-Control"]
    [event] = mail.events(EventKind.OPEN)
    assert (event.is_machine, event.machine_reason, event.user_agent, event.ip) == (False, "", agent, "203.0.113.7")
    assert (event.enrollment_id, event.step_id, event.sequence_id, event.contact_id) == (
        mail.enrollment.pk, mail.message.step_id, mail.enrollment.sequence_id, mail.enrollment.contact_id)


def test_open_pixel_records_a_machine_open_for_apple_mpp_when_the_agent_is_a_bare_mozilla(client, mail):
    client.get(mail.open_path(), headers={"user-agent": "Mozilla/5.0"})

    [event] = mail.events(EventKind.OPEN)
    assert (event.is_machine, event.machine_reason) == (True, "apple_mpp")


def test_open_pixel_records_a_machine_open_for_a_bot_when_the_agent_is_a_crawler(client, mail):
    client.get(mail.open_path(), headers={"user-agent": GOOGLEBOT})

    [event] = mail.events(EventKind.OPEN)
    assert (event.is_machine, event.machine_reason) == (True, "bot")


def test_open_pixel_answers_the_gif_and_records_nothing_when_the_token_is_bad(client, mail):
    good = tokens.open_token(mail.message.pk)
    bad_tokens = [good[:-2] + ("AA" if not good.endswith("AA") else "BB"),  # tampered signature
                  tokens.unsubscribe_token(mail.message.pk),  # signed for another purpose
                  "not-a-token", "x" * 5000]  # over the size limit: refused before any work
    for token in bad_tokens:
        response = client.get(reverse("sequences-public:open", kwargs={"token": token}),
                              headers={"user-agent": CHROME})
        assert (response.status_code, response["Content-Type"], response.content) == (200, "image/gif", PIXEL)
    assert mail.events(EventKind.OPEN) == []


def test_open_pixel_records_nothing_when_the_message_was_never_sent(client, mail):
    with scope(account=mail.account):
        SentMessage.objects.filter(pk=mail.message.pk).update(status=MessageStatus.FAILED, sent_at=None)

    response = client.get(mail.open_path(), headers={"user-agent": CHROME})

    assert response.content == PIXEL
    assert mail.events(EventKind.OPEN) == []


@pytest.mark.django_db(transaction=True)  # autocommit, as in production: no savepoint around the insert
def test_open_pixel_queues_with_one_insert_and_the_worker_records_with_one_lookup_and_one_insert(
        client, mail, django_assert_num_queries):
    with django_assert_num_queries(1):
        client.get(mail.open_path(), headers={"user-agent": CHROME})
    # Read the queue; the message with its counts; the event with its rollup (BEGIN, INSERT, UPDATE enrollment,
    # UPDATE message, COMMIT); then empty the queue (BEGIN, DELETE, COMMIT).
    with django_assert_num_queries(10):
        tracking.pending_email_hits_process()
    assert len(mail.events(EventKind.OPEN)) == 1


def test_open_pixel_records_nothing_when_the_request_is_a_head(client, mail):
    response = client.head(mail.open_path(), headers={"user-agent": CHROME})

    assert response.status_code == 200
    assert mail.events(EventKind.OPEN) == []


def test_open_pixel_records_in_the_messages_account_when_a_user_of_another_account_is_logged_in(
        client, mail, other_account):
    client.force_login(user_create(username="bob", email="bob@globex.test", password="another long passphrase",
                                   account=other_account, role=Role.ADMIN))

    client.get(mail.open_path(), headers={"user-agent": CHROME})

    [event] = mail.events(EventKind.OPEN)
    assert event.account_id == mail.account.pk


def test_open_pixel_records_at_most_the_per_minute_cap_when_a_loop_fetches_it(client, mail):
    for _ in range(tracking.MAX_HITS_PER_MINUTE + 5):
        assert client.get(mail.open_path(), headers={"user-agent": CHROME}).content == PIXEL

    assert len(mail.events(EventKind.OPEN)) == 20


# The click redirect --------------------------------------------------------------------------------------------


def test_click_records_a_link_scanner_when_it_comes_two_seconds_after_sending(client, mail):
    mail.sent_seconds_ago(2)

    response = client.get(mail.click_path(), headers={"user-agent": CHROME})

    assert (response.status_code, response["Location"]) == (302, "https://acme.test/tour")
    [click] = mail.events(EventKind.CLICK)
    assert (click.is_machine, click.machine_reason, click.url) == (True, "link_scanner", "https://acme.test/tour")
    # The scanner's click implies the scanner's open, so raw clicks stay a subset of raw opens.
    [implied] = mail.events(EventKind.OPEN)
    assert (implied.is_machine, implied.machine_reason) == (True, "link_scanner")


def test_click_records_a_human_click_and_the_open_it_implies_when_it_comes_an_hour_after_sending(client, mail):
    response = client.get(mail.click_path(), headers={"user-agent": CHROME}, REMOTE_ADDR="203.0.113.7")

    assert (response.status_code, response["Location"]) == (302, "https://acme.test/tour")
    [click] = mail.events(EventKind.CLICK)
    assert (click.is_machine, click.url, click.ip, click.enrollment_id) == (
        False, "https://acme.test/tour", "203.0.113.7", mail.enrollment.pk)
    [implied] = mail.events(EventKind.OPEN)
    assert (implied.is_machine, implied.detail) == (False, "implied by a click (the images were not loaded)")


def test_click_implies_no_second_open_when_a_person_already_opened_the_email(client, mail):
    client.get(mail.open_path(), headers={"user-agent": CHROME})
    client.get(mail.click_path(), headers={"user-agent": CHROME})
    client.get(mail.click_path("https://acme.test/pricing"), headers={"user-agent": CHROME})

    assert len(mail.events(EventKind.OPEN)) == 1


def test_click_implies_a_human_open_when_the_only_open_was_apple_mpp(client, mail):
    client.get(mail.open_path(), headers={"user-agent": "Mozilla/5.0"})
    client.get(mail.click_path(), headers={"user-agent": CHROME})

    opens = mail.events(EventKind.OPEN)
    assert [(e.is_machine, e.machine_reason) for e in opens] == [(True, "apple_mpp"), (False, "")]


def test_click_records_a_link_scanner_when_a_second_link_follows_within_the_burst(client, mail):
    client.get(mail.click_path("https://acme.test/tour"), headers={"user-agent": CHROME})
    client.get(mail.click_path("https://acme.test/pricing"), headers={"user-agent": CHROME})

    clicks = mail.events(EventKind.CLICK)
    assert [(e.url, e.is_machine, e.machine_reason) for e in clicks] == [
        ("https://acme.test/tour", False, ""), ("https://acme.test/pricing", True, "link_scanner")]


def test_click_answers_404_without_a_redirect_when_the_token_is_tampered(client, mail):
    token = tokens.click_token(mail.message.pk, "https://acme.test/tour")
    tampered = token.replace(token[5], "A" if token[5] != "A" else "B", 1)

    response = client.get(reverse("sequences-public:click", kwargs={"token": tampered}))

    assert response.status_code == 404 and "Location" not in response
    assert mail.events(EventKind.CLICK) == []


def test_click_answers_404_when_the_token_was_signed_for_the_open_pixel(client, mail):
    response = client.get(reverse("sequences-public:click", kwargs={"token": tokens.open_token(mail.message.pk)}))

    assert response.status_code == 404 and "Location" not in response


def test_click_answers_404_when_the_signed_url_is_not_http(client, mail):
    token = tokens.click_token(mail.message.pk, "javascript:alert(1)")  # signed by us, yet refused at the door

    response = client.get(reverse("sequences-public:click", kwargs={"token": token}))

    assert response.status_code == 404 and "Location" not in response
    assert mail.events(EventKind.CLICK) == []


def test_click_answers_404_when_the_token_is_over_the_size_limit(client, mail):
    response = client.get(reverse("sequences-public:click", kwargs={"token": "x" * 5000}))

    assert response.status_code == 404 and "Location" not in response


def test_click_redirects_without_recording_when_the_message_is_unknown(client, mail):
    # The URL is ours (the signature proves it), so the reader still gets where they were going.
    token = tokens.click_token(mail.message.pk + 1000, "https://acme.test/tour")

    response = client.get(reverse("sequences-public:click", kwargs={"token": token}))

    assert (response.status_code, response["Location"]) == (302, "https://acme.test/tour")
    with scope(account=mail.account):
        assert not EngagementEvent.objects.exists()


def test_click_records_at_most_the_per_minute_cap_when_a_scanner_loops_on_one_link(client, mail):
    for _ in range(tracking.MAX_HITS_PER_MINUTE + 5):
        assert client.get(mail.click_path(), headers={"user-agent": CHROME}).status_code == 302

    assert (len(mail.events(EventKind.CLICK)), len(mail.events(EventKind.OPEN))) == (20, 1)


# Unsubscribe ---------------------------------------------------------------------------------------------------


def _state(mail: Mail) -> tuple[str, list[tuple[str, str]], int]:
    with scope(account=mail.account):
        return (Enrollment.objects.get(pk=mail.enrollment.pk).status,
                list(EmailSuppression.objects.values_list("email", "reason")),
                EngagementEvent.objects.filter(kind=EventKind.UNSUBSCRIBE).count())


def test_unsubscribe_shows_a_confirmation_and_changes_nothing_when_the_link_is_opened(client, mail):
    response = client.get(mail.unsubscribe_path())

    assert response.status_code == 200
    assert b'<form method="post">' in response.content and b"Unsubscribe me" in response.content
    assert b"grace@hopper.test" not in response.content
    assert _state(mail) == (EnrollmentStatus.ACTIVE, [], 0)


def test_unsubscribe_ends_the_enrollment_when_a_mail_provider_posts_one_click(mail):
    provider = Client(enforce_csrf_checks=True)  # no cookie, no CSRF token: as Gmail and Yahoo send it

    response = provider.post(mail.unsubscribe_path(), data="List-Unsubscribe=One-Click",
                             content_type="application/x-www-form-urlencoded")

    assert response.status_code == 200
    assert _state(mail) == (EnrollmentStatus.UNSUBSCRIBED, [("grace@hopper.test", SuppressionReason.UNSUBSCRIBED)], 1)
    [event] = mail.events(EventKind.UNSUBSCRIBE)
    assert (event.enrollment_id, event.detail) == (mail.enrollment.pk, "one-click unsubscribe (RFC 8058)")


def test_unsubscribe_changes_nothing_more_when_posted_twice(mail):
    provider = Client(enforce_csrf_checks=True)
    for _ in range(2):
        response = provider.post(mail.unsubscribe_path(), data="List-Unsubscribe=One-Click",
                                 content_type="application/x-www-form-urlencoded")
        assert response.status_code == 200

    assert _state(mail) == (EnrollmentStatus.UNSUBSCRIBED, [("grace@hopper.test", SuppressionReason.UNSUBSCRIBED)], 1)


def test_unsubscribe_shows_the_done_page_when_the_person_presses_the_button(mail):
    person = Client(enforce_csrf_checks=True)

    response = person.post(mail.unsubscribe_path())

    assert response.status_code == 200 and b"You are unsubscribed" in response.content
    assert _state(mail)[0] == EnrollmentStatus.UNSUBSCRIBED
    assert mail.events(EventKind.UNSUBSCRIBE)[0].detail == "unsubscribe page"


def test_unsubscribe_answers_404_and_changes_nothing_when_the_token_is_bad(client, mail):
    for token in (tokens.open_token(mail.message.pk), "not-a-token", "x" * 5000):
        path = reverse("sequences-public:unsubscribe", kwargs={"token": token})
        assert client.get(path).status_code == 404
        assert client.post(path, data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded").status_code == 404
    assert _state(mail) == (EnrollmentStatus.ACTIVE, [], 0)
