"""ESP event webhooks (SendGrid, Mailgun, Postmark, Amazon SES via SNS) through the real HTTP stack: signatures
accepted and refused, each event kind's effect on the enrollment (the same as the built-in tracking and inbound
mail), idempotency on the provider's event id, and tenant isolation. Payloads are the providers' documented shapes
(fixtures/esp/*.json), signed here with locally generated keys — SNS with a local certificate served by a fake
fetcher, as the tests have no internet."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from django.core.cache import cache
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from touchline.crm.services import contact_create
from touchline.sequences import services
from touchline.sequences.esp import verify, views
from touchline.sequences.models import (
    BounceType,
    EmailSuppression,
    EngagementEvent,
    Enrollment,
    EnrollmentStatus,
    EspProvider,
    EspWebhook,
    EventKind,
    Inbox,
    MessageStatus,
    SentMessage,
    Sequence,
    Step,
    StepType,
    SuppressionReason,
)

FIXTURES = Path(__file__).parent / "fixtures" / "esp"
MESSAGE_ID = "<esp-fixture.1@acme.test>"  # the Message-ID the fixtures' events belong to
SENT_AT = datetime(2014, 1, 1, tzinfo=UTC)  # before every fixture's event time
TOPIC = "arn:aws:sns:us-east-1:123456789012:touchline-ses-events"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def fixture(provider: str, name: str) -> dict:
    return json.loads((FIXTURES / f"{provider}.json").read_text())[name]


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # rate-limit counters and Mailgun tokens of other tests
    yield
    cache.clear()


@dataclass
class Sent:
    account: object
    enrollment: Enrollment
    message: SentMessage

    def events(self, kind: str | None = None) -> list[EngagementEvent]:
        with scopes_disabled():
            events = EngagementEvent.all_accounts.filter(message=self.message).exclude(kind=EventKind.ENROLLED)
            return list(events.filter(kind=kind) if kind else events.order_by("pk"))

    def status(self) -> str:
        with scopes_disabled():
            return Enrollment.all_accounts.get(pk=self.enrollment.pk).status

    def suppression(self) -> str | None:
        with scopes_disabled():
            return EmailSuppression.all_accounts.filter(account=self.account, email="grace@navy.test") \
                .values_list("reason", flat=True).first()


def _send(cadence, email: str, message_id: str) -> Sent:
    contact = cadence.contact(email)
    with scope(account=cadence.account):
        [enrollment] = services.enrollments_create(sequence=cadence.sequence, contacts=[contact], inbox=cadence.inbox,
                                                   enrolled_by=cadence.user).enrolled
        message = SentMessage.objects.create(
            account=cadence.account, enrollment=enrollment, step=cadence.steps[0], template=cadence.intro,
            inbox=cadence.inbox, message_id=message_id, to_email=email, subject="Quick question, Grace",
            status=MessageStatus.SENT, sent_at=SENT_AT, attempts=1)
    return Sent(cadence.account, enrollment, message)


@pytest.fixture
def sent(cadence) -> Sent:
    """Grace enrolled in the cadence, its first email sent with the fixtures' Message-ID."""
    return _send(cadence, "grace@navy.test", MESSAGE_ID)


def make_webhook(account, provider: str, **fields) -> EspWebhook:
    with scopes_disabled():
        return EspWebhook.all_accounts.create(account=account, provider=provider, **fields)


def url(webhook: EspWebhook) -> str:
    return reverse(f"esp-webhooks:{webhook.provider}", kwargs={"webhook_key": webhook.key})


# Signing as each provider does ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def sendgrid_public_key(private: ec.EllipticCurvePrivateKey) -> str:
    """As SendGrid shows it in its settings: the base64 of the DER SubjectPublicKeyInfo, no PEM armour."""
    der = private.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


@pytest.fixture
def sendgrid(account, sendgrid_key) -> EspWebhook:
    return make_webhook(account, EspProvider.SENDGRID, secret=sendgrid_public_key(sendgrid_key))


def post_sendgrid(client, webhook, events: list[dict], key: ec.EllipticCurvePrivateKey, *, timestamp: str = "",
                  body: bytes | None = None):
    body = json.dumps(events).encode() if body is None else body
    timestamp = timestamp or str(int(time.time()))
    signature = base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return client.post(url(webhook), data=body, content_type="application/json",
                       headers={"X-Twilio-Email-Event-Webhook-Signature": signature,
                                "X-Twilio-Email-Event-Webhook-Timestamp": timestamp})


@pytest.fixture
def mailgun(account) -> EspWebhook:
    return make_webhook(account, EspProvider.MAILGUN, secret=MAILGUN_KEY)


def mailgun_signed(payload: dict, key: str = MAILGUN_KEY, *, timestamp: int | None = None, token: str = "") -> dict:
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    token = token or secrets.token_hex(25)
    payload["signature"] = {"timestamp": timestamp, "token": token, "signature": hmac.new(
        key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()}
    return payload


def post_json(client, webhook, payload, **headers):
    return client.post(url(webhook), data=json.dumps(payload), content_type="application/json", headers=headers)


@pytest.fixture
def postmark(account) -> EspWebhook:
    return make_webhook(account, EspProvider.POSTMARK, username="postmark", secret="a long random password")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def post_postmark(client, webhook, payload, *, auth: str | None = None, **extra):
    headers = {"Authorization": auth if auth is not None else basic("postmark", "a long random password")}
    return client.post(url(webhook), data=json.dumps(payload), content_type="application/json", headers=headers,
                       **extra)


@dataclass
class SnsSigner:
    key: rsa.RSAPrivateKey
    pem: bytes
    fetched: list[str]

    def fetch(self, requested: str) -> bytes:
        self.fetched.append(requested)
        if requested != CERT_URL:
            raise OSError(f"no certificate at {requested}")
        return self.pem

    def sign(self, envelope: dict, version: str = "1", key: rsa.RSAPrivateKey | None = None) -> dict:
        """Sign as SNS does: the canonical "Name\\nvalue\\n" string of the type's fields in this order."""
        fields = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type") \
            if envelope["Type"] == "Notification" else \
            ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
        text = "".join(f"{name}\n{envelope[name]}\n" for name in fields if envelope.get(name) is not None)
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 — SNS version 1 is SHA1
        signature = (key or self.key).sign(text.encode(), padding.PKCS1v15(), algorithm)
        return {**envelope, "SignatureVersion": version, "Signature": base64.b64encode(signature).decode()}


def _certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def sns_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def sns(monkeypatch, sns_key) -> SnsSigner:
    signer = SnsSigner(sns_key, _certificate(sns_key), [])
    monkeypatch.setattr(verify, "certificate_fetcher", signer.fetch)
    return signer


@pytest.fixture
def ses(account) -> EspWebhook:
    return make_webhook(account, EspProvider.AMAZON_SES, topic_arn=TOPIC)


def notification(ses_event: dict, message_id: str = "") -> dict:
    return {"Type": "Notification", "MessageId": message_id or str(uuid.uuid4()), "TopicArn": TOPIC,
            "Subject": "Amazon SES Email Event Notification", "Message": json.dumps(ses_event) + "\n",
            "Timestamp": "2018-03-26T17:58:59.675Z", "SigningCertURL": CERT_URL,
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:"
                              "us-east-1:123456789012:touchline-ses-events:e0b5b6b2"}


def post_sns(client, webhook, envelope: dict):
    # SNS posts its JSON as text/plain, with its type in a header.
    return client.post(url(webhook), data=json.dumps(envelope), content_type="text/plain; charset=UTF-8",
                       headers={"x-amz-sns-message-type": envelope["Type"],
                                "x-amz-sns-message-id": envelope["MessageId"]})


# SendGrid --------------------------------------------------------------------------------------------------------

def test_sendgrid_batch_records_delivered_open_and_click_when_signed(client, sent, sendgrid, sendgrid_key):
    events = [fixture("sendgrid", n) for n in ("processed", "delivered", "open", "click", "deferred")]
    response = post_sendgrid(client, sendgrid, events, sendgrid_key)
    assert response.status_code == 200, response.content
    assert response.json() == {"received": 5, "recorded": 3, "duplicates": 0, "unknown": 0, "ignored": 2}
    delivered, opened, clicked = sent.events()
    assert (delivered.kind, opened.kind, clicked.kind) == (EventKind.DELIVERED, EventKind.OPEN, EventKind.CLICK)
    assert delivered.occurred_at == datetime.fromtimestamp(1461095250, UTC) and delivered.external_id == \
        "sendgrid:nOSv8m0eTQ-vxvwNwt3fZQ"
    # A Chrome open long after sending and a Chrome click are a person's, as the pixel and redirect judge them.
    assert not opened.is_machine and opened.ip == "66.102.6.229" and "Chrome/124" in opened.user_agent
    assert not clicked.is_machine and clicked.url == "https://acme.test/tour?ref=seq"
    assert sent.status() == EnrollmentStatus.ACTIVE


def test_sendgrid_is_refused_with_403_and_records_nothing_when_the_signature_is_wrong(client, sent, sendgrid,
                                                                                       sendgrid_key):
    events = [fixture("sendgrid", "delivered")]
    other = ec.generate_private_key(ec.SECP256R1())
    assert post_sendgrid(client, sendgrid, events, other).status_code == 403
    body = json.dumps(events).encode()
    tampered = body.replace(b"delivered", b"spamreport")
    assert post_sendgrid(client, sendgrid, events, sendgrid_key).status_code == 200
    response = client.post(url(sendgrid), data=tampered, content_type="application/json", headers={
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sendgrid_key.sign(
            b"1700000000" + body, ec.ECDSA(hashes.SHA256()))).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": "1700000000"})
    assert response.status_code == 403
    assert client.post(url(sendgrid), data=body, content_type="application/json").status_code == 403
    assert [e.kind for e in sent.events()] == [EventKind.DELIVERED]  # only the one correctly signed post


def test_sendgrid_accepts_a_pem_verification_key(client, sent, account, sendgrid_key):
    pem = sendgrid_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    webhook = make_webhook(account, EspProvider.SENDGRID, secret=pem)
    assert post_sendgrid(client, webhook, [fixture("sendgrid", "delivered")], sendgrid_key).status_code == 200


def test_sendgrid_same_event_twice_is_recorded_once(client, sent, sendgrid, sendgrid_key):
    events = [fixture("sendgrid", "delivered"), fixture("sendgrid", "click")]
    assert post_sendgrid(client, sendgrid, events, sendgrid_key).json()["recorded"] == 2
    again = post_sendgrid(client, sendgrid, events, sendgrid_key).json()
    assert again == {"received": 2, "recorded": 0, "duplicates": 2, "unknown": 0, "ignored": 0}
    # The click implied an open (no open had arrived); nothing doubled on the replay.
    assert [e.kind for e in sent.events()] == [EventKind.DELIVERED, EventKind.OPEN, EventKind.CLICK]


def test_sendgrid_hard_bounce_suppresses_and_ends_the_enrollment_as_bounced(client, sent, sendgrid, sendgrid_key):
    assert post_sendgrid(client, sendgrid, [fixture("sendgrid", "bounce")], sendgrid_key).json()["recorded"] == 1
    [bounce] = sent.events(EventKind.BOUNCE)
    assert bounce.bounce_type == BounceType.HARD and "does not exist" in bounce.detail
    assert sent.status() == EnrollmentStatus.BOUNCED and sent.suppression() == SuppressionReason.BOUNCED


def test_sendgrid_blocked_bounce_is_soft_and_ends_nothing(client, sent, sendgrid, sendgrid_key):
    post_sendgrid(client, sendgrid, [fixture("sendgrid", "blocked")], sendgrid_key)
    [bounce] = sent.events(EventKind.BOUNCE)
    assert bounce.bounce_type == BounceType.SOFT and bounce.enrollment_id == sent.enrollment.pk
    assert sent.status() == EnrollmentStatus.ACTIVE and sent.suppression() is None


def test_sendgrid_spam_report_is_a_complaint(client, sent, sendgrid, sendgrid_key):
    post_sendgrid(client, sendgrid, [fixture("sendgrid", "spamreport")], sendgrid_key)
    [bounce] = sent.events(EventKind.BOUNCE)
    assert bounce.bounce_type == BounceType.COMPLAINT
    assert sent.status() == EnrollmentStatus.BOUNCED and sent.suppression() == SuppressionReason.COMPLAINT


def test_sendgrid_unsubscribe_ends_the_enrollment_as_unsubscribed(client, sent, sendgrid, sendgrid_key):
    post_sendgrid(client, sendgrid, [fixture("sendgrid", "unsubscribe")], sendgrid_key)
    assert len(sent.events(EventKind.UNSUBSCRIBE)) == 1
    assert sent.status() == EnrollmentStatus.UNSUBSCRIBED and sent.suppression() == SuppressionReason.UNSUBSCRIBED


def test_sendgrid_machine_open_flag_marks_the_open_as_apple_mpp(client, sent, sendgrid, sendgrid_key):
    post_sendgrid(client, sendgrid, [fixture("sendgrid", "machine_open")], sendgrid_key)
    [opened] = sent.events(EventKind.OPEN)
    assert opened.is_machine and opened.machine_reason == "apple_mpp"


def test_sendgrid_batch_records_the_known_emails_when_some_are_unknown(client, sent, sendgrid, sendgrid_key):
    stranger = fixture("sendgrid", "open") | {"sg_event_id": "dW5rbm93bi0wMDAx",
                                              "touchline_message": "<nobody@acme.test>"}
    response = post_sendgrid(client, sendgrid, [stranger, fixture("sendgrid", "delivered")], sendgrid_key)
    assert response.json() == {"received": 2, "recorded": 1, "duplicates": 0, "unknown": 1, "ignored": 0}
    assert [e.kind for e in sent.events()] == [EventKind.DELIVERED]


def test_sendgrid_event_for_another_recipient_of_the_message_id_is_unknown(client, sent, sendgrid, sendgrid_key):
    event = fixture("sendgrid", "bounce") | {"email": "someone.else@navy.test"}
    assert post_sendgrid(client, sendgrid, [event], sendgrid_key).json()["unknown"] == 1
    assert sent.status() == EnrollmentStatus.ACTIVE and sent.suppression() is None


def test_sendgrid_matches_the_echoed_smtp_id_without_custom_arguments(client, sent, sendgrid, sendgrid_key):
    event = fixture("sendgrid", "delivered")
    del event["touchline_message"]
    assert post_sendgrid(client, sendgrid, [event], sendgrid_key).json()["recorded"] == 1


def test_sendgrid_signed_payload_that_is_not_an_event_array_is_400(client, sent, sendgrid, sendgrid_key):
    assert post_sendgrid(client, sendgrid, [], sendgrid_key, body=b"{not json").status_code == 400
    assert post_sendgrid(client, sendgrid, [], sendgrid_key, body=b'{"event": "open"}').status_code == 400


# Tenant isolation -------------------------------------------------------------------------------------------------

@pytest.fixture
def other_sent(other_account, user) -> Sent:
    """An email of another account (Globex) to the same address, with a Message-ID of its own."""
    with scope(account=other_account):
        inbox = Inbox.objects.create(account=other_account, user=user, from_name="G", from_email="g@globex.test")
        sequence = Sequence.objects.create(account=other_account, name="Globex outbound")
        step = Step.objects.create(account=other_account, sequence=sequence, position=1,
                                   step_type=StepType.MANUAL_EMAIL)
        contact = contact_create(account=other_account, email="grace@navy.test", first_name="Grace")
        [enrollment] = services.enrollments_create(sequence=sequence, contacts=[contact], inbox=inbox,
                                                   enrolled_by=user).enrolled
        message = SentMessage.objects.create(
            account=other_account, enrollment=enrollment, step=step, inbox=inbox, to_email="grace@navy.test",
            message_id="<globex.1@globex.test>", subject="Hello", status=MessageStatus.SENT, sent_at=SENT_AT)
    return Sent(other_account, enrollment, message)


def test_a_webhook_cannot_record_events_on_another_accounts_emails(client, sent, other_sent, sendgrid,
                                                                    sendgrid_key):
    events = [fixture("sendgrid", name) | {"touchline_message": "<globex.1@globex.test>", "smtp-id": ""}
              for name in ("delivered", "bounce", "unsubscribe")]
    response = post_sendgrid(client, sendgrid, events, sendgrid_key)
    assert response.json() == {"received": 3, "recorded": 0, "duplicates": 0, "unknown": 3, "ignored": 0}
    assert other_sent.events() == [] and other_sent.status() == EnrollmentStatus.ACTIVE
    with scopes_disabled():
        assert not EmailSuppression.all_accounts.exists()


def test_another_accounts_webhook_key_with_this_accounts_signature_is_refused(client, sent, other_account,
                                                                               sendgrid_key):
    theirs = make_webhook(other_account, EspProvider.SENDGRID,
                          secret=sendgrid_public_key(ec.generate_private_key(ec.SECP256R1())))
    assert post_sendgrid(client, theirs, [fixture("sendgrid", "delivered")], sendgrid_key).status_code == 403
    assert sent.events() == []


# Mailgun ---------------------------------------------------------------------------------------------------------

def test_mailgun_delivered_is_recorded_when_signed(client, sent, mailgun):
    response = post_json(client, mailgun, mailgun_signed(fixture("mailgun", "delivered")))
    assert response.json() == {"received": 1, "recorded": 1, "duplicates": 0, "unknown": 0, "ignored": 0}
    [delivered] = sent.events()
    assert delivered.kind == EventKind.DELIVERED and delivered.external_id == "mailgun:hTWCTD81RtiDN-ZKvG1wRg"


@pytest.mark.parametrize("signing", [
    {"key": "key-someone-elses"},
    {"timestamp": int(time.time()) - 3600},  # an hour old: a replay
    {"timestamp": int(time.time()) + 3600},
])
def test_mailgun_is_refused_with_403_when_the_signature_is_wrong_or_stale(client, sent, mailgun, signing):
    response = post_json(client, mailgun, mailgun_signed(fixture("mailgun", "delivered"), **signing))
    assert response.status_code == 403 and sent.events() == []


def test_mailgun_reused_token_is_refused(client, sent, mailgun):
    payload = mailgun_signed(fixture("mailgun", "delivered"), token="a" * 50)
    assert post_json(client, mailgun, payload).status_code == 200
    replay = mailgun_signed(fixture("mailgun", "unsubscribed"), token="a" * 50)
    assert post_json(client, mailgun, replay).status_code == 403
    assert sent.status() == EnrollmentStatus.ACTIVE


def test_mailgun_without_a_signature_or_in_legacy_form_encoding_is_400(client, sent, mailgun):
    assert post_json(client, mailgun, fixture("mailgun", "delivered") | {"signature": None}).status_code == 400
    legacy = client.post(url(mailgun), {"event": "delivered", "recipient": "grace@navy.test", "token": "x",
                                        "timestamp": "1", "signature": "y"})
    assert legacy.status_code == 400 and sent.events() == []


def test_mailgun_permanent_failure_is_a_hard_bounce(client, sent, mailgun):
    post_json(client, mailgun, mailgun_signed(fixture("mailgun", "failed_permanent")))
    [bounce] = sent.events(EventKind.BOUNCE)
    assert bounce.bounce_type == BounceType.HARD and "5.1.1 The email account" in bounce.detail
    assert sent.status() == EnrollmentStatus.BOUNCED and sent.suppression() == SuppressionReason.BOUNCED


def test_mailgun_temporary_failure_is_a_soft_bounce(client, sent, mailgun):
    post_json(client, mailgun, mailgun_signed(fixture("mailgun", "failed_temporary")))
    assert [e.bounce_type for e in sent.events(EventKind.BOUNCE)] == [BounceType.SOFT]
    assert sent.status() == EnrollmentStatus.ACTIVE


def test_mailgun_complaint_and_unsubscribe(client, sent, mailgun):
    post_json(client, mailgun, mailgun_signed(fixture("mailgun", "complained")))
    assert sent.status() == EnrollmentStatus.BOUNCED and sent.suppression() == SuppressionReason.COMPLAINT
    # The enrollment has ended: the unsubscribe ends nothing more and writes no event, as the link would.
    post_json(client, mailgun, mailgun_signed(fixture("mailgun", "unsubscribed")))
    assert sent.events(EventKind.UNSUBSCRIBE) == [] and sent.status() == EnrollmentStatus.BOUNCED


def test_mailgun_open_by_a_bot_and_click_by_a_person_are_classified_as_the_pixel_would(client, sent, mailgun):
    post_json(client, mailgun, mailgun_signed(fixture("mailgun", "opened")))
    post_json(client, mailgun, mailgun_signed(fixture("mailgun", "clicked")))
    bot_open, implied_open, click = sent.events()
    assert (bot_open.kind, bot_open.is_machine, bot_open.machine_reason) == (EventKind.OPEN, True, "bot")
    # The person's click implies a human open, as tracking.hit_record does when the only open is a machine's.
    assert (implied_open.kind, implied_open.is_machine) == (EventKind.OPEN, False)
    assert "implied by a click" in implied_open.detail
    assert (click.kind, click.is_machine, click.ip) == (EventKind.CLICK, False, "203.0.113.7")


def test_mailgun_accepted_is_ignored(client, sent, mailgun):
    assert post_json(client, mailgun, mailgun_signed(fixture("mailgun", "accepted"))).json()["ignored"] == 1
    assert sent.events() == []


# Postmark --------------------------------------------------------------------------------------------------------

def test_postmark_without_or_with_wrong_credentials_is_401_with_a_challenge(client, sent, postmark):
    for auth in ("", basic("postmark", "wrong"), basic("someone", "a long random password"), "Basic %%%"):
        response = post_postmark(client, postmark, fixture("postmark", "delivery"), auth=auth)
        assert response.status_code == 401, auth
        assert response["WWW-Authenticate"].startswith("Basic ")
    assert sent.events() == []


def test_postmark_ip_allowlist_refuses_other_addresses(client, sent, postmark):
    postmark.allowed_ips = "3.134.147.250\n50.31.156.0/24"
    with scopes_disabled():
        postmark.save()
    outside = post_postmark(client, postmark, fixture("postmark", "delivery"), REMOTE_ADDR="203.0.113.9")
    assert outside.status_code == 403
    inside = post_postmark(client, postmark, fixture("postmark", "delivery"), REMOTE_ADDR="50.31.156.104")
    assert inside.status_code == 200 and len(sent.events()) == 1


def test_postmark_delivery_open_and_click(client, sent, postmark):
    for name in ("delivery", "open", "click"):
        assert post_postmark(client, postmark, fixture("postmark", name)).json()["recorded"] == 1, name
    delivered, opened, clicked = sent.events()
    assert delivered.kind == EventKind.DELIVERED
    # Postmark's open came from Apple's network (Geo.IP 17.x): Mail Privacy Protection.
    assert (opened.is_machine, opened.machine_reason, opened.ip) == (True, "apple_mpp", "17.58.101.3")
    # A headless browser following the link: a link scanner; the machine open already exists, so none is implied.
    assert (clicked.kind, clicked.is_machine, clicked.machine_reason) == (EventKind.CLICK, True, "link_scanner")


def test_postmark_same_delivery_twice_is_recorded_once(client, sent, postmark):
    post_postmark(client, postmark, fixture("postmark", "delivery"))
    assert post_postmark(client, postmark, fixture("postmark", "delivery")).json()["duplicates"] == 1
    assert len(sent.events()) == 1


def test_postmark_hard_bounce_soft_bounce_and_complaint(client, sent, postmark):
    post_postmark(client, postmark, fixture("postmark", "soft_bounce"))
    assert sent.status() == EnrollmentStatus.ACTIVE
    post_postmark(client, postmark, fixture("postmark", "hard_bounce"))
    assert sent.status() == EnrollmentStatus.BOUNCED and sent.suppression() == SuppressionReason.BOUNCED
    assert [e.bounce_type for e in sent.events(EventKind.BOUNCE)] == [BounceType.SOFT, BounceType.HARD]
    assert post_postmark(client, postmark, fixture("postmark", "hard_bounce")).json()["duplicates"] == 1


def test_postmark_spam_complaint_suppresses_as_complaint(client, sent, postmark):
    post_postmark(client, postmark, fixture("postmark", "spam_complaint"))
    assert sent.status() == EnrollmentStatus.BOUNCED and sent.suppression() == SuppressionReason.COMPLAINT


def test_postmark_unsubscribe_ends_the_enrollment_and_a_resubscribe_lifts_nothing(client, sent, postmark):
    post_postmark(client, postmark, fixture("postmark", "unsubscribe"))
    assert sent.status() == EnrollmentStatus.UNSUBSCRIBED
    assert post_postmark(client, postmark, fixture("postmark", "resubscribe")).json()["ignored"] == 1
    assert sent.suppression() == SuppressionReason.UNSUBSCRIBED


def test_postmark_without_touchline_metadata_is_unknown(client, sent, postmark):
    payload = fixture("postmark", "delivery") | {"Metadata": {}}
    assert post_postmark(client, postmark, payload).json()["unknown"] == 1


# Amazon SES via SNS ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_delivery_is_recorded_when_sns_signature_verifies(client, sent, ses, sns, version):
    envelope = sns.sign(notification(fixture("amazon_ses", "delivery"), "19ba9823-d7f2-53c1-860e-cb10e0d13dfc"),
                        version)
    response = post_sns(client, ses, envelope)
    assert response.json() == {"received": 1, "recorded": 1, "duplicates": 0, "unknown": 0, "ignored": 0}
    [delivered] = sent.events()
    assert delivered.external_id == "amazon_ses:19ba9823-d7f2-53c1-860e-cb10e0d13dfc"
    assert delivered.occurred_at == datetime(2016, 1, 27, 14, 59, 39, 237000, tzinfo=UTC)
    assert sns.fetched == [CERT_URL]
    assert post_sns(client, ses, envelope).json()["duplicates"] == 1


def test_ses_is_refused_with_403_when_signed_by_another_key(client, sent, ses, sns):
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    envelope = sns.sign(notification(fixture("amazon_ses", "bounce_permanent")), key=impostor)
    assert post_sns(client, ses, envelope).status_code == 403
    tampered = sns.sign(notification(fixture("amazon_ses", "delivery")))
    tampered["Message"] = json.dumps(fixture("amazon_ses", "bounce_permanent"))
    assert post_sns(client, ses, tampered).status_code == 403
    assert sent.events() == [] and sent.suppression() is None


def test_ses_from_another_topic_is_refused_even_when_amazon_signed_it(client, sent, ses, sns):
    # Any AWS customer can have SNS sign messages to any URL: the topic is what ties a message to the account.
    envelope = sns.sign(notification(fixture("amazon_ses", "bounce_permanent")) |
                        {"TopicArn": "arn:aws:sns:us-east-1:999999999999:someone-elses"})
    assert post_sns(client, ses, envelope).status_code == 403 and sent.events() == []


@pytest.mark.parametrize("cert_url", [
    "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
    "https://sns.us-east-1.amazonaws.com.evil.test/SimpleNotificationService-x.pem",
    "https://evil.test/sns.us-east-1.amazonaws.com/x.pem",
    "https://s3.amazonaws.com/bucket/cert.pem",
])
def test_ses_certificate_url_off_amazons_sns_hosts_is_refused_without_fetching(client, sent, ses, sns, cert_url):
    envelope = sns.sign(notification(fixture("amazon_ses", "delivery")) | {"SigningCertURL": cert_url})
    assert post_sns(client, ses, envelope).status_code == 403
    assert sns.fetched == []


def test_ses_bounces_complaint_open_and_click(client, sent, ses, sns):
    post_sns(client, ses, sns.sign(notification(fixture("amazon_ses", "bounce_transient"))))
    assert sent.status() == EnrollmentStatus.ACTIVE
    for name in ("open", "click"):
        assert post_sns(client, ses, sns.sign(notification(fixture("amazon_ses", name)))).json()["recorded"] == 1
    post_sns(client, ses, sns.sign(notification(fixture("amazon_ses", "bounce_permanent"))))
    assert sent.status() == EnrollmentStatus.BOUNCED and sent.suppression() == SuppressionReason.BOUNCED
    soft, opened, implied, clicked, hard = sent.events()
    assert (soft.bounce_type, hard.bounce_type) == (BounceType.SOFT, BounceType.HARD)
    assert "User unknown" in hard.detail
    assert (opened.is_machine, opened.machine_reason) == (True, "apple_mpp")  # from Apple's network
    assert (implied.kind, implied.is_machine, clicked.is_machine) == (EventKind.OPEN, False, False)


def test_ses_complaint_suppresses_as_complaint(client, sent, ses, sns):
    post_sns(client, ses, sns.sign(notification(fixture("amazon_ses", "complaint"))))
    assert sent.status() == EnrollmentStatus.BOUNCED and sent.suppression() == SuppressionReason.COMPLAINT


def test_ses_send_event_and_topic_validation_message_are_ignored(client, sent, ses, sns):
    assert post_sns(client, ses, sns.sign(notification(fixture("amazon_ses", "send")))).json()["ignored"] == 1
    validated = notification({}) | {"Message": "Successfully validated SNS topic for Amazon SES event publishing."}
    assert post_sns(client, ses, sns.sign(validated)).json()["ignored"] == 1
    assert sent.events() == []


def test_ses_subscription_confirmation_is_kept_for_an_admin_and_never_fetched(client, ses, sns):
    confirmation = sns.sign(fixture("amazon_ses", "subscription_confirmation"))
    response = post_sns(client, ses, confirmation)
    assert response.status_code == 200 and response.json() == {"status": "subscription_pending"}
    with scopes_disabled():
        ses.refresh_from_db()
    assert ses.subscribe_url == confirmation["SubscribeURL"] and ses.subscribe_url_received_at is not None
    assert sns.fetched == [CERT_URL]  # the signing certificate only; the SubscribeURL is left to a person


def test_ses_unsigned_confirmation_changes_nothing(client, ses, sns):
    confirmation = fixture("amazon_ses", "subscription_confirmation") | {"Signature": "bm90IGEgc2lnbmF0dXJl"}
    assert post_sns(client, ses, confirmation).status_code == 403
    with scopes_disabled():
        ses.refresh_from_db()
    assert ses.subscribe_url == ""


def test_ses_body_that_is_not_an_sns_message_is_400(client, ses, sns):
    assert client.post(url(ses), data="[1, 2]", content_type="text/plain").status_code == 400
    assert post_sns(client, ses, {"Type": "Mystery", "MessageId": "1"}).status_code == 400


# The endpoint ----------------------------------------------------------------------------------------------------

def test_unknown_key_or_another_providers_key_is_404(client, sendgrid, sendgrid_key):
    assert client.post("/webhooks/esp/sendgrid/not-a-key", data="[]", content_type="application/json") \
        .status_code == 404
    assert client.post(f"/webhooks/esp/mailgun/{sendgrid.key}", data="{}", content_type="application/json") \
        .status_code == 404
    assert client.get(url(sendgrid)).status_code == 405


def test_webhook_without_a_key_configured_refuses_everything(client, account, sendgrid_key):
    webhook = make_webhook(account, EspProvider.SENDGRID)
    assert post_sendgrid(client, webhook, [fixture("sendgrid", "delivered")], sendgrid_key).status_code == 403


def test_body_over_the_limit_is_413(client, sent, sendgrid, sendgrid_key, monkeypatch):
    monkeypatch.setattr(views, "MAX_BODY", 100)
    response = post_sendgrid(client, sendgrid, [fixture("sendgrid", "delivered")], sendgrid_key)
    assert response.status_code == 413 and sent.events() == []


def test_requests_over_the_rate_limit_are_429(client, sent, sendgrid, sendgrid_key, monkeypatch):
    monkeypatch.setattr(views, "REQUESTS_PER_MINUTE", 2)
    statuses = [post_sendgrid(client, sendgrid, [fixture("sendgrid", "delivered")], sendgrid_key).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_hard_bounce_ends_the_contacts_other_running_enrollments_as_an_inbound_bounce_does(
        client, cadence, sent, sendgrid, sendgrid_key):
    with scope(account=cadence.account):
        second = Sequence.objects.create(account=cadence.account, name="Second")
        Step.objects.create(account=cadence.account, sequence=second, position=1, step_type=StepType.CALL)
        [other] = services.enrollments_create(sequence=second, contacts=[sent.enrollment.contact],
                                              inbox=cadence.inbox, enrolled_by=cadence.user).enrolled
    post_sendgrid(client, sendgrid, [fixture("sendgrid", "bounce")], sendgrid_key)
    with scopes_disabled():
        other = Enrollment.all_accounts.get(pk=other.pk)
        assert other.status == EnrollmentStatus.BOUNCED
        assert EngagementEvent.all_accounts.filter(enrollment=other, kind=EventKind.BOUNCE).count() == 1
    assert sent.status() == EnrollmentStatus.BOUNCED
