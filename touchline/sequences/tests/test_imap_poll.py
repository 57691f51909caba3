"""`touchline imap_poll` against a real IMAP server: dovecot, started per test by the `imap_server` fixture
(conftest.py) with its own configuration and maildir. Messages are delivered with IMAP APPEND and their flags
read back from the server, so \\Seen is what the server stores, not what the command believes."""

import os
import signal
import socket
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_scopes import scopes_disabled

from touchline.sequences.models import (
    EmailSuppression,
    EngagementEvent,
    Enrollment,
    EnrollmentStatus,
    EventKind,
    InboundMessage,
)
from touchline.sequences.tests.conftest import DOVECOT, DOVECOT_MISSING

pytestmark = [pytest.mark.django_db, pytest.mark.skipif(DOVECOT is None, reason=DOVECOT_MISSING)]
PASSWORD_ENV = "TOUCHLINE_TEST_IMAP_PASSWORD"


@pytest.fixture
def imap(imap_server, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, imap_server.password)
    return imap_server


def poll(server, *extra: str, port: int | None = None) -> tuple[str, str]:
    """One `imap_poll --once` against `server`; returns (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("imap_poll", "--host", server.host, "--port", str(port or server.port), "--user", server.user,
                 "--password-env", PASSWORD_ENV, "--once", *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def status(enrollment) -> str:
    with scopes_disabled():
        return Enrollment.all_accounts.get(pk=enrollment.pk).status


def replies() -> int:
    with scopes_disabled():
        return EngagementEvent.all_accounts.filter(kind=EventKind.REPLY).count()


def test_imap_poll_ends_the_enrollment_and_flags_the_message_seen_when_a_reply_is_in_the_mailbox(sent, imap):
    enrollment, message, raw = sent
    uid = imap.append(raw("reply_gmail.eml"))
    assert "\\Seen" not in imap.flags(uid)
    out, err = poll(imap, "--account", str(enrollment.account_id))
    assert f"UID {uid.decode()}: reply — enrollment(s) {enrollment.pk}" in out
    assert "INBOX: 1 processed, 0 unreadable, 0 failed" in out and err == ""
    assert status(enrollment) == EnrollmentStatus.REPLIED
    with scopes_disabled():
        assert EngagementEvent.all_accounts.get(kind=EventKind.REPLY).message_id == message.pk  # by In-Reply-To
    assert "\\Seen" in imap.flags(uid)


def test_imap_poll_suppresses_the_address_when_a_hard_bounce_is_in_the_mailbox(sent, imap):
    enrollment, _, raw = sent
    uid = imap.append(raw("dsn_hard_bounce.eml"))
    out, _ = poll(imap)  # no --account: the returned Message-ID names it
    assert f"UID {uid.decode()}: bounce — enrollment(s) {enrollment.pk}" in out
    assert status(enrollment) == EnrollmentStatus.BOUNCED
    with scopes_disabled():
        assert list(EmailSuppression.all_accounts.values_list("email", "reason")) == [("grace@navy.test", "bounced")]
    assert "\\Seen" in imap.flags(uid)


def test_imap_poll_leaves_the_message_unseen_for_the_next_poll_when_the_database_rejects_it(sent, imap,
                                                                                            inbound_rejected):
    enrollment, _, raw = sent
    uid = imap.append(raw("reply_outlook.eml"))
    with inbound_rejected(), pytest.raises(CommandError) as error:
        poll(imap)
    assert error.value.returncode == 1
    assert "1 message(s) failed and stay unseen" in str(error.value)
    assert "\\Seen" not in imap.flags(uid)
    assert status(enrollment) == EnrollmentStatus.ACTIVE  # rolled back whole: nothing half-applied
    out, _ = poll(imap)  # the database is back
    assert f"UID {uid.decode()}: reply" in out
    assert status(enrollment) == EnrollmentStatus.REPLIED
    assert "\\Seen" in imap.flags(uid)


def test_imap_poll_processes_nothing_twice_when_it_polls_again(sent, imap):
    enrollment, _, raw = sent
    uid = imap.append(raw("reply_outlook.eml"))
    poll(imap)
    out, _ = poll(imap)
    assert out == "INBOX: 0 processed, 0 unreadable, 0 failed\n"  # \Seen: not even fetched
    # A crash after the commit but before the \Seen flag was stored: the message comes again, and changes nothing.
    imap.unflag_seen(uid)
    out, _ = poll(imap)
    assert f"UID {uid.decode()}: duplicate" in out
    assert "\\Seen" in imap.flags(uid)
    assert replies() == 1
    with scopes_disabled():
        assert InboundMessage.all_accounts.count() == 1
    assert status(enrollment) == EnrollmentStatus.REPLIED


def test_imap_poll_exits_1_with_a_clear_error_when_the_password_is_wrong(sent, imap, monkeypatch):
    enrollment, _, raw = sent
    uid = imap.append(raw("reply_outlook.eml"))
    monkeypatch.setenv(PASSWORD_ENV, "not the password")
    with pytest.raises(CommandError) as error:
        poll(imap)
    assert error.value.returncode == 1
    assert str(error.value) == (f"IMAP {imap.host}:{imap.port}: the server refused the login of {imap.user}: "
                                "[AUTHENTICATIONFAILED] Authentication failed.")
    assert "\\Seen" not in imap.flags(uid)
    assert status(enrollment) == EnrollmentStatus.ACTIVE


def test_imap_poll_flags_junk_seen_and_reports_it_when_a_message_is_not_an_email(sent, imap):
    enrollment, _, raw = sent
    junk = imap.append(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR not an email at all\r\n")
    reply = imap.append(raw("reply_outlook.eml"))
    out, err = poll(imap)  # the junk does not stop the reply behind it, nor fail the run
    assert f"UID {junk.decode()}: not an email we can read (no email headers" in err
    assert f"UID {reply.decode()}: reply" in out
    assert "INBOX: 1 processed, 1 unreadable, 0 failed" in out
    assert "\\Seen" in imap.flags(junk) and "\\Seen" in imap.flags(reply)
    assert status(enrollment) == EnrollmentStatus.REPLIED


def test_imap_poll_reads_over_imaps_when_the_server_certificate_is_trusted(sent, imap):
    enrollment, _, raw = sent
    uid = imap.append(raw("reply_apple_mail.eml"))
    out, _ = poll(imap, "--ssl", "--ca-file", str(imap.ca_file), port=imap.ssl_port)
    assert f"UID {uid.decode()}: reply" in out
    assert status(enrollment) == EnrollmentStatus.REPLIED


def test_imap_poll_upgrades_the_connection_when_starttls_is_asked_for(sent, imap):
    enrollment, _, raw = sent
    imap.append(raw("reply_apple_mail.eml"))
    poll(imap, "--starttls", "--ca-file", str(imap.ca_file))
    assert status(enrollment) == EnrollmentStatus.REPLIED


def test_imap_poll_refuses_the_server_when_its_certificate_is_not_trusted(sent, imap):
    enrollment, _, raw = sent
    uid = imap.append(raw("reply_outlook.eml"))
    with pytest.raises(CommandError) as error:
        poll(imap, "--ssl", port=imap.ssl_port)  # the system's CAs do not know the self-signed certificate
    assert error.value.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in str(error.value)
    assert "\\Seen" not in imap.flags(uid)
    assert status(enrollment) == EnrollmentStatus.ACTIVE


def test_imap_poll_exits_1_when_nothing_listens_at_the_server_address(imap):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there now
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(CommandError) as error:
        poll(imap, port=closed)
    assert error.value.returncode == 1 and "Connection refused" in str(error.value)


def test_imap_poll_keeps_polling_until_sigterm_when_run_as_a_service(sent, imap):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("the command handles SIGTERM only in the main thread; here the signal would end the runner")
    enrollment, _, raw = sent
    imap.append(raw("reply_outlook.eml"))
    out, handler = StringIO(), signal.getsignal(signal.SIGTERM)
    # SIGTERM, as systemd sends it, 1.5 s in: after the first poll, while the command waits for the next one.
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        call_command("imap_poll", "--host", imap.host, "--port", str(imap.port), "--user", imap.user,
                     "--password-env", PASSWORD_ENV, "--interval", "1", stdout=out)
    finally:
        timer.cancel()
    assert "INBOX: 1 processed, 0 unreadable, 0 failed" in out.getvalue()
    assert status(enrollment) == EnrollmentStatus.REPLIED
    assert signal.getsignal(signal.SIGTERM) is handler  # the command put the previous handler back

