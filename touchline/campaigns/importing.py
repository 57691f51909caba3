"""Import row types for campaigns: `campaign`, `asset` and `association` (see docs/import.md), applied after the
web-tracking rows, so associations can name forms, and assets can name sequences imported in the same file.

Campaigns are matched by their utm_campaign value, assets by external_id (pages without one by type and URL,
forms by name, sequences by external_id), associations by campaign, asset and start time — so re-importing a file
changes nothing.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from touchline.campaigns import services
from touchline.campaigns.models import PAGE_TYPES, Asset, AssetType, Association, Campaign
from touchline.crm.importing import CREATED, ROW_TYPES, UNCHANGED, RowError, RowType, _datetime, _text
from touchline.sequences.models import Sequence
from touchline.tracking.importing import by_time
from touchline.tracking.models import Form


def _date(row: dict, key: str) -> date | None:
    text = _text(row, key)
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise RowError("not a date (YYYY-MM-DD)", key) from None


def _number(row: dict, key: str, kind=int):
    text = _text(row, key)
    if not text:
        return None
    try:
        return kind(text)
    except (ValueError, InvalidOperation):
        raise RowError("not a number", key) from None


CAMPAIGN_NUMBERS = {"budget": Decimal, "goal_revenue": Decimal, "goal_sessions": int, "goal_new_contacts": int,
                    "goal_influenced_contacts": int}


def _apply_campaign(row: dict, lookups) -> str:
    utm = _text(row, "utm_campaign")
    if not utm:
        raise RowError("required: campaigns are matched by it", "utm_campaign")
    values = {"name": _text(row, "name"), "notes": _text(row, "notes"), "start_date": _date(row, "start_date"),
              "end_date": _date(row, "end_date"), "owner": lookups.owner(row)}
    values |= {key: _number(row, key, kind) for key, kind in CAMPAIGN_NUMBERS.items()}
    values = {k: v for k, v in values.items() if k in row or k == "owner" and "owner_email" in row}
    existing = Campaign.objects.filter(account=lookups.account, utm_campaign=utm).first()
    if existing is None:
        services.campaign_create(account=lookups.account, utm_campaign=utm, created_at=_datetime(row, "created_at"),
                                 **{"name": "", **values})
        return CREATED
    if all(getattr(existing, k) == v for k, v in values.items()):
        return UNCHANGED
    services.campaign_update(campaign=existing, **values)
    return "updated"


def _sequence(lookups, ref: str, key: str) -> Sequence:
    sequence = Sequence.objects.filter(account=lookups.account, external_id=ref).first()
    if sequence is None:
        raise RowError(f"no sequence with external_id {ref!r}", key)
    return sequence


def _asset_from(row: dict, lookups, prefix: str = "") -> Asset:
    """The asset a row names: by external_id, or a page by type and URL, a form by name, a sequence by its
    external_id. Pages, forms and sequences are registered as assets on first mention."""
    asset_type = _text(row, f"{prefix}asset_type") or _text(row, f"{prefix}type")
    external_id = _text(row, f"{prefix}external_id") if prefix else ""
    if external_id:
        asset = Asset.objects.filter(account=lookups.account, external_id=external_id).first()
        if asset is None:
            raise RowError(f"no asset with external_id {external_id!r}", f"{prefix}external_id")
        return asset
    if asset_type in PAGE_TYPES:
        return services.page_asset_get_or_create(account=lookups.account, url=_text(row, f"{prefix}url"),
                                                 asset_type=asset_type, name=_text(row, f"{prefix}name"))
    if asset_type == AssetType.FORM:
        name = _text(row, f"{prefix}form")
        form = Form.objects.filter(account=lookups.account, name=name).first()
        if form is None:
            raise RowError(f"no form named {name!r}", f"{prefix}form")
        return services.form_asset(form=form)
    if asset_type == AssetType.SEQUENCE:
        return services.sequence_asset(sequence=_sequence(lookups, _text(row, f"{prefix}sequence_external_id"),
                                                          f"{prefix}sequence_external_id"))
    raise RowError(f"give {prefix}external_id, or a page type with {prefix}url, a form, or a sequence",
                   f"{prefix}asset_type")


def _apply_asset(row: dict, lookups) -> str:
    asset_type, external_id = _text(row, "asset_type"), _text(row, "external_id")
    if asset_type not in AssetType.values:
        raise RowError(f"one of {', '.join(AssetType.values)}", "asset_type")
    if external_id and Asset.objects.filter(account=lookups.account, external_id=external_id).exists():
        return UNCHANGED
    if asset_type in (*PAGE_TYPES, AssetType.FORM, AssetType.SEQUENCE):
        asset = _asset_from(row, lookups)
        if external_id and not asset.external_id:
            asset.external_id = external_id
            asset.save(update_fields=["external_id"])
        return CREATED
    services.external_asset_create(account=lookups.account, asset_type=asset_type, name=_text(row, "name"),
                                   external_id=external_id, url=_text(row, "url"))
    return CREATED


def _apply_association(row: dict, lookups) -> str:
    utm = _text(row, "campaign_utm")
    campaign = Campaign.objects.filter(account=lookups.account, utm_campaign=utm).first()
    if campaign is None:
        raise RowError(f"no campaign with utm_campaign {utm!r}" if utm else "required", "campaign_utm")
    asset = _asset_from(row, lookups, prefix="asset_")
    associated_at, removed_at = _datetime(row, "associated_at"), _datetime(row, "removed_at")
    if associated_at is None:
        raise RowError("required", "associated_at")
    if removed_at is not None and removed_at < associated_at:
        raise RowError("before associated_at", "removed_at")
    if Association.objects.filter(campaign=campaign, asset=asset, associated_at=associated_at).exists():
        return UNCHANGED
    if Association.objects.filter(campaign=campaign, asset=asset, removed_at__isnull=True).exists():
        raise RowError("the asset is associated with the campaign and not removed; import its removal first",
                       "associated_at")
    association = services.association_add(campaign=campaign, asset=asset, at=associated_at)
    if removed_at is not None:
        services.association_remove(association=association, at=removed_at)
    return CREATED


ROW_TYPES.update({
    "campaign": RowType("campaign", frozenset({"utm_campaign", "name", "owner_email", "start_date", "end_date", "notes",
                                               "created_at", *CAMPAIGN_NUMBERS}), _apply_campaign),
    "asset": RowType("asset", frozenset({"asset_type", "external_id", "name", "url", "form", "sequence_external_id"}),
                     _apply_asset),
    "association": RowType("association", frozenset({
        "campaign_utm", "asset_external_id", "asset_type", "asset_url", "asset_name", "asset_form",
        "asset_sequence_external_id", "associated_at", "removed_at"}), _apply_association,
        order=by_time("associated_at")),
})
