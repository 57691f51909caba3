"""`touchline campaign_rebuild [--account NAME]`: recompute the rollups the campaign Performance tab reads (each
campaign's sessions and daily counts, the page totals and visitors) from the raw page views, sessions and
associations, set-based — after a bulk load that bypassed the services, or to repair (docs/campaigns.md)."""

from time import perf_counter

from django.core.management.base import BaseCommand, CommandError
from django_scopes import scope

from touchline.campaigns.services import campaign_rollups_rebuild
from touchline.core.accounts import accounts_by_reference


class Command(BaseCommand):
    help = ("Recompute the campaign reports' rollups (campaign sessions, their daily counts, page totals and the "
            "pages of identified visitors) from the page views.")

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
                campaign_rollups_rebuild(account=target)
            self.stdout.write(f"{target.name}: campaign rollups rebuilt in {perf_counter() - start:.1f} s")
