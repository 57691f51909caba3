"""Writes of campaigns: create and edit campaigns, register assets, associate and remove them (timestamped
windows), and build tracking URLs."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from touchline.campaigns.models import (
    PAGE_TYPES,
    Asset,
    AssetType,
    Association,
    Campaign,
    CampaignSession,
    TrackingUrl,
    page_key,
    tracking_url_build,
)
from touchline.core.models import Account
from touchline.tracking.models import Visitor, WebSession

CAMPAIGN_FIELDS = {"name", "owner", "utm_campaign", "start_date", "end_date", "budget", "currency", "notes",
                   "goal_sessions", "goal_new_contacts", "goal_influenced_contacts", "goal_revenue"}
# UTM values travel in URLs and are compared exactly: letters, digits and - _ . + only, so that what a marketer
# types is what arrives (no spaces turned into %20 or +).
UTM_VALUE = re.compile(r"[A-Za-z0-9._+-]{1,100}")


# Terms and contents are free text (search keywords, ad variants); they are URL-encoded when the link is built.
UTM_TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,100}")


def _utm_check(field: str, value: str, *, required: bool) -> str:
    value = value.strip()
    if not value and not required:
        return ""
    if field in ("utm_term", "utm_content"):
        if not UTM_TEXT.fullmatch(value):
            raise ValidationError({field: "At most 100 characters, no control characters."})
        return value
    if not UTM_VALUE.fullmatch(value):
        raise ValidationError({field: "Use 1–100 letters, digits, '-', '_', '.' or '+' (no spaces)."})
    return value


def _campaign_validate(campaign: Campaign) -> None:
    errors = {}
    if not campaign.name.strip():
        errors["name"] = "Give the campaign a name."
    if campaign.start_date and campaign.end_date and campaign.end_date < campaign.start_date:
        errors["end_date"] = "The end date is before the start date."
    for field in ("budget", "goal_revenue"):
        value = getattr(campaign, field)
        if value is not None and Decimal(value) < 0:
            errors[field] = "Must not be negative."
    try:
        campaign.utm_campaign = _utm_check("utm_campaign", campaign.utm_campaign, required=True)
    except ValidationError as error:
        errors.update(error.message_dict)
    if not errors and Campaign.all_accounts.filter(account=campaign.account, utm_campaign=campaign.utm_campaign) \
            .exclude(pk=campaign.pk).exists():
        errors["utm_campaign"] = "Another campaign uses this UTM value."
    if errors:
        raise ValidationError(errors)


def campaign_create(*, account: Account, name: str, utm_campaign: str = "", owner=None,
                    start_date: date | None = None, end_date: date | None = None, budget: Decimal | None = None,
                    currency: str = "USD", notes: str = "", goal_sessions: int | None = None,
                    goal_new_contacts: int | None = None, goal_influenced_contacts: int | None = None,
                    goal_revenue: Decimal | None = None, created_at: datetime | None = None) -> Campaign:
    """Create a campaign; its UTM value defaults to the slug of its name."""
    campaign = Campaign(
        account=account, name=name.strip(), utm_campaign=utm_campaign.strip() or slugify(name)[:100],
        owner=owner, start_date=start_date, end_date=end_date, budget=budget, currency=currency, notes=notes,
        goal_sessions=goal_sessions, goal_new_contacts=goal_new_contacts,
        goal_influenced_contacts=goal_influenced_contacts, goal_revenue=goal_revenue,
        created_at=created_at or timezone.now())
    _campaign_validate(campaign)
    with transaction.atomic():
        campaign.save()
        campaign_sessions_rebuild(campaign=campaign)  # its UTM value may match sessions already recorded
    return campaign


def campaign_update(*, campaign: Campaign, **fields) -> Campaign:
    unknown = set(fields) - CAMPAIGN_FIELDS
    if unknown:
        raise ValidationError({f: "Unknown field." for f in unknown})
    utm_before = campaign.utm_campaign
    for name, value in fields.items():
        setattr(campaign, name, value)
    _campaign_validate(campaign)
    with transaction.atomic():
        campaign.save()
        if campaign.utm_campaign != utm_before:
            campaign_sessions_rebuild(campaign=campaign)
    return campaign


def page_asset_get_or_create(*, account: Account, url: str, asset_type: str = AssetType.WEBSITE_PAGE,
                             name: str = "") -> Asset:
    """The page asset of a URL (one per page and type): views of the page are the asset's views."""
    if asset_type not in PAGE_TYPES:
        raise ValidationError({"asset_type": "Pages are landing pages, website pages or blog posts."})
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"url": "Enter the page's full http(s) URL."})
    page = page_key(url)
    asset, _ = Asset.all_accounts.get_or_create(account=account, asset_type=asset_type, page=page,
                                                defaults={"name": name.strip() or page, "url": url.strip()})
    return asset


def form_asset(*, form) -> Asset:
    asset, _ = Asset.all_accounts.get_or_create(account=form.account, form=form,
                                                defaults={"asset_type": AssetType.FORM, "name": form.name})
    return asset


def sequence_asset(*, sequence) -> Asset:
    asset, _ = Asset.all_accounts.get_or_create(account=sequence.account, sequence=sequence,
                                                defaults={"asset_type": AssetType.SEQUENCE, "name": sequence.name})
    return asset


def external_asset_create(*, account: Account, asset_type: str, name: str, external_id: str = "",
                          url: str = "") -> Asset:
    """An asset that lives outside Touchline (ad, social post, marketing email, CTA, static list, workflow);
    its interactions arrive by import or API."""
    internal = (*PAGE_TYPES, AssetType.FORM, AssetType.SEQUENCE, AssetType.TRACKING_URL)
    if asset_type not in AssetType.values or asset_type in internal:
        raise ValidationError({"asset_type": "Pages, forms, sequences and tracking URLs have their own way in."})
    if not name.strip():
        raise ValidationError({"name": "Give the asset a name."})
    return Asset.all_accounts.create(account=account, asset_type=asset_type, name=name.strip(),
                                     external_id=external_id.strip(), url=url.strip())


def association_add(*, campaign: Campaign, asset: Asset, by=None, at: datetime | None = None) -> Association:
    """Associate an asset from `at` (now) on. Already associated: the open association is returned unchanged —
    its data has counted since then, and moving the start would rewrite history."""
    if asset.account_id != campaign.account_id:
        raise ValidationError({"asset": "The asset belongs to another account."})
    with transaction.atomic():
        current = Association.all_accounts.select_for_update().filter(
            campaign=campaign, asset=asset, removed_at__isnull=True).first()
        if current is not None:
            return current
        association = Association.all_accounts.create(account_id=campaign.account_id, campaign=campaign,
                                                      asset=asset, associated_at=at or timezone.now(),
                                                      associated_by=by)
        if asset.asset_type in PAGE_TYPES:
            campaign_sessions_rebuild(campaign=campaign)
        return association


def association_remove(*, association: Association, at: datetime | None = None) -> Association:
    """Close the association's window: data from `at` on no longer counts for the campaign; data inside the
    window still does (docs/campaigns.md)."""
    if association.removed_at is None:
        association.removed_at = max(at or timezone.now(), association.associated_at)
        with transaction.atomic():
            association.save(update_fields=["removed_at"])
            if association.asset.asset_type in PAGE_TYPES:
                campaign_sessions_rebuild(campaign=association.campaign)
    return association


# The CampaignSession rollup -------------------------------------------------------------------------------------


def campaign_sessions_rebuild(*, campaign: Campaign) -> None:
    """Recompute the campaign's sessions from the definition (analytics.campaign_sessions_by_definition), set-based:
    after its UTM value or its page associations change. Cost: the campaign's own traffic, not the account's.
    Their start days are written in the account's current zone, which becomes the campaign's rollup_time_zone
    (after the account's zone changes, charts convert each row again until the next rebuild)."""
    from touchline.campaigns.analytics import campaign_sessions_by_definition, late_window_views

    definition = campaign_sessions_by_definition(campaign)
    table = CampaignSession._meta.db_table
    # started_on is the start's day in the account's zone, converted here once per row instead of in every chart.
    zone = Account.objects.filter(pk=campaign.account_id).values_list("time_zone", flat=True).get()
    day, day_params = connection.ops.datetime_cast_date_sql("d.started_at", (), zone)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE campaign_id = %s", [campaign.pk])
        cursor.execute(f"INSERT INTO {table} (account_id, campaign_id, session_id, started_at, started_on, "
                       f"contact_id, touched_at) SELECT %s, %s, d.session_id, d.started_at, {day}, vi.contact_id, "
                       f"d.started_at FROM ({definition.sql}) d JOIN {WebSession._meta.db_table} s "
                       f"ON s.id = d.session_id JOIN {Visitor._meta.db_table} vi ON vi.id = s.visitor_id",
                       [campaign.account_id, campaign.pk, *day_params, *definition.params])
        earlier = late_window_views(campaign)  # views inside a window before their session's start
        cursor.execute(f"UPDATE {table} SET touched_at = (SELECT MIN(e.occurred_at) FROM ({earlier.sql}) e "
                       f"WHERE e.session_id = {table}.session_id) WHERE campaign_id = %s AND session_id IN "
                       f"(SELECT e.session_id FROM ({earlier.sql}) e)", [*earlier.params, campaign.pk,
                                                                         *earlier.params])
        Campaign.all_accounts.filter(pk=campaign.pk).update(rollup_time_zone=zone)
    campaign.rollup_time_zone = zone


def campaign_sessions_note(*, view, session, new_session: bool) -> None:
    """Keep the rollup as page views are recorded: a new session landing with a campaign's UTM value, and a view
    of a page associated with a campaign at that moment, make the session the campaign's (its start day in the
    campaign's rollup_time_zone, like the rebuild's rows)."""
    campaign_ids = set()
    if new_session and session.utm_campaign:
        campaign_ids |= set(Campaign.all_accounts.filter(account_id=session.account_id,
                                                         utm_campaign=session.utm_campaign).values_list("pk",
                                                                                                      flat=True))
    by_page = set(Association.all_accounts.filter(
        account_id=view.account_id, asset__page=view.page, asset__asset_type__in=PAGE_TYPES,
        associated_at__lte=view.occurred_at).filter(
        Q(removed_at__isnull=True) | Q(removed_at__gt=view.occurred_at)).values_list("campaign_id", flat=True))
    campaign_ids |= by_page
    if campaign_ids:
        zones = dict(Campaign.all_accounts.filter(pk__in=campaign_ids).values_list("pk", "rollup_time_zone"))
        CampaignSession.all_accounts.bulk_create(
            [CampaignSession(account_id=session.account_id, campaign_id=pk, session_id=session.pk,
                             started_at=session.started_at, contact_id=view.visitor.contact_id,
                             started_on=session.started_at.astimezone(ZoneInfo(zones[pk] or "UTC")).date(),
                             touched_at=min(session.started_at, view.occurred_at) if pk in by_page
                             else session.started_at)
             for pk in campaign_ids], ignore_conflicts=True)
        if by_page and view.occurred_at < session.started_at:  # a late hit: the session was touched earlier
            CampaignSession.all_accounts.filter(campaign_id__in=by_page, session_id=session.pk,
                                                touched_at__gt=view.occurred_at).update(touched_at=view.occurred_at)


def campaign_sessions_note_many(*, notes: list[tuple]) -> None:
    """campaign_sessions_note for a batch of recorded views, in order: `notes` are (view, session, new_session).
    A view can make a campaign session only when its page is a page asset some campaign has (had) associated, or
    its session is new and lands with some campaign's UTM value; two queries find those views, and only they are
    noted, one by one. The others would have changed nothing (the worker's batch of hits, issue #5)."""
    if not notes:
        return
    account_ids = {view.account_id for view, _, _ in notes}
    associated_pages = set(Association.all_accounts.filter(
        account_id__in=account_ids, asset__asset_type__in=PAGE_TYPES,
        asset__page__in={view.page for view, _, _ in notes}).values_list("account_id", "asset__page"))
    landing_utms = {session.utm_campaign for _, session, new_session in notes if new_session and session.utm_campaign}
    campaign_utms = set(Campaign.all_accounts.filter(account_id__in=account_ids, utm_campaign__in=landing_utms)
                        .values_list("account_id", "utm_campaign")) if landing_utms else set()
    for view, session, new_session in notes:
        if (view.account_id, view.page) in associated_pages or (
                new_session and (session.account_id, session.utm_campaign) in campaign_utms):
            campaign_sessions_note(view=view, session=session, new_session=new_session)


def campaign_sessions_identify(*, visitor) -> None:
    """Keep the rollup's contact as a visitor is identified (or moves to another contact): every campaign session
    of the visitor, earlier ones included, is the contact's from now on (SPEC §0)."""
    # session_id IN (the visitor's sessions): both sides by index. Filtering through the join instead made Django
    # write `id IN (SELECT … FROM campaignsession JOIN websession …)`, which PostgreSQL ran as a scan per
    # identification (seconds each on a test's few thousand rows).
    sessions = WebSession.all_accounts.filter(visitor_id=visitor.pk).values("id")
    CampaignSession.all_accounts.filter(session_id__in=sessions).update(contact_id=visitor.contact_id)


def tracking_url_create(*, campaign: Campaign, page_url: str, utm_source: str, utm_medium: str,
                        utm_term: str = "", utm_content: str = "", by=None,
                        at: datetime | None = None) -> TrackingUrl:
    """A tracking URL for the campaign; its asset is associated with the campaign at once."""
    parts = urlsplit(page_url.strip())
    errors = {}
    if parts.scheme not in ("http", "https") or not parts.hostname:
        errors["page_url"] = "Enter the page's full http(s) URL."
    elif "utm_" in parts.query:
        errors["page_url"] = "Enter the page without UTM parameters; they are added from the fields below."
    values = {}
    for field, value, required in (("utm_source", utm_source, True), ("utm_medium", utm_medium, True),
                                   ("utm_term", utm_term, False), ("utm_content", utm_content, False)):
        try:
            values[field] = _utm_check(field, value, required=required)
        except ValidationError as error:
            errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    at = at or timezone.now()
    full = tracking_url_build(page_url=page_url.strip(), utm_campaign=campaign.utm_campaign, **values)
    with transaction.atomic():
        asset = Asset.all_accounts.create(account_id=campaign.account_id, asset_type=AssetType.TRACKING_URL,
                                          name=full, url=full, page=page_key(page_url), created_at=at)
        tracking_url = TrackingUrl.all_accounts.create(account_id=campaign.account_id, campaign=campaign,
                                                       asset=asset, page_url=page_url.strip(), created_by=by,
                                                       created_at=at, **values)
        association_add(campaign=campaign, asset=asset, by=by, at=at)
    return tracking_url
