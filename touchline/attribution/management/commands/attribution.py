"""`touchline attribution refresh|rebuild [--account NAME]`: bring stored credits up to date, or recompute all of
them (after a backfill import, or to repair)."""

from django.core.management.base import BaseCommand, CommandError
from django_scopes import scope

from touchline.attribution.services import attribution_refresh
from touchline.core.accounts import accounts_by_reference


class Command(BaseCommand):
    help = "Refresh stored attribution credits (changed conversions only) or rebuild all of them."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["refresh", "rebuild"])
        parser.add_argument("--account", help="account name or id (default: every account)")

    def handle(self, *args, action, account, **options):
        try:
            accounts = accounts_by_reference(account)
        except LookupError as error:
            raise CommandError(str(error), returncode=2) from None
        for target in accounts:
            with scope(account=target):
                result = attribution_refresh(target, full=action == "rebuild")
            self.stdout.write(f"{target.name}: {result['conversions']:,} conversion(s) recomputed")
