"""Background entry point of attribution (thin: the work is in services.py)."""

from django_scopes import scope
from django_tasks import task

from touchline.attribution import services
from touchline.core.models import Account
from touchline.core.periodic import register_periodic

# How stale stored credits may be: conversions whose journeys changed are recomputed within this.
REFRESH_SECONDS = 60


@task()
def attribution_refresh() -> dict:
    """Bring every account's interactions, conversions and credits up to date."""
    totals = {}
    for account in Account.objects.all():
        with scope(account=account):
            totals[account.pk] = services.attribution_refresh(account)["conversions"]
    return totals


register_periodic(attribution_refresh, every_seconds=REFRESH_SECONDS)
