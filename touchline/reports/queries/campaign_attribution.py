"""Campaign revenue and attribution reports (SPEC §2 Revenue, Revenue attribution, Attribution tab): sums of the
credits stored by touchline.attribution, restricted to the interactions that credit the campaign
(attribution.selectors.campaign_interactions). Nothing here recomputes a journey.

- Revenue (professional): the linear model over revenue conversions — "split evenly across all interactions that
  led to the close" — dated by close date, never further back than 365 days.
- Revenue attribution (enterprise): any model; deal contribution, deals credited, their full amounts, contacts.
- Attribution tab: contact create, deal create or revenue; a model (enterprise; linear otherwise); grouped by
  asset, asset type or interaction type; dated by conversion (create dates, close date), up to now by default.
- Credit rows: the interactions behind any of these numbers, each with its credit.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from touchline.attribution.engine import DATA_DRIVEN, MODELS
from touchline.attribution.selectors import CONVERSION, CREDIT, INTERACTION, campaign_interactions
from touchline.attribution.services import LOOKBACKS
from touchline.campaigns.analytics import CONTACT, between
from touchline.core.models import Plan
from touchline.crm.models import Deal
from touchline.reports.pipeline import Column, ReportParamError, ReportResult, Sql, register
from touchline.reports.queries.campaign_performance import CampaignQuery, CampaignReport

ALL_MODELS = (*MODELS, DATA_DRIVEN)
KINDS = ("contact_create", "deal_create", "revenue")
GROUPS = ("asset", "asset_type", "interaction_type")
DEFAULT_MODEL = "linear"  # the Attribution tab's model below enterprise (SPEC §5: the choice is enterprise's)
REVENUE_DAYS = 365
NANO, CENTS = Decimal(10) ** 9, Decimal(100)
DEAL = Deal._meta.db_table


def _bounds(query: CampaignQuery, *, now_cap: bool = True, max_days: int | None = None) -> tuple:
    start, end = query.range.start, query.range.end
    now = query.now
    if now_cap and (end is None or end > now):
        end = now  # default: all data up to now; a future end only when set by hand (custom range)
        if query.range.key == "custom" and query.range.end is not None:
            end = query.range.end
    if max_days is not None:
        floor = now - timedelta(days=max_days)
        start = floor if start is None or start < floor else start
    return start, end


def _credited(query: CampaignQuery, *, kind: str, model: str, lookback: int, start, end) -> Sql:
    """credit rows of the campaign's interactions: conversion, interaction, weight (nano), cents, asset…"""
    ci = campaign_interactions(query.campaign)
    condition, params = between("v.converted_at", start, end)
    sql = f"""
        SELECT c.conversion_id, c.interaction_id, c.weight_nano, c.amount_cents, ci.asset_id, ci.asset_type,
               ci.asset_name, i.interaction_type, i.occurred_at, i.contact_id, v.deal_id, v.value, v.converted_at,
               v.contact_id AS converted_contact_id
        FROM ({ci.sql}) ci CROSS JOIN {CREDIT} c
             JOIN {CONVERSION} v ON v.id = c.conversion_id
             JOIN {INTERACTION} i ON i.id = c.interaction_id
        WHERE c.interaction_id = ci.interaction_id
          AND c.account_id = %s AND c.model = %s AND c.lookback_days = %s AND v.kind = %s AND {condition}"""
    # The campaign's interactions first, then their credits by the (interaction, model, lookback) index: the cost
    # follows the campaign, not the account's conversions (CROSS JOIN keeps SQLite from starting at the latter).
    return Sql(sql, (*ci.params, query.account.pk, model, lookback, kind, *params))


class AttributionQueryMixin:
    """Refuses the report to accounts whose plan does not include it (SPEC §5)."""

    plan_needed: tuple[str, ...] = ()

    def parse(self, account, data, *, now: datetime):
        if self.plan_needed and account.plan not in self.plan_needed:
            raise ReportParamError({"plan": f"{self.title} is part of the {' and '.join(self.plan_needed)} plan(s)."})
        return super().parse(account, data, now=now)


@register
class CampaignAttribution(AttributionQueryMixin, CampaignReport):
    key = "campaign_attribution"
    title = "Campaign attribution"
    description = ("The campaign's share of contacts created, deals created or revenue under an attribution "
                   "model, by asset, asset type or interaction type.")
    extra_params = (("conversion", KINDS), ("model", (DEFAULT_MODEL, *[m for m in ALL_MODELS if m != DEFAULT_MODEL])),
                    ("lookback", tuple(str(d) for d in LOOKBACKS)), ("group", GROUPS))

    def parse(self, account, data, *, now):
        query = super().parse(account, data, now=now)
        if account.plan != Plan.ENTERPRISE and query.extra["model"] != DEFAULT_MODEL:
            raise ReportParamError({"model": "Choosing the model is part of the enterprise plan; "
                                             f"other plans see {DEFAULT_MODEL}."})
        kind, model = query.extra["conversion"], query.extra["model"]
        if model == "w_shaped" and kind == "contact_create" or model == "full_path" and kind != "revenue":
            raise ReportParamError({"model": f"{model} does not apply to {kind} (SPEC §3)."})
        return query

    def build(self, query):
        start, end = _bounds(query)
        credited = _credited(query, kind=query.extra["conversion"], model=query.extra["model"],
                             lookback=int(query.extra["lookback"]), start=start, end=end)
        group = {"asset": "q.asset_type, q.asset_id, q.asset_name", "asset_type": "q.asset_type",
                 "interaction_type": "q.interaction_type"}[query.extra["group"]]
        return {"rows": Sql(f"SELECT {group}, SUM(q.weight_nano) AS nano, SUM(q.amount_cents) AS cents, "
                            f"COUNT(DISTINCT q.conversion_id) AS conversions, COUNT(*) AS interactions "
                            f"FROM ({credited.sql}) q GROUP BY {group}", credited.params)}

    def shape(self, query, fetched) -> ReportResult:
        revenue = query.extra["conversion"] == "revenue"
        group = query.extra["group"]
        rows = []
        for row in fetched["rows"]:
            label = {"asset": row.get("asset_name"), "asset_type": row.get("asset_type"),
                     "interaction_type": row.get("interaction_type")}[group]
            rows.append({"label": label, "asset_id": row.get("asset_id"), "asset_type": row.get("asset_type"),
                         "interaction_type": row.get("interaction_type"), "attributed": _attributed(row, revenue),
                         "conversions": int(row["conversions"]), "interactions": int(row["interactions"])})
        rows.sort(key=lambda r: (-r["attributed"], str(r["label"])))
        unit = "Attributed revenue" if revenue else {"contact_create": "Attributed contacts",
                                                     "deal_create": "Attributed deals"}[query.extra["conversion"]]
        return ReportResult(
            report=self.key, title=f"{query.campaign.name}: attribution", params=query.echo,
            columns=(Column("label", group.replace("_", " ").capitalize(), "text"),
                     Column("attributed", unit, "money" if revenue else "decimal"),
                     Column("conversions", "Conversions credited", "count"),
                     Column("interactions", "Interactions", "count")),
            rows=tuple(rows), totals={"attributed": sum((r["attributed"] for r in rows), Decimal(0)),
                                      "interactions": sum(r["interactions"] for r in rows)},
            chart={"type": "bar", "label": "label", "values": ["attributed"]},
            notes=(f"Model {query.extra['model']}, lookback "
                   f"{query.extra['lookback'] + ' days' if query.extra['lookback'] != '0' else 'whole journey'}.",))


def _attributed(row: dict, revenue: bool) -> Decimal:
    if revenue:
        return (Decimal(int(row["cents"] or 0)) / CENTS).quantize(Decimal("0.01"))
    return (Decimal(int(row["nano"] or 0)) / NANO).quantize(Decimal("0.01"))


def _revenue_sections(query, *, model: str) -> dict[str, Sql]:
    start, end = _bounds(query, max_days=REVENUE_DAYS)
    credited = _credited(query, kind="revenue", model=model, lookback=0, start=start, end=end)
    by_deal = Sql(f"""SELECT q.deal_id, d.name, MAX(q.value) AS amount, SUM(q.amount_cents) AS cents,
                             COUNT(*) AS interactions
                      FROM ({credited.sql}) q JOIN {DEAL} d ON d.id = q.deal_id
                      GROUP BY q.deal_id, d.name HAVING SUM(q.amount_cents) <> 0""", credited.params)
    contacts = Sql(f"""SELECT COUNT(DISTINCT q.contact_id) AS n FROM ({credited.sql}) q
                       WHERE q.amount_cents <> 0 AND q.contact_id IS NOT NULL""", credited.params)
    return {"deals": by_deal, "contacts": contacts}


def _revenue_shape(report, query, fetched, *, title: str, model: str) -> ReportResult:
    rows = tuple({"deal_id": r["deal_id"], "deal": r["name"],
                  "contribution": (Decimal(int(r["cents"])) / CENTS).quantize(Decimal("0.01")),
                  "amount": Decimal(str(r["amount"])).quantize(Decimal("0.01")),
                  "interactions": int(r["interactions"])} for r in fetched["deals"])
    rows = tuple(sorted(rows, key=lambda r: (-r["contribution"], r["deal"])))
    totals = {"contribution": sum((r["contribution"] for r in rows), Decimal("0.00")),
              "amount": sum((r["amount"] for r in rows), Decimal("0.00")),
              "deals": len(rows), "contacts": int(fetched["contacts"][0]["n"])}
    return ReportResult(
        report=report.key, title=f"{query.campaign.name}: {title}", params=query.echo,
        columns=(Column("deal", "Deal", "text"), Column("contribution", "Deal contribution", "money"),
                 Column("amount", "Associated deal value", "money"), Column("interactions", "Interactions", "count")),
        rows=rows, totals=totals, chart={"type": "bar", "label": "deal", "values": ["contribution"]},
        notes=(f"{totals['deals']} deal(s) with revenue, {totals['contacts']} contact(s) with revenue; model "
               f"{model}; by close date, at most the last {REVENUE_DAYS} days.",))


@register
class CampaignRevenue(AttributionQueryMixin, CampaignReport):
    key = "campaign_revenue"
    title = "Campaign revenue"
    description = ("Revenue of closed-won deals split evenly over all the interactions before the close; the "
                   "campaign's share of each deal, by close date within the last 365 days.")
    plan_needed = (Plan.PROFESSIONAL, Plan.ENTERPRISE)

    def build(self, query):
        return _revenue_sections(query, model="linear")

    def shape(self, query, fetched):
        return _revenue_shape(self, query, fetched, title="revenue", model="linear (split evenly)")


@register
class CampaignRevenueAttribution(AttributionQueryMixin, CampaignReport):
    key = "campaign_revenue_attribution"
    title = "Campaign revenue attribution"
    description = ("Under a chosen model: deal contribution, deals credited, their full amounts (associated deal "
                   "value) and contacts, by close date within the last 365 days.")
    plan_needed = (Plan.ENTERPRISE,)
    extra_params = (("model", ("linear", *[m for m in ALL_MODELS if m != "linear"])),)

    def build(self, query):
        return _revenue_sections(query, model=query.extra["model"])

    def shape(self, query, fetched):
        return _revenue_shape(self, query, fetched, title="revenue attribution", model=query.extra["model"])


@register
class CampaignCreditRows(AttributionQueryMixin, CampaignReport):
    key = "campaign_credit_rows"
    title = "Campaign credit rows"
    description = ("The interactions behind a campaign's attributed numbers, each with its credit; narrowed by "
                   "deal=ID, asset=ID, asset_type or interaction_type to one number, window=365 for the Revenue "
                   "reports' reach.")
    extra_params = (("conversion", KINDS), ("model", ("linear", *[m for m in ALL_MODELS if m != "linear"])),
                    ("lookback", tuple(str(d) for d in LOOKBACKS)), ("window", ("", str(REVENUE_DAYS))))
    # Optional filters narrowing the rows to one number of a report: a deal of Revenue, a row of the
    # Attribution tab (an asset, an asset type, an interaction type). window=365: the Revenue reports' reach.
    FILTERS = {"deal": r"\d{1,18}", "asset": r"\d{1,18}", "asset_type": r"[a-z_]{1,40}",
               "interaction_type": r"[a-z_]{1,40}"}
    LIMIT = 500

    def parse(self, account, data, *, now):
        query = super().parse(account, data, now=now)
        filters, errors = {}, {}
        for key, pattern in self.FILTERS.items():
            value = (data.get(key) or "").strip()
            if value and not re.fullmatch(pattern, value):
                errors[key] = "An id." if pattern.startswith("\\d") else "An identifier (a-z and _)."
            elif value:
                filters[key] = value
        if errors:
            raise ReportParamError(errors)
        return replace(query, extra=query.extra | filters, echo=query.echo | filters)

    def build(self, query):
        start, end = _bounds(query, max_days=REVENUE_DAYS if query.extra["window"] else None)
        credited = _credited(query, kind=query.extra["conversion"], model=query.extra["model"],
                             lookback=int(query.extra["lookback"]), start=start, end=end)
        column = {"deal": "q.deal_id", "asset": "q.asset_id", "asset_type": "q.asset_type",
                  "interaction_type": "q.interaction_type"}
        where = [f"{column[key]} = %s" for key in self.FILTERS if key in query.extra]
        values = tuple(int(query.extra[key]) if key in ("deal", "asset") else query.extra[key]
                       for key in self.FILTERS if key in query.extra)
        return {"rows": Sql(f"SELECT q.*, ct.email, d.name AS deal_name FROM ({credited.sql}) q "
                            f"LEFT JOIN {CONTACT} ct ON ct.id = q.contact_id LEFT JOIN {DEAL} d ON d.id = q.deal_id "
                            f"{'WHERE ' + ' AND '.join(where) if where else ''} "
                            f"ORDER BY q.converted_at DESC, q.occurred_at DESC LIMIT {self.LIMIT}",
                            (*credited.params, *values))}

    def shape(self, query, fetched):
        revenue = query.extra["conversion"] == "revenue"
        rows = tuple({"occurred_at": _iso(r["occurred_at"]), "interaction_type": r["interaction_type"],
                      "asset": r["asset_name"], "contact": r["email"] or "", "contact_id": r["contact_id"],
                      "deal": r["deal_name"] or "", "deal_id": r["deal_id"], "converted_at": _iso(r["converted_at"]),
                      "credit": _attributed({"cents": r["amount_cents"], "nano": r["weight_nano"]}, revenue)}
                     for r in fetched["rows"])
        return ReportResult(
            report=self.key, title=f"{query.campaign.name}: credited interactions", params=query.echo,
            columns=(Column("occurred_at", "Interaction", "text"), Column("interaction_type", "Type", "text"),
                     Column("asset", "Asset", "text"), Column("contact", "Contact", "text"),
                     *((Column("deal", "Deal", "text"),) if query.extra["conversion"] != "contact_create" else ()),
                     Column("converted_at", "Conversion", "text"),
                     Column("credit", "Attributed revenue" if revenue else "Credit", "money" if revenue
                            else "decimal")),
            rows=rows, totals={"credit": sum((r["credit"] for r in rows), Decimal(0))},
            notes=(f"At most {self.LIMIT} rows, latest conversions first.",))


def _iso(value) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value).replace(" ", "T")
