"""Reads of campaigns for the pages and the API; every function takes the account first."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from touchline.campaigns.models import Association, Campaign, TrackingUrl
from touchline.core.models import Account
from touchline.sequences.models import Sequence
from touchline.tracking.models import Form


def campaigns_of(account: Account) -> QuerySet[Campaign]:
    return (Campaign.objects.filter(account=account).select_related("owner")
            .annotate(assets=Count("associations", filter=Q(associations__removed_at__isnull=True))))


def campaign_get(account: Account, campaign_id: int) -> Campaign | None:
    return Campaign.objects.filter(account=account, pk=campaign_id).first()


def associations_of(account: Account, campaign: Campaign) -> QuerySet[Association]:
    """Current and past associations, newest first; past ones show when they were removed."""
    return (Association.objects.filter(account=account, campaign=campaign).select_related("asset")
            .order_by("removed_at", "asset__asset_type", "-associated_at"))


def tracking_urls_of(account: Account, campaign: Campaign) -> QuerySet[TrackingUrl]:
    return TrackingUrl.objects.filter(account=account, campaign=campaign).select_related("campaign", "created_by")


def object_asset_choices(account: Account) -> list[tuple[str, str]]:
    forms = [(f"form:{pk}", f"Form: {name}") for pk, name in
             Form.objects.filter(account=account).values_list("pk", "name")]
    sequences = [(f"sequence:{pk}", f"Sequence: {name}") for pk, name in
                 Sequence.objects.filter(account=account, archived_at__isnull=True).values_list("pk", "name")]
    return forms + sequences
