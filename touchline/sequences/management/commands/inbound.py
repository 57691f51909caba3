"""`touchline inbound [--account NAME] [FILE|-]`: one raw email, from a file or an MTA pipe (docs/inbound.md).

Exit codes follow sysexits, which MTAs act on: 0 processed (also when it matched nothing: the message is kept
as unmatched, and bouncing it back would only confuse its sender), 2 not an email or a bad argument (the MTA
returns it), 75 (EX_TEMPFAIL) the database could not be written (the MTA keeps the message and retries).
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError

from touchline.core.accounts import account_by_reference
from touchline.sequences.inbound import MAX_BYTES, InboundError, inbound_process

EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = ("Process one raw email (RFC 5322) as inbound mail: a reply, an auto-reply, a bounce or a complaint "
            "about sequence emails (docs/inbound.md). Reads FILE, or standard input for an MTA pipe. Exit 0 "
            "when processed (also when it matched nothing), 2 when the input is not an email, 75 when the "
            "database could not be written (the MTA retries).")

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", default="-", help="the .eml file, or - (default) for standard input")
        parser.add_argument("--account", help="match in this account only (its name or id); by default the "
                                              "account comes from the email it answers or from its sender")

    def handle(self, *args, file, account, **options):
        target = None
        if account:
            try:
                target = account_by_reference(account)
            except LookupError as error:
                raise CommandError(str(error), returncode=2) from None
        # One byte past the limit is enough to know the message is too large; never read a huge input whole.
        raw = sys.stdin.buffer.read(MAX_BYTES + 1) if file == "-" else self._read(Path(file))
        try:
            result = inbound_process(raw, account=target)
        except InboundError as error:
            raise CommandError(f"not an email we can read: {error}", returncode=2) from None
        except OperationalError as error:  # away or locked: worth retrying
            raise CommandError(f"the database could not be written, try again later: {error}",
                               returncode=EX_TEMPFAIL) from None
        enrollments = ", ".join(map(str, result.enrollment_ids))
        enrollments = f" — enrollment(s) {enrollments}" if enrollments else ""
        self.stdout.write(f"{result.classification}{enrollments}" + (f" ({result.detail})" if result.detail else ""))

    def _read(self, path: Path) -> bytes:
        try:
            with path.open("rb") as handle:
                return handle.read(MAX_BYTES + 1)
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror or error}", returncode=2) from None
