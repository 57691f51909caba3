"""`touchline imap_poll`: read replies, auto-replies and bounces from a mailbox over IMAP (docs/inbound.md).

Each poll fetches the folder's UNSEEN messages without marking them (BODY.PEEK), processes each like
`touchline inbound`, and flags it \\Seen only once its processing has committed: a crash or a database error
leaves it unseen for the next poll, and a message processed twice is a harmless duplicate. Messages that are
not emails (or are over 10 MB) are flagged \\Seen and reported, so they are not fetched again every poll.

Exit codes: 0 done (with --once: every message processed); 1 the server refused the login, or with --once the
connection failed or a message failed (it stays unseen); 2 a bad argument. Without --once a lost connection is
reported and retried at the next poll; a refused login ends the command, since retrying a wrong password
every minute only gets the account locked.
"""

import contextlib
import imaplib
import os
import signal
import ssl
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from touchline.core.accounts import account_by_reference
from touchline.sequences.inbound import PollResult, mailbox_poll


class LoginRefused(Exception):
    """The server answered LOGIN with NO/BAD: a wrong password or a server that wants TLS first."""


class Command(BaseCommand):
    help = ("Poll an IMAP folder for inbound mail (replies, auto-replies, bounces, complaints) and process each "
            "UNSEEN message; it is flagged \\Seen only after it has been processed (docs/inbound.md).")

    def add_arguments(self, parser):
        parser.add_argument("--host", required=True, help="IMAP server")
        parser.add_argument("--port", type=int, help="default 993 with --ssl, else 143")
        parser.add_argument("--user", required=True, help="IMAP login")
        parser.add_argument("--password-env", required=True, metavar="VAR",
                            help="name of the environment variable holding the password (a password on the "
                                 "command line would show in the process list)")
        parser.add_argument("--folder", default="INBOX", help="folder to read (default INBOX)")
        parser.add_argument("--ssl", action="store_true", dest="use_ssl",
                            help="IMAP over TLS (IMAPS, port 993), certificate verified")
        parser.add_argument("--starttls", action="store_true",
                            help="upgrade a plain connection (port 143) with STARTTLS before logging in, "
                                 "certificate verified")
        parser.add_argument("--ca-file", metavar="PEM",
                            help="trust the certificates in this file (a private CA, a self-signed server) "
                                 "instead of the system's")
        parser.add_argument("--once", action="store_true",
                            help="poll once and exit (for cron); exit 1 if the connection or a message failed")
        parser.add_argument("--interval", type=int, default=60, help="seconds between polls (default 60)")
        parser.add_argument("--timeout", type=float, default=60, help="network timeout in seconds (default 60)")
        parser.add_argument("--account", help="match in this account only (its name or id); by default the "
                                              "account comes from the email each message answers or its sender")

    def handle(self, *args, host, port, user, password_env, folder, use_ssl, starttls, ca_file, once, interval,
               timeout, account, **options):
        if use_ssl and starttls:
            raise CommandError("--ssl and --starttls exclude each other", returncode=2)
        if interval < 1:
            raise CommandError("--interval must be at least 1 second", returncode=2)
        target = None
        if account:
            try:
                target = account_by_reference(account)
            except LookupError as error:
                raise CommandError(str(error), returncode=2) from None
        password = os.environ.get(password_env)
        if not password:
            raise CommandError(f"the environment variable {password_env} (--password-env) is not set", returncode=2)
        context = None
        if use_ssl or starttls or ca_file:
            try:
                context = ssl.create_default_context(cafile=ca_file)
            except (OSError, ssl.SSLError) as error:
                raise CommandError(f"cannot read --ca-file {ca_file}: {error}", returncode=2) from None
        port = port or (993 if use_ssl else 143)
        server = f"{host}:{port}"
        stop = threading.Event()
        restore = {} if once else self._stop_on_signals(stop)
        try:
            while True:
                _drop_dead_database_connections()
                try:
                    result = self._poll(host, port, use_ssl, starttls, context, timeout, user, password, folder,
                                        target)
                except LoginRefused as error:
                    raise CommandError(f"IMAP {server}: the server refused the login of {user}: {error}",
                                       returncode=1) from None
                except (imaplib.IMAP4.error, OSError) as error:
                    if once:
                        raise CommandError(f"IMAP {server}: {_reason(error)}", returncode=1) from None
                    self.stderr.write(f"IMAP {server}: {_reason(error)}; trying again in {interval}s")
                else:
                    self._report(folder, result, summary=once)
                    if once and result.failed:
                        raise CommandError(f"{len(result.failed)} message(s) failed and stay unseen for the next "
                                           "poll", returncode=1)
                if once or stop.wait(interval):
                    return
        finally:
            for signum, handler in restore.items():
                signal.signal(signum, handler)

    def _poll(self, host, port, use_ssl, starttls, context, timeout, user, password, folder, account) -> PollResult:
        imap = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=timeout) if use_ssl else \
            imaplib.IMAP4(host, port, timeout=timeout)
        try:
            if starttls:
                imap.starttls(ssl_context=context)
            try:
                imap.login(user, password)
            except imaplib.IMAP4.error as error:
                if "[UNAVAILABLE]" in _reason(error):  # RFC 5530: the authentication backend is down, retry
                    raise
                raise LoginRefused(_reason(error)) from None
            return mailbox_poll(imap, folder=folder, account=account)
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):  # the connection is going away either way
                imap.logout()

    def _report(self, folder: str, result: PollResult, *, summary: bool) -> None:
        for uid, processed in result.processed:
            ids = ", ".join(map(str, processed.enrollment_ids))
            ids = f" — enrollment(s) {ids}" if ids else ""
            detail = f" ({processed.detail})" if processed.detail else ""
            self.stdout.write(f"UID {uid.decode()}: {processed.classification}{ids}{detail}")
        for uid, why in result.unreadable:
            self.stderr.write(f"UID {uid.decode()}: not an email we can read ({why}); flagged \\Seen, left in "
                              "the folder")
        for uid, error in result.failed:
            self.stderr.write(f"UID {uid.decode()}: failed ({error}); left unseen for the next poll")
        if summary or result.processed or result.unreadable or result.failed:
            self.stdout.write(f"{folder}: {len(result.processed)} processed, {len(result.unreadable)} unreadable, "
                              f"{len(result.failed)} failed")

    @staticmethod
    def _stop_on_signals(stop: threading.Event) -> dict:
        """Let SIGTERM/SIGINT end the loop between polls rather than in the middle of a message."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
        return previous


def _drop_dead_database_connections() -> None:
    """What Django does around each request, for this long-running process: a connection the database server
    dropped (a restart, an idle timeout) is closed, so the next query opens a fresh one instead of failing every
    poll. Never inside a transaction (a test's, or a caller's), where closing would lose its work."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def _reason(error: Exception) -> str:
    """imaplib puts the server's answer in its exceptions as bytes; show it as text."""
    if not isinstance(error, imaplib.IMAP4.error):
        return str(error) or type(error).__name__
    parts = [a.decode(errors="replace") if isinstance(a, bytes) else str(a) for a in error.args]
    return " ".join(parts) or type(error).__name__
