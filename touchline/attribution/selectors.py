"""Reads of stored attribution for the revenue and attribution reports.

`campaign_interactions(campaign)` is the campaign-crediting rule of SPEC §3 applied to the interaction log: an
interaction credits the campaign when it happened inside an association window of its asset (a page, form or
sequence), or when it is a page view of a session that landed with the campaign's utm_campaign. Each credited
interaction comes with the asset it credits through; UTM traffic on a page that is not an associated asset
credits through the campaign's UTM traffic (asset_id NULL, type `utm`).
"""

from __future__ import annotations

from touchline.attribution.models import Conversion, Credit, Interaction
from touchline.campaigns.analytics import ASSET, ASSOCIATION, PAGE_TYPE_LIST, in_window
from touchline.campaigns.models import Campaign
from touchline.reports.pipeline import Sql
from touchline.tracking.models import WebSession

INTERACTION, CREDIT, CONVERSION = Interaction._meta.db_table, Credit._meta.db_table, Conversion._meta.db_table
SESSION = WebSession._meta.db_table
UTM_ASSET_TYPE = "utm"


def campaign_interactions(campaign: Campaign) -> Sql:
    """interaction_id, asset_id, asset_type, asset_name — one row per credited interaction."""
    windows = (f"SELECT a.id AS asset_id, a.asset_type, a.name, a.page, a.form_id, a.sequence_id, x.associated_at, "
               f"x.removed_at FROM {ASSOCIATION} x JOIN {ASSET} a ON a.id = x.asset_id WHERE x.campaign_id = %s")
    by_asset = f"""
        SELECT i.id AS interaction_id, MIN(w.asset_id) AS asset_id FROM {INTERACTION} i
        JOIN ({windows}) w ON (w.asset_type IN ({PAGE_TYPE_LIST}) AND i.interaction_type = 'page_view'
                               AND w.page = i.page)
                            OR (w.form_id IS NOT NULL AND w.form_id = i.form_id)
                            OR (w.sequence_id IS NOT NULL AND w.sequence_id = i.sequence_id)
        WHERE i.account_id = %s AND {in_window('i.occurred_at')}
        GROUP BY i.id"""
    sql = f"""
        SELECT b.interaction_id, b.asset_id, a.asset_type, a.name AS asset_name
        FROM ({by_asset}) b JOIN {ASSET} a ON a.id = b.asset_id
        UNION ALL
        SELECT i.id, NULL, '{UTM_ASSET_TYPE}', %s FROM {INTERACTION} i JOIN {SESSION} s ON s.id = i.session_id
        WHERE i.account_id = %s AND i.interaction_type = 'page_view' AND s.utm_campaign = %s
          AND i.id NOT IN (SELECT interaction_id FROM ({by_asset}) b2)"""
    label = f"UTM traffic (utm_campaign={campaign.utm_campaign})"
    params = (campaign.pk, campaign.account_id, label, campaign.account_id, campaign.utm_campaign, campaign.pk,
              campaign.account_id)
    return Sql(sql, params)
