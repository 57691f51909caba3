"""Proving that a webhook request comes from the account's provider. Each check raises `Refused` (401/403, nothing
recorded) or returns; none of them reveals which part was wrong beyond what the provider's documentation says.

- **SendGrid** (signed event webhook): an ECDSA P-256/SHA-256 signature of the timestamp header followed by the raw
  body (`X-Twilio-Email-Event-Webhook-Signature`, `…-Timestamp`), under the verification key the account pasted
  from SendGrid (base64 DER, as SendGrid shows it, or PEM).
- **Mailgun**: HMAC-SHA256 of `timestamp + token` under the webhook signing key; the timestamp must be within
  MAILGUN_MAX_AGE of now and the token never seen before (Django's cache remembers tokens for twice that long).
- **Postmark** signs nothing: its webhook URL carries HTTP basic auth credentials
  (`https://user:password@host/webhooks/esp/postmark/<key>`), compared here in constant time; the optional IP
  allowlist (Postmark publishes its webhook addresses) narrows it further.
- **Amazon SNS** signs each message with an Amazon certificate named by `SigningCertURL`, which must be an https
  URL on `sns.<region>.amazonaws.com`; version 1 is RSA-SHA1, version 2 RSA-SHA256 over the canonical string of
  the message's fields. Any AWS customer can make SNS sign messages to any URL, so the message's `TopicArn` must
  also be the one configured on the webhook. Certificates are fetched by `certificate_fetcher` (replaceable: tests
  have no internet and sign with a local certificate) and kept per URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from django.core.cache import cache

from touchline.sequences.esp.events import Malformed, Refused
from touchline.sequences.models import EspWebhook

SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
# Mailgun signs each delivery afresh; a signature older than this is a replay (their documentation suggests a
# short window; five minutes leaves room for clock skew and queueing on our side).
MAILGUN_MAX_AGE = 300
SNS_CERT_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
SNS_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
# The fields SNS signs, in this order (Subject only when the notification has one).
SNS_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
# An SNS signing certificate is about 2 KB.
MAX_CERTIFICATE_BYTES = 64 * 1024
CERTIFICATE_TIMEOUT = 5


def _forbidden(message: str) -> Refused:
    return Refused(403, message)


def ip_allowed(webhook: EspWebhook, ip: str | None) -> bool:
    """True without an allowlist; else whether `ip` is in one of its addresses or networks."""
    entries = [e.strip() for e in re.split(r"[\s,]+", webhook.allowed_ips) if e.strip()]
    if not entries:
        return True
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return False
    for entry in entries:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a typo in the list allows nothing
    return False


def _secret(webhook: EspWebhook) -> str:
    if not webhook.secret.strip():
        raise _forbidden("This webhook has no key configured yet.")
    return webhook.secret.strip()


# SendGrid --------------------------------------------------------------------------------------------------------

@lru_cache(maxsize=256)
def _sendgrid_key(text: str) -> ec.EllipticCurvePublicKey:
    try:
        if "BEGIN" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm) as error:
        raise _forbidden("The webhook's SendGrid verification key is not a valid public key.") from error
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise _forbidden("The webhook's SendGrid verification key is not an ECDSA key.")
    return key


def sendgrid_verify(webhook: EspWebhook, body: bytes, headers) -> None:
    signature, timestamp = headers.get(SENDGRID_SIGNATURE_HEADER), headers.get(SENDGRID_TIMESTAMP_HEADER)
    key = _sendgrid_key(_secret(webhook))
    if not signature or not timestamp:
        raise _forbidden(f"The {SENDGRID_SIGNATURE_HEADER} and {SENDGRID_TIMESTAMP_HEADER} headers are required.")
    try:
        key.verify(base64.b64decode(signature, validate=True), timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise _forbidden("The SendGrid signature does not match the body.") from None


# Mailgun ---------------------------------------------------------------------------------------------------------

def mailgun_verify(webhook: EspWebhook, signature: object, now: datetime) -> str:
    """Check the payload's `signature` object; returns the cache key that now marks its token used (the caller
    releases it with `token_release` if recording fails, so Mailgun's retry is not refused as a replay)."""
    if not isinstance(signature, dict) or not all(isinstance(signature.get(k), str | int)
                                                  for k in ("timestamp", "token", "signature")):
        raise Malformed("A Mailgun webhook carries a signature object with timestamp, token and signature.")
    timestamp, token = str(signature["timestamp"]), str(signature["token"])
    expected = hmac.new(_secret(webhook).encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), str(signature["signature"]).encode()):
        raise _forbidden("The Mailgun signature does not match.")
    try:
        age = now.timestamp() - float(timestamp)
    except ValueError:
        raise _forbidden("The Mailgun signature's timestamp is not a number.") from None
    if abs(age) > MAILGUN_MAX_AGE:
        raise _forbidden("The Mailgun signature is too old (or from the future): a replay is refused.")
    used = f"esp:mailgun:token:{webhook.pk}:{hashlib.sha256(token.encode()).hexdigest()}"
    if not cache.add(used, 1, timeout=2 * MAILGUN_MAX_AGE):
        raise _forbidden("This Mailgun token was used before: a replay is refused.")
    return used


def token_release(used: str) -> None:
    cache.delete(used)


# Postmark --------------------------------------------------------------------------------------------------------

def postmark_verify(webhook: EspWebhook, authorization: str | None) -> None:
    password = _secret(webhook)
    challenge = {"WWW-Authenticate": 'Basic realm="Touchline ESP webhook"'}
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Refused(401, "HTTP basic auth credentials are required.", challenge)
    try:
        user, _, given = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Refused(401, "The basic auth credentials are not readable.", challenge) from None
    # Both compared in full, always: the time taken says nothing about which one was wrong.
    same_user = hmac.compare_digest(user.encode(), webhook.username.encode())
    same_password = hmac.compare_digest(given.encode(), password.encode())
    if not (same_user and same_password):
        raise Refused(401, "The basic auth credentials are wrong.", challenge)


# Amazon SNS ------------------------------------------------------------------------------------------------------

def certificate_fetch(url: str) -> bytes:
    """The default fetcher: the certificate over HTTPS, verified against the system's certificate authorities."""
    if not sns_certificate_url_valid(url):
        raise ValueError(f"not an SNS certificate URL: {url}")
    # https only and on Amazon's SNS hosts (checked above); S310 warns about file: and custom schemes.
    with urllib.request.urlopen(url, timeout=CERTIFICATE_TIMEOUT) as response:  # noqa: S310
        return response.read(MAX_CERTIFICATE_BYTES)


# Replace (tests, or a deployment behind an egress proxy) with any callable url -> PEM bytes.
certificate_fetcher = certificate_fetch


def sns_certificate_url_valid(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return (parts.scheme == "https" and bool(SNS_CERT_HOST.match(parts.hostname or "")) and parts.port is None
            and parts.path.endswith(".pem") and not parts.username)


@lru_cache(maxsize=64)
def _certificate(fetch, url: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(fetch(url))


def sns_string_to_sign(message: dict) -> bytes:
    fields = SNS_SIGNED_FIELDS.get(message.get("Type"))
    if fields is None:
        raise Malformed(f"Unknown SNS message type {message.get('Type')!r}.")
    parts = []
    for name in fields:
        value = message.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise Malformed(f"The SNS message has no {name}.")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()


def sns_verify(webhook: EspWebhook, message: dict, *, now: datetime, fetch=None) -> None:
    """Verify an SNS message's signature and that it comes from the webhook's topic."""
    fetch = fetch or certificate_fetcher
    data = sns_string_to_sign(message)
    algorithm = SNS_HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise _forbidden("Unknown SNS SignatureVersion.")
    url = message.get("SigningCertURL")
    if not isinstance(url, str) or not sns_certificate_url_valid(url):
        raise _forbidden("The SigningCertURL is not an https URL on sns.<region>.amazonaws.com.")
    if not webhook.topic_arn.strip():
        raise _forbidden("This webhook has no SNS topic ARN configured yet.")
    if message.get("TopicArn") != webhook.topic_arn.strip():
        raise _forbidden("The SNS topic is not the one configured on this webhook.")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        certificate = _certificate(fetch, url)
    except binascii.Error:
        raise _forbidden("The SNS signature is not base64.") from None
    except (OSError, ValueError) as error:
        # Amazon's certificate could not be fetched or read: refuse (SNS retries), never accept unverified.
        raise _forbidden(f"The SNS signing certificate could not be loaded ({type(error).__name__}).") from None
    if not certificate.not_valid_before_utc <= now.astimezone(UTC) <= certificate.not_valid_after_utc:
        raise _forbidden("The SNS signing certificate is not valid now.")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise _forbidden("The SNS signing certificate has no RSA key.")
    try:
        key.verify(signature, data, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise _forbidden("The SNS signature does not match the message.") from None
