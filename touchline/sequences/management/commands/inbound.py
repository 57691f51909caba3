import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from touchline.core.accounts import account_by_reference
from touchline.sequences.inbound import MAX_BYTES, InboundError, inbound_process


class Command(BaseCommand):
    help = ("Process one raw email (RFC 5322) as inbound mail: a reply, an auto-reply or a bounce to sequence "
            "emails (docs/inbound.md). Reads FILE, or standard input for an MTA pipe. Exit 0 when processed "
            "(also when it matched nothing), 2 when the input is not an email.")

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", default="-", help="the .eml file, or - for standard input")
        parser.add_argument("--account", help="match in this account only (name or id)")

    def handle(self, *args, file, account, **options):
        raw = sys.stdin.buffer.read(MAX_BYTES + 1) if file == "-" else self._read(Path(file))
        target = None
        if account:
            try:
                target = account_by_reference(account)
            except LookupError as error:
                raise CommandError(str(error), returncode=2) from None
        try:
            result = inbound_process(raw, account=target)
        except InboundError as error:
            raise CommandError(f"not an email we can read: {error}", returncode=2) from None
        ended = f", ended enrollment(s) {', '.join(map(str, result.enrollment_ids))}" if result.enrollment_ids else ""
        self.stdout.write(f"{result.classification}{ended}" + (f" ({result.detail})" if result.detail else ""))

    def _read(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror or error}", returncode=2) from None
