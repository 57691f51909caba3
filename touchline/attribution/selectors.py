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


def _windows() -> str:
    """The campaign's association windows with their assets (a handful of rows, by the association index)."""
    return (f"SELECT a.id AS asset_id, a.asset_type, a.page, a.form_id, a.sequence_id, x.associated_at, "
            f"x.removed_at FROM {ASSOCIATION} x JOIN {ASSET} a ON a.id = x.asset_id WHERE x.campaign_id = %s")


def campaign_interactions(campaign: Campaign) -> Sql:
    """interaction_id, asset_id, asset_type, asset_name — one row per credited interaction.

    Read from the campaign's side, so the cost follows the campaign's interactions, not the account's: each way
    of matching an asset starts from the campaign's windows and reads that asset's interactions from its own
    index — a page's views (account, page, interaction_type, occurred_at), a form's submissions and a sequence's
    clicks and replies (form or sequence, occurred_at) — and UTM traffic starts from the sessions with the
    campaign's utm_campaign (the session index on account, utm_campaign) and their page views (by session).
    An interaction of several assets credits through the lowest asset id; a UTM page view that is also an
    asset's is the asset's: all of them are grouped once by interaction, instead of testing each UTM page view
    against an account-wide NOT IN.
    """
    # CROSS JOIN: the windows (or the sessions) are the outer loop on SQLite whatever its statistics say (it
    # otherwise skip-scanned every interaction's sequence_id); PostgreSQL plans it as the inner join it is.
    by_asset = f"""
        SELECT i.id AS interaction_id, w.asset_id FROM ({_windows()}) w CROSS JOIN {INTERACTION} i
        WHERE w.asset_type IN ({PAGE_TYPE_LIST}) AND i.account_id = %s AND i.page = w.page
          AND i.interaction_type = 'page_view' AND {in_window('i.occurred_at')}
        UNION ALL
        SELECT i.id, w.asset_id FROM ({_windows()}) w CROSS JOIN {INTERACTION} i
        WHERE w.form_id IS NOT NULL AND i.form_id = w.form_id AND i.account_id = %s AND {in_window('i.occurred_at')}
        UNION ALL
        SELECT i.id, w.asset_id FROM ({_windows()}) w CROSS JOIN {INTERACTION} i
        WHERE w.sequence_id IS NOT NULL AND i.sequence_id = w.sequence_id AND i.account_id = %s
          AND {in_window('i.occurred_at')}"""
    # UTM traffic's page views join the same grouping with no asset: MIN ignores it, so a page view that is also
    # an asset's credits through the asset, and one that is only UTM traffic keeps asset NULL. Grouped by the
    # interaction table's own id so PostgreSQL estimates the groups from its statistics: grouping the UNION's
    # column it assumed 200 rows and joined every revenue conversion with every campaign credit in a nested loop.
    utm = f"""
        SELECT i.id, NULL FROM {SESSION} s CROSS JOIN {INTERACTION} i
        WHERE s.account_id = %s AND s.utm_campaign = %s AND i.session_id = s.id AND i.account_id = %s
          AND i.interaction_type = 'page_view'"""
    sql = f"""
        SELECT b.interaction_id, b.asset_id, COALESCE(a.asset_type, '{UTM_ASSET_TYPE}') AS asset_type,
               CASE WHEN a.id IS NULL THEN %s ELSE a.name END AS asset_name
        FROM (SELECT g.id AS interaction_id, MIN(m.asset_id) AS asset_id FROM ({by_asset} UNION ALL {utm}) m
              JOIN {INTERACTION} g ON g.id = m.interaction_id GROUP BY g.id) b
             LEFT JOIN {ASSET} a ON a.id = b.asset_id"""
    label = f"UTM traffic (utm_campaign={campaign.utm_campaign})"
    a, c = campaign.account_id, campaign.pk
    return Sql(sql, (label, c, a, c, a, c, a, a, campaign.utm_campaign, a))
