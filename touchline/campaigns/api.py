"""JSON endpoints of campaigns, mounted at /api/v1/campaigns, and of the account's assets at /api/v1/assets:
campaigns (list, create, read, change), assets (list, read, register a page or an external asset), a campaign's
associations (list, add, remove) and its tracking URLs (list, create).

Writes go through `touchline.campaigns.services`, reads through `touchline.campaigns.selectors`, exactly as the
pages do, so the same rules answer: an asset's association is a timestamped window, and removing it closes the
window (the association stays listed with its `removed_at`; history is not rewritten, docs/campaigns.md).

An endpoint under an object (`/campaigns/{campaign_id}/…`) finds the object first and reads its body after: a
missing or foreign id answers 404 whatever the body holds, which is why such bodies declare their required fields
with defaults and the service (or the endpoint) names a missing one in a 422.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from ninja import Field, Router, Schema, Status

from touchline.api.errors import ApiError
from touchline.api.pagination import DEFAULT_LIMIT, paginate
from touchline.campaigns import selectors, services
from touchline.campaigns.models import PAGE_TYPES, AssetType, Campaign, tracking_url_build

router = Router(tags=["Campaigns"])
assets_router = Router(tags=["Campaigns"])

# Asset.name holds a tracking URL's full address; a longer one would not fit its column.
ASSET_NAME_MAX = 300


class Page(Schema):
    next_cursor: str | None


def _not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"No such {what} in this account.")


def _campaign(request, campaign_id: int) -> Campaign:
    campaign = selectors.campaign_get(request.account, campaign_id)
    if campaign is None:
        raise _not_found("campaign")
    return campaign


def _owner(account, email: str | None):
    if not email:
        return None
    owner = get_user_model().objects.filter(memberships__account=account, email__iexact=email.strip()).first()
    if owner is None:
        raise ApiError(422, "invalid", f"No user with the email {email} in this account.", {"owner_email": "unknown"})
    return owner


# Campaigns -------------------------------------------------------------------------------------------------------

def _goal():
    return Field(None, ge=0, le=2_147_483_647)


def _money():
    return Field(None, ge=0, max_digits=14, decimal_places=2)


class CampaignIn(Schema):
    name: str = Field(..., max_length=200)
    utm_campaign: str = Field("", description="default: the slug of the name; letters, digits, - _ . +")
    owner_email: str | None = Field(None, description="default: the caller")
    start_date: date | None = None
    end_date: date | None = None
    budget: Decimal | None = _money()
    currency: str = Field("USD", min_length=3, max_length=3)
    notes: str = ""
    goal_sessions: int | None = _goal()
    goal_new_contacts: int | None = _goal()
    goal_influenced_contacts: int | None = _goal()
    goal_revenue: Decimal | None = _money()


class CampaignPatch(Schema):
    name: str | None = Field(None, max_length=200)
    utm_campaign: str | None = None
    owner_email: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    budget: Decimal | None = _money()
    currency: str | None = Field(None, min_length=3, max_length=3)
    notes: str | None = None
    goal_sessions: int | None = _goal()
    goal_new_contacts: int | None = _goal()
    goal_influenced_contacts: int | None = _goal()
    goal_revenue: Decimal | None = _money()


# Fields a campaign always has: a PATCH may change them but not empty them with null.
NOT_NULL = ("name", "utm_campaign", "currency", "notes")


class CampaignOut(Schema):
    id: int
    name: str
    utm_campaign: str
    owner_email: str | None
    start_date: date | None
    end_date: date | None
    budget: Decimal | None
    currency: str
    notes: str
    goal_sessions: int | None
    goal_new_contacts: int | None
    goal_influenced_contacts: int | None
    goal_revenue: Decimal | None
    associated_assets: int = Field(..., description="assets associated now (open windows)")
    created_at: datetime
    archived_at: datetime | None

    @staticmethod
    def resolve_owner_email(obj) -> str | None:
        return obj.owner.email if obj.owner else None

    @staticmethod
    def resolve_associated_assets(obj) -> int:
        return obj.assets


class CampaignPage(Page):
    items: list[CampaignOut]


def _campaign_out(request, campaign: Campaign) -> Campaign:
    return selectors.campaigns_of(request.account).get(pk=campaign.pk)


@router.get("", response=CampaignPage, summary="List campaigns",
            description="`q` matches the name or the UTM value.")
def campaign_list(request, q: str = "", cursor: str | None = None, limit: int = DEFAULT_LIMIT):
    return paginate(selectors.campaigns_search(request.account, q), cursor=cursor, limit=limit)


@router.post("", response={201: CampaignOut}, summary="Create a campaign")
def campaign_create(request, payload: CampaignIn):
    fields = payload.dict()
    email = fields.pop("owner_email")
    owner = _owner(request.account, email) if email else request.user
    campaign = services.campaign_create(account=request.account, owner=owner, **fields)
    return Status(201, _campaign_out(request, campaign))


@router.get("/{campaign_id}", response=CampaignOut, summary="Read a campaign")
def campaign_read(request, campaign_id: int):
    return _campaign_out(request, _campaign(request, campaign_id))


@router.patch("/{campaign_id}", response=CampaignOut, summary="Change a campaign's fields",
              description="Changing `utm_campaign` recomputes which sessions are the campaign's.")
def campaign_patch(request, campaign_id: int, payload: CampaignPatch):
    campaign = _campaign(request, campaign_id)
    fields = payload.dict(exclude_unset=True)
    nulls = {f: "may not be null" for f in NOT_NULL if f in fields and fields[f] is None}
    if nulls:
        raise ApiError(422, "invalid", f"{', '.join(nulls)} may not be null.", nulls)
    if "owner_email" in fields:
        fields["owner"] = _owner(request.account, fields.pop("owner_email"))
    return _campaign_out(request, services.campaign_update(campaign=campaign, **fields))


@router.delete("/{campaign_id}", response={409: dict}, summary="Campaigns are not deleted",
               description="Refused (409): there is no campaign deletion in Touchline yet. Deleting a campaign "
                           "would erase its timestamped association history and tracking URLs, which its reports "
                           "and saved reports are computed from; remove its assets instead.")
def campaign_delete(request, campaign_id: int):
    campaign = _campaign(request, campaign_id)
    raise ApiError(409, "conflict", f"The campaign {campaign.name!r} cannot be deleted: campaigns keep their "
                   "association history and tracking URLs. Remove its assets instead.")


# Assets ----------------------------------------------------------------------------------------------------------


class AssetOut(Schema):
    id: int
    asset_type: str
    name: str
    url: str
    page: str = Field(..., description="host and path identifying a page (page and tracking-URL types)")
    form_id: int | None
    sequence_id: int | None
    external_id: str
    created_at: datetime


class AssetPage(Page):
    items: list[AssetOut]


EXTERNAL_TYPES = tuple(t for t in AssetType.values
                       if t not in (*PAGE_TYPES, AssetType.FORM, AssetType.SEQUENCE, AssetType.TRACKING_URL))


class ExternalAssetIn(Schema):
    asset_type: str = Field(..., description=f"one of: {', '.join(EXTERNAL_TYPES)}")
    name: str = Field(..., max_length=ASSET_NAME_MAX)
    external_id: str = Field("", max_length=100, description="its id in the tool it lives in; unique here")
    url: str = Field("", max_length=2000)


class PageAssetIn(Schema):
    # Its page key (host and path) must fit Asset.page, 1,000 characters.
    url: str = Field(..., max_length=1000, description="the page's full http(s) URL")
    asset_type: str = Field(AssetType.WEBSITE_PAGE.value, description="landing_page, website_page or blog_post")
    name: str = Field("", max_length=ASSET_NAME_MAX, description="default: the page's host and path")


@assets_router.get("", response=AssetPage, summary="List the account's assets",
                   description="Every asset, associated with a campaign or not; `asset_type` narrows to one type.")
def asset_list(request, asset_type: str = "", cursor: str | None = None, limit: int = DEFAULT_LIMIT):
    if asset_type and asset_type not in AssetType.values:
        raise ApiError(422, "invalid", f"asset_type must be one of: {', '.join(AssetType.values)}.",
                       {"asset_type": "unknown"})
    return paginate(selectors.assets_of(request.account, asset_type), cursor=cursor, limit=limit)


@assets_router.post("", response={201: AssetOut}, summary="Register an external asset",
                    description="An ad, social post, marketing email, CTA, static list or workflow living in "
                                "another tool; its interactions arrive by import. Pages have `POST /assets/pages`; "
                                "forms and sequences are associated by their own id.")
def external_asset_create(request, payload: ExternalAssetIn):
    if selectors.asset_with_external_id(request.account, payload.external_id) is not None:
        raise ApiError(409, "conflict", f"Another asset has the external id {payload.external_id!r}.",
                       {"external_id": "taken"})
    try:
        with transaction.atomic():
            asset = services.external_asset_create(account=request.account, **payload.dict())
    except IntegrityError:  # registered by someone else between the check and the insert
        raise ApiError(409, "conflict", f"Another asset has the external id {payload.external_id!r}.",
                       {"external_id": "taken"}) from None
    return Status(201, asset)


@assets_router.post("/pages", response=AssetOut, summary="The asset of a page",
                    description="One asset per page (host and path, without query) and type: the first call "
                                "registers it, later ones answer the same asset.")
def page_asset(request, payload: PageAssetIn):
    return services.page_asset_get_or_create(account=request.account, **payload.dict())


@assets_router.get("/{asset_id}", response=AssetOut, summary="Read an asset")
def asset_read(request, asset_id: int):
    asset = selectors.asset_get(request.account, asset_id)
    if asset is None:
        raise _not_found("asset")
    return asset


# Associations ----------------------------------------------------------------------------------------------------


class AssociationOut(Schema):
    id: int
    campaign_id: int
    asset: AssetOut
    associated_at: datetime = Field(..., description="its data counts for the campaign from this instant")
    removed_at: datetime | None = Field(..., description="…until this one; null while associated")
    associated_by_email: str | None
    is_current: bool

    @staticmethod
    def resolve_associated_by_email(obj) -> str | None:
        return obj.associated_by.email if obj.associated_by else None

    @staticmethod
    def resolve_is_current(obj) -> bool:
        return obj.removed_at is None


class AssociationPage(Page):
    items: list[AssociationOut]


class AssociationIn(Schema):
    """Exactly one of the three: an asset of the account, or a form or a sequence (its asset is made once)."""

    asset_id: int | None = None
    form_id: int | None = None
    sequence_id: int | None = None


def _asset_to_associate(account, payload: AssociationIn):
    given = {k: v for k, v in payload.dict().items() if v is not None}
    if len(given) != 1:
        fields = dict.fromkeys(("asset_id", "form_id", "sequence_id"), "give exactly one")
        raise ApiError(422, "invalid", "Give exactly one of asset_id, form_id and sequence_id.", fields)
    [(key, pk)] = given.items()
    if key == "asset_id":
        asset = selectors.asset_get(account, pk)
    elif key == "form_id":
        form = selectors.form_of(account, pk)
        asset = services.form_asset(form=form) if form else None
    else:
        sequence = selectors.sequence_of(account, pk)
        asset = services.sequence_asset(sequence=sequence) if sequence else None
    if asset is None:
        raise ApiError(422, "invalid", f"No {key.removesuffix('_id')} {pk} in this account.", {key: "unknown"})
    return asset


@router.get("/{campaign_id}/associations", response=AssociationPage, summary="List a campaign's associations",
            description="Current and removed ones (`removed_at` set); `current=true` lists only the current.")
def association_list(request, campaign_id: int, current: bool | None = None, cursor: str | None = None,
                     limit: int = DEFAULT_LIMIT):
    rows = selectors.associations_of(request.account, _campaign(request, campaign_id)).select_related(
        "associated_by")
    if current is not None:
        rows = rows.filter(removed_at__isnull=current)
    return paginate(rows, cursor=cursor, limit=limit)


@router.post("/{campaign_id}/associations", response={201: AssociationOut, 200: AssociationOut},
             summary="Associate an asset with a campaign",
             description="Its data counts for the campaign from now on (201). An asset already associated keeps "
                         "its association unchanged (200): moving its start would rewrite history.")
def association_add(request, campaign_id: int, payload: AssociationIn):
    campaign = _campaign(request, campaign_id)
    asset = _asset_to_associate(request.account, payload)
    existing = selectors.association_open(request.account, campaign, asset)
    association = services.association_add(campaign=campaign, asset=asset, by=request.user)
    return Status(200 if existing else 201, selectors.association_get(request.account, campaign, association.pk))


@router.post("/{campaign_id}/associations/{association_id}/remove", response=AssociationOut,
             summary="Remove an asset from a campaign",
             description="Closes the association's window now: later data stops counting, data from inside the "
                         "window keeps counting. The association stays listed, with `removed_at`.")
def association_remove(request, campaign_id: int, association_id: int):
    campaign = _campaign(request, campaign_id)
    association = selectors.association_get(request.account, campaign, association_id)
    if association is None:
        raise _not_found("association")
    services.association_remove(association=association)
    return selectors.association_get(request.account, campaign, association_id)


# Tracking URLs ---------------------------------------------------------------------------------------------------


class TrackingUrlIn(Schema):
    page_url: str = Field("", max_length=2000, description="required: the page's http(s) URL, without UTM")
    utm_source: str = Field("", description="required: letters, digits, - _ . +")
    utm_medium: str = Field("", description="required: letters, digits, - _ . +")
    utm_term: str = ""
    utm_content: str = ""


class TrackingUrlOut(Schema):
    id: int
    campaign_id: int
    asset_id: int
    page_url: str
    utm_campaign: str
    utm_source: str
    utm_medium: str
    utm_term: str
    utm_content: str
    full_url: str
    created_by_email: str | None
    created_at: datetime

    @staticmethod
    def resolve_utm_campaign(obj) -> str:
        return obj.campaign.utm_campaign

    @staticmethod
    def resolve_created_by_email(obj) -> str | None:
        return obj.created_by.email if obj.created_by else None


class TrackingUrlPage(Page):
    items: list[TrackingUrlOut]


@router.get("/{campaign_id}/tracking-urls", response=TrackingUrlPage, summary="List a campaign's tracking URLs")
def tracking_url_list(request, campaign_id: int, cursor: str | None = None, limit: int = DEFAULT_LIMIT):
    rows = selectors.tracking_urls_of(request.account, _campaign(request, campaign_id))
    return paginate(rows, cursor=cursor, limit=limit)


@router.post("/{campaign_id}/tracking-urls", response={201: TrackingUrlOut}, summary="Create a tracking URL",
             description="The page URL with the campaign's utm_campaign and these values; its asset is associated "
                         "with the campaign at once. A bad value answers 422 naming the field.")
def tracking_url_create(request, campaign_id: int, payload: TrackingUrlIn):
    campaign = _campaign(request, campaign_id)
    full = tracking_url_build(page_url=payload.page_url.strip(), utm_campaign=campaign.utm_campaign,
                              **{k: v.strip() for k, v in payload.dict().items() if k != "page_url"})
    if len(full) > ASSET_NAME_MAX:
        raise ApiError(422, "invalid", f"The tracking URL would be {len(full)} characters long; at most "
                       f"{ASSET_NAME_MAX} fit. Use a shorter page URL or UTM values.", {"page_url": "too long"})
    tracking_url = services.tracking_url_create(campaign=campaign, by=request.user, **payload.dict())
    return Status(201, selectors.tracking_urls_of(request.account, campaign).get(pk=tracking_url.pk))
