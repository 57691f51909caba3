"""Reads of campaigns for the pages and the API; every function takes the account first."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from touchline.campaigns.models import Asset, Association, Campaign, TrackingUrl
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


# For the JSON API (touchline/campaigns/api.py): the same reads, by id and with the list filters it offers.

def campaigns_search(account: Account, q: str = "") -> QuerySet[Campaign]:
    """The account's campaigns whose name or UTM value contains `q` (all of them when it is empty)."""
    campaigns = campaigns_of(account)
    if q.strip():
        campaigns = campaigns.filter(Q(name__icontains=q.strip()) | Q(utm_campaign__icontains=q.strip()))
    return campaigns


def assets_of(account: Account, asset_type: str = "") -> QuerySet[Asset]:
    """The account's assets, associated or not, of one type when `asset_type` is given."""
    assets = Asset.objects.filter(account=account)
    return assets.filter(asset_type=asset_type) if asset_type else assets


def asset_get(account: Account, asset_id: int) -> Asset | None:
    return Asset.objects.filter(account=account, pk=asset_id).first()


def asset_with_external_id(account: Account, external_id: str) -> Asset | None:
    """The asset carrying an external id (unique in the account), if one does."""
    if not external_id.strip():
        return None
    return Asset.objects.filter(account=account, external_id=external_id.strip()).first()


def association_get(account: Account, campaign: Campaign, association_id: int) -> Association | None:
    return associations_of(account, campaign).filter(pk=association_id).first()


def association_open(account: Account, campaign: Campaign, asset: Asset) -> Association | None:
    """The asset's current (not removed) association with the campaign, if it has one."""
    return associations_of(account, campaign).filter(asset=asset, removed_at__isnull=True).first()


def form_of(account: Account, form_id: int) -> Form | None:
    """A form of the account, as the source of a form asset."""
    return Form.objects.filter(account=account, pk=form_id).first()


def sequence_of(account: Account, sequence_id: int) -> Sequence | None:
    """A sequence of the account, as the source of a sequence asset."""
    return Sequence.objects.filter(account=account, pk=sequence_id).first()
