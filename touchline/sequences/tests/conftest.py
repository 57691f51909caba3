"""Fixtures of the sequence tests: a real SMTP sink, a real IMAP server (dovecot), a small sequence ready to
enroll contacts in, and a database that refuses inbound messages on demand."""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time as clock
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from django.db import OperationalError, connection
from django_scopes import scope, scopes_disabled

from touchline.crm.models import Contact
from touchline.crm.services import company_create, contact_create
from touchline.sequences import sending, services
from touchline.sequences.mailsink import MailSink
from touchline.sequences.models import EmailTemplate, InboundMessage, Inbox, SentMessage, Sequence, Step, StepType

INBOUND_FIXTURES = Path(__file__).parent / "fixtures" / "inbound"
# The inbound fixtures are real-shaped messages answering (or returning) this Message-ID; `sent` swaps in the
# one the engine really sent, so they match by In-Reply-To/References as in production.
FIXTURE_THREAD_ID = b"<177365520012.48213.4471093@acme.test>"
MONDAY = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)


@pytest.fixture
def sink(settings):
    server = MailSink().start()
    settings.SMTP_URL = server.url
    settings.PUBLIC_URL = "https://touchline.example"
    yield server
    server.stop()


@dataclass
class Cadence:
    """A three-step sequence: email, call task after 2 days, follow-up email after 3 days."""

    account: object
    user: object
    inbox: Inbox
    sequence: Sequence
    steps: list[Step]
    intro: EmailTemplate
    follow_up: EmailTemplate

    def contact(self, email: str, first_name: str = "Grace", company=None) -> Contact:
        with scope(account=self.account):
            return contact_create(account=self.account, email=email, first_name=first_name, last_name="Hopper",
                                  company=company)

    def company(self, name: str):
        with scope(account=self.account):
            return company_create(account=self.account, name=name, domain=f"{name.lower()}.test")


@pytest.fixture
def cadence(account, user) -> Cadence:
    with scope(account=account):
        inbox = Inbox.objects.create(account=account, user=user, from_name="Ada Lovelace",
                                     from_email="ada@acme.test", time_zone="Europe/Berlin")
        sequence = Sequence.objects.create(account=account, name="Outbound Q1", owner=user,
                                           send_window_start=time(8, 0), send_window_end=time(18, 0))
        intro = EmailTemplate.objects.create(
            account=account, name="Intro", subject="Quick question, {{ contact.first_name | there }}",
            body="Hi {{ contact.first_name | there }},\n\nHave a look at https://acme.test/tour?ref=seq.\n\n"
                 "{{ sender.first_name }}")
        follow_up = EmailTemplate.objects.create(account=account, name="Follow-up", subject="Following up",
                                                 body="Hi {{ contact.first_name }}, any thoughts?")
        steps = [
            Step.objects.create(account=account, sequence=sequence, position=1,
                                step_type=StepType.AUTOMATED_EMAIL, template=intro),
            Step.objects.create(account=account, sequence=sequence, position=2, step_type=StepType.CALL,
                                delay_days=2, task_title="Call about the tour"),
            Step.objects.create(account=account, sequence=sequence, position=3,
                                step_type=StepType.AUTOMATED_EMAIL, delay_days=3, template=follow_up),
        ]
    return Cadence(account, user, inbox, sequence, steps, intro, follow_up)


@pytest.fixture
def inbound_rejected():
    """`with inbound_rejected(): …` — meanwhile the database refuses to store inbound messages, as a locked
    SQLite file or a PostgreSQL server going away would: Django's own query hook raises OperationalError where
    the INSERT would run, so everything before it (and the rollback after it) is real."""
    table = InboundMessage._meta.db_table

    def reject(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("INSERT") and table in sql:
            raise OperationalError(f"database is locked (the test refuses INSERTs into {table})")
        return execute(sql, params, many, context)

    return lambda: connection.execute_wrapper(reject)


@pytest.fixture
def sent(cadence, sink):
    """Grace enrolled, and the first email of the sequence really sent; returns (enrollment, sent message, reader
    of an inbound fixture answering that message)."""
    grace = cadence.contact("grace@navy.test")
    with scope(account=cadence.account):
        [enrollment] = services.enrollments_create(sequence=cadence.sequence, contacts=[grace], inbox=cadence.inbox,
                                                   enrolled_by=cadence.user, now=MONDAY).enrolled
    sending.sequences_tick(now=MONDAY)
    with scopes_disabled():
        message = SentMessage.all_accounts.get()
    assert sink.messages[0]["Message-ID"] == message.message_id

    def raw(name: str) -> bytes:
        return (INBOUND_FIXTURES / name).read_bytes().replace(FIXTURE_THREAD_ID, message.message_id.encode())

    return enrollment, message, raw


DOVECOT = shutil.which("dovecot", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"]))
DOVECOT_MISSING = "dovecot is not installed (Debian: apt-get install dovecot-imapd; `make test` installs it)"


@dataclass
class ImapServer:
    """A real dovecot on 127.0.0.1: plain IMAP on `port` (STARTTLS offered), IMAPS on `ssl_port`, with a
    self-signed certificate for 127.0.0.1/localhost in `ca_file`, one user and an empty maildir."""

    host: str
    port: int
    ssl_port: int
    user: str
    password: str
    ca_file: Path
    log: Path

    def client(self) -> imaplib.IMAP4:
        """A logged-in connection for the test's own deliveries and checks. It comes from 127.0.0.2: dovecot
        delays every login from an address where one just failed (a wrong-password test's, from 127.0.0.1)."""
        imap = _ImapFrom127002(self.host, self.port, timeout=10)
        imap.login(self.user, self.password)
        return imap

    def append(self, raw: bytes, folder: str = "INBOX") -> bytes:
        """Deliver `raw` into `folder` (unseen); returns its UID."""
        imap = self.client()
        try:
            typ, data = imap.append(folder, "", None, raw)
            assert typ == "OK", data
            return re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1)
        finally:
            imap.logout()

    def flags(self, uid: bytes, folder: str = "INBOX") -> set[str]:
        imap = self.client()
        try:
            imap.select(folder, readonly=True)
            typ, data = imap.uid("FETCH", uid, "(FLAGS)")
            assert typ == "OK" and data[0], (typ, data)
            return set(re.search(rb"FLAGS \(([^)]*)\)", data[0]).group(1).decode().split())
        finally:
            imap.logout()

    def unflag_seen(self, uid: bytes, folder: str = "INBOX") -> None:
        imap = self.client()
        try:
            imap.select(folder)
            assert imap.uid("STORE", uid, "-FLAGS", "(\\Seen)")[0] == "OK"
        finally:
            imap.logout()


class _ImapFrom127002(imaplib.IMAP4):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=("127.0.0.2", 0))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def imap_server():
    """Start dovecot as an unprivileged process with its own configuration, state and maildir in a temporary
    directory (under root, as `nobody`: dovecot refuses to run its processes as root), and stop it after."""
    if DOVECOT is None:
        pytest.skip(DOVECOT_MISSING)
    # Not pytest's tmp_path: under root its parents are 0700, which `nobody` could not enter.
    home = Path(tempfile.mkdtemp(prefix="touchline-dovecot-"))
    runner = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    server = ImapServer("127.0.0.1", _free_port(), _free_port(), "ada@acme.test", "correct horse battery",
                        home / "cert.pem", home / "dovecot.log")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(home / "key.pem"),
                    "-out", str(server.ca_file)], check=True, capture_output=True)
    (home / "users").write_text(f"{server.user}:{{PLAIN}}{server.password}\n")
    (home / "dovecot.conf").write_text(f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {home}/run
state_dir = {home}/state
log_path = {server.log}
default_internal_user = {runner.pw_name}
default_internal_group = {grp.getgrgid(runner.pw_gid).gr_name}
default_login_user = {runner.pw_name}
first_valid_uid = {runner.pw_uid}
first_valid_gid = {runner.pw_gid}
auth_failure_delay = 0
disable_plaintext_auth = no
auth_mechanisms = plain login
ssl = yes
ssl_cert = <{server.ca_file}
ssl_key = <{home}/key.pem
mail_location = maildir:{home}/mail/%n
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {home}/users
}}
userdb {{
  driver = static
  args = uid={runner.pw_uid} gid={runner.pw_gid} home={home}/home/%n
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {server.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {server.ssl_port}
  }}
}}
service anvil {{
  chroot =
}}
""")
    for path in [home, *home.iterdir()]:
        os.chown(path, runner.pw_uid, runner.pw_gid)
    as_runner = {"user": runner.pw_uid, "group": runner.pw_gid, "extra_groups": []} if os.geteuid() == 0 else {}
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(home / "dovecot.conf")], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True, **as_runner)
    try:
        deadline = clock.monotonic() + 15
        while True:
            try:
                socket.create_connection((server.host, server.port), timeout=1).close()
                socket.create_connection((server.host, server.ssl_port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or clock.monotonic() > deadline:
                    log = server.log.read_text() if server.log.exists() else ""
                    output = process.stdout.read().decode(errors="replace") if process.poll() is not None else ""
                    pytest.fail(f"dovecot did not start:\n{output}\n{log}")
                clock.sleep(0.05)
        yield server
    finally:
        # The whole process group (its own session): the master and every imap/login/auth child it started.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stdout.close()
        shutil.rmtree(home, ignore_errors=True)
