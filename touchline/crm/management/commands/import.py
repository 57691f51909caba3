from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django_scopes import scope

from touchline.core.accounts import account_by_reference
from touchline.core.models import Account
from touchline.crm.importing import CREATED, REJECTED, ROW_TYPES, UNCHANGED, UPDATED, ImportFileError, import_file


class Command(BaseCommand):
    help = ("Import companies, contacts and deals from a JSON Lines or CSV file (docs/import.md). "
            "Exits 1 when any row was rejected, 2 when the file could not be imported at all.")

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--account", help="account name or id (optional when there is only one account)")
        parser.add_argument("--type", dest="row_type", choices=list(ROW_TYPES),
                            help="type of every row of a CSV file without a 'type' column")
        parser.add_argument("--dry-run", action="store_true", help="check and report, write nothing")

    def handle(self, *args, file, account, row_type, dry_run, **options):
        target = self._account(account)
        with scope(account=target):
            try:
                report = import_file(account=target, path=file, forced_type=row_type, dry_run=dry_run)
            except ImportFileError as error:
                raise CommandError(f"{error} (nothing was imported)", returncode=2) from None
        prefix = "Dry run, nothing written. " if dry_run else ""
        self.stdout.write(f"{prefix}Imported into {target.name!r}:")
        for name, counts in sorted(report.counts.items()):
            summary = ", ".join(f"{counts[k]} {k}" for k in (CREATED, UPDATED, UNCHANGED, REJECTED))
            self.stdout.write(f"  {name}: {summary}")
        for rejection in report.rejections:
            self.stderr.write(f"rejected {rejection}")
        if not report.ok:
            raise CommandError(f"{len(report.rejections)} row error(s); the other rows were imported"
                               if not dry_run else f"{len(report.rejections)} row error(s)", returncode=1)

    def _account(self, ref: str | None) -> Account:
        try:
            return account_by_reference(ref)
        except LookupError as error:
            raise CommandError(str(error), returncode=2) from None
