"""`touchline engagement_rebuild [--account NAME]`: recompute the sequence engagement rollup (per enrollment and
per sent message) from the engagement log, set-based — after a bulk load that bypassed the services, or to
repair (touchline/sequences/engagement.py) — and then the account-wide totals the reports read from it
(touchline/sequences/report_totals.py)."""

from time import perf_counter

from django.core.management.base import BaseCommand, CommandError
from django_scopes import scope

from touchline.core.accounts import accounts_by_reference
from touchline.sequences.engagement import enrollment_engagement_rebuild
from touchline.sequences.report_totals import sequence_totals_rebuild


class Command(BaseCommand):
    help = ("Recompute the sequence reports' engagement rollup (opens, clicks, replies, meetings per enrollment "
            "and per sent message) from the engagement log, then the reports' account-wide totals.")

    def add_arguments(self, parser):
        parser.add_argument("--account", help="account name or id (default: every account)")

    def handle(self, *args, account, **options):
        try:
            accounts = accounts_by_reference(account)
        except LookupError as error:
            raise CommandError(str(error), returncode=2) from None
        for target in accounts:
            start = perf_counter()
            with scope(account=target):
                result = enrollment_engagement_rebuild(account=target)
                contacts = sequence_totals_rebuild(account=target)
            self.stdout.write(f"{target.name}: {result['enrollments']:,} enrollment(s) and {result['messages']:,} "
                              f"message(s) with events corrected, totals of {contacts:,} enrolled contact(s) "
                              f"rebuilt, in {perf_counter() - start:.1f} s")
