"""Keeping stored attribution up to date (docs/attribution.md).

`attribution_refresh(account)` is the one entry point, run by the worker every minute and by
`touchline attribution rebuild`:
1. `interactions_sync` copies new credit-earning touches into the interaction log, set-based, and fills in the
   contact of page views whose visitor has been identified since;
2. the contacts whose touches changed, and the deals whose contacts, stage or amount changed, since the last run
   are "dirty";
3. `conversions_recompute` rebuilds those conversions and all their credits — every model, every lookback window —
   with the engine (touchline.attribution.engine), in one transaction per batch. A deal reopened loses its revenue
   conversion; an edited amount is split again.

The data-driven model's removal effects are refitted over the account's paths on each run that recomputes
anything; credits of the recomputed conversions use the fresh effects, and a full rebuild re-credits everything.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from touchline.attribution.engine import (
    DATA_DRIVEN,
    MODELS_FOR,
    Positions,
    Touch,
    data_driven_weights,
    journey,
    key_positions,
    removal_effects,
    split_amount,
    weights,
)
from touchline.attribution.engine import Conversion as Kind
from touchline.attribution.models import ChannelEffect, Conversion, Credit, Interaction, InteractionType
from touchline.core.models import Account
from touchline.crm.models import Contact, Deal, DealContact, DealStatus
from touchline.sequences.models import EngagementEvent, Enrollment, EventKind, Meeting
from touchline.tracking.models import FormSubmission, PageView, Visitor, WebSession

# Lookback windows offered by the reports, in days; 0 is the whole journey. Credits are stored for each, because a
# shorter window moves the key positions and so changes every weight, not just which touches count.
LOOKBACKS = (0, 30, 90, 365)
ONE_IN_BILLIONTHS = Decimal("1.000000000")  # split like money: nine places, remainder to the last key position
BATCH = 500
# Channels of touches that are not web sessions (SPEC's channel is a session's traffic source; sales emails and
# meetings have none, so they are channels of their own for the data-driven model).
SALES_EMAIL_CHANNEL, MEETING_CHANNEL = "sales_email", "meeting"


def _table(model) -> str:
    return model._meta.db_table


def interactions_sync(account: Account) -> set[int]:
    """Copy every credit-earning touch not yet in the log, and give identified visitors' page views their
    contact. Idempotent (unique source key); set-based, one statement per kind. Returns the contacts whose
    touches changed: those of the new rows, and those that gained or lost a visitor's touches."""
    before = Interaction.objects.filter(account=account).aggregate(n=Max("pk"))["n"] or 0
    ix, a = _table(Interaction), account.pk
    columns = ("account_id, source_key, interaction_type, occurred_at, contact_id, visitor_id, channel, session_id, "
               "page, form_id, sequence_id")
    statements = [
        # Page views, each one.
        (f"""INSERT INTO {ix} ({columns})
             SELECT v.account_id, 'pv:' || CAST(v.id AS TEXT), '{InteractionType.PAGE_VIEW}', v.occurred_at,
                    vi.contact_id, v.visitor_id, s.source, v.session_id, v.page, NULL, NULL
             FROM {_table(PageView)} v JOIN {_table(Visitor)} vi ON vi.id = v.visitor_id
                  JOIN {_table(WebSession)} s ON s.id = v.session_id
             WHERE v.account_id = %s AND NOT EXISTS (
                 SELECT 1 FROM {ix} i WHERE i.account_id = v.account_id
                 AND i.source_key = 'pv:' || CAST(v.id AS TEXT))""",
         [a]),
        # Form submissions; their channel is the source of the visitor's session they were made in.
        (f"""INSERT INTO {ix} ({columns})
             SELECT f.account_id, 'fs:' || CAST(f.id AS TEXT), '{InteractionType.FORM_SUBMISSION}', f.submitted_at,
                    f.contact_id, f.visitor_id,
                    COALESCE((SELECT s.source FROM {_table(WebSession)} s WHERE s.visitor_id = f.visitor_id
                              AND s.started_at <= f.submitted_at ORDER BY s.started_at DESC LIMIT 1), 'direct'),
                    NULL, '', f.form_id, NULL
             FROM {_table(FormSubmission)} f
             WHERE f.account_id = %s AND NOT EXISTS (
                 SELECT 1 FROM {ix} i WHERE i.account_id = f.account_id
                 AND i.source_key = 'fs:' || CAST(f.id AS TEXT))""",
         [a]),
        # Sequence emails clicked (by a person) or replied to.
        (f"""INSERT INTO {ix} ({columns})
             SELECT e.account_id, 'ev:' || CAST(e.id AS TEXT),
                    CASE WHEN e.kind = '{EventKind.CLICK}' THEN '{InteractionType.SEQUENCE_EMAIL_CLICK}'
                         ELSE '{InteractionType.SEQUENCE_REPLY}' END,
                    e.occurred_at, e.contact_id, NULL, '{SALES_EMAIL_CHANNEL}', NULL, '', NULL, e.sequence_id
             FROM {_table(EngagementEvent)} e
             WHERE e.account_id = %s AND (e.kind = '{EventKind.REPLY}' OR (e.kind = '{EventKind.CLICK}'
                   AND e.is_machine = %s)) AND NOT EXISTS (
                 SELECT 1 FROM {ix} i WHERE i.account_id = e.account_id
                 AND i.source_key = 'ev:' || CAST(e.id AS TEXT))""",
         [a, False]),
        # Meetings booked.
        (f"""INSERT INTO {ix} ({columns})
             SELECT m.account_id, 'mt:' || CAST(m.id AS TEXT), '{InteractionType.MEETING_BOOKED}', m.created_at,
                    m.contact_id, NULL, '{MEETING_CHANNEL}', NULL, '', NULL,
                    (SELECT en.sequence_id FROM {_table(Enrollment)} en WHERE en.id = m.enrollment_id)
             FROM {_table(Meeting)} m
             WHERE m.account_id = %s AND NOT EXISTS (
                 SELECT 1 FROM {ix} i WHERE i.account_id = m.account_id
                 AND i.source_key = 'mt:' || CAST(m.id AS TEXT))""",
         [a]),
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
    # Visitors identified (or re-identified) since: their page views and submissions follow the visitor's contact.
    stale = Interaction.objects.filter(account=account, visitor__isnull=False).exclude(
        contact_id=F("visitor__contact_id")).values_list("pk", "visitor__contact_id")
    by_contact: dict[int | None, list[int]] = defaultdict(list)
    for pk, contact_id in stale:
        by_contact[contact_id].append(pk)
    changed = set(Interaction.objects.filter(account=account, pk__gt=before).values_list("contact_id", flat=True))
    for contact_id, pks in by_contact.items():
        changed |= set(Interaction.objects.filter(pk__in=pks).values_list("contact_id", flat=True))
        Interaction.objects.filter(pk__in=pks).update(contact_id=contact_id)
        changed.add(contact_id)
    return changed - {None}


# Conversions ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    kind: str
    contact_id: int | None
    deal_id: int | None
    converted_at: datetime
    value: Decimal
    currency: str
    contact_ids: tuple[int, ...]  # whose touches make the journey
    positions: Positions


def _contact_targets(account: Account, contact_ids) -> list[_Target]:
    return [_Target(Kind.CONTACT_CREATE, c.pk, None, c.created_at, Decimal(1), "", (c.pk,),
                    Positions(lead_created_at=c.created_at))
            for c in Contact.objects.filter(account=account, pk__in=contact_ids)]


def _deal_targets(account: Account, deal_ids) -> list[_Target]:
    deals = Deal.objects.filter(account=account, pk__in=deal_ids)
    links = defaultdict(list)
    for deal_id, contact_id, created_at in DealContact.objects.filter(deal__in=deals).values_list(
            "deal_id", "contact_id", "contact__created_at"):
        links[deal_id].append((contact_id, created_at))
    targets = []
    for deal in deals:
        contacts = links.get(deal.pk, [])
        lead = min((created for _, created in contacts), default=None)
        ids = tuple(sorted(c for c, _ in contacts))
        targets.append(_Target(Kind.DEAL_CREATE, None, deal.pk, deal.created_at, Decimal(1), "", ids,
                               Positions(lead_created_at=lead, deal_created_at=deal.created_at)))
        if deal.status == DealStatus.WON and deal.closed_at is not None and deal.amount is not None:
            targets.append(_Target(Kind.REVENUE, None, deal.pk, deal.closed_at, deal.amount, deal.currency, ids,
                                   Positions(lead_created_at=lead, deal_created_at=deal.created_at,
                                             closed_won_at=deal.closed_at)))
    return targets


def _touches(account: Account, contact_ids) -> dict[int, list[Touch]]:
    touches: dict[int, list[Touch]] = defaultdict(list)
    for pk, contact_id, at, channel in Interaction.objects.filter(
            account=account, contact_id__in=contact_ids).values_list("pk", "contact_id", "occurred_at", "channel"):
        touches[contact_id].append(Touch(pk, at, channel))
    return touches


def _within(ordered: list[Touch], converted_at: datetime, days: int) -> list[Touch]:
    if not days:
        return ordered
    since = converted_at - timedelta(days=days)
    return [t for t in ordered if t.at >= since]


def _credits_of(target: _Target, ordered: list[Touch], effects: dict[tuple[str, int], dict[str, float]]):
    """(model, lookback, interaction id, weight, amount) of one conversion, for every model and window."""
    for days in LOOKBACKS:
        window = _within(ordered, target.converted_at, days)
        if not window:
            continue
        kp = key_positions(window, converted_at=target.converted_at, positions=target.positions)
        for model in MODELS_FOR[Kind(target.kind)]:
            if model == DATA_DRIVEN:
                w = data_driven_weights(window, effects.get((target.kind, days), {}))
                last_key = window[-1].key
            else:
                w = weights(model, window, conversion=Kind(target.kind), converted_at=target.converted_at,
                            positions=target.positions)
                last_key = kp.last_key
            nano = split_amount(ONE_IN_BILLIONTHS, w, last_key=last_key)
            money = split_amount(target.value, w, last_key=last_key) if target.kind == Kind.REVENUE else {}
            for key in w:
                share, cents = int(nano[key].scaleb(9)), int(money[key].scaleb(2)) if money else 0
                if share or cents:  # a touch a model gives nothing (first interaction's others) is not stored
                    yield model, days, key, share, cents


def conversions_recompute(account: Account, *, contact_ids=(), deal_ids=(), now: datetime | None = None) -> int:
    """Rebuild the conversions of these contacts and deals with all their credits; returns how many conversions
    now exist for them. A conversion that no longer holds (a deal no longer won) is deleted with its credits."""
    now = now or timezone.now()
    targets = _contact_targets(account, contact_ids) + _deal_targets(account, deal_ids)
    touches = _touches(account, {c for t in targets for c in t.contact_ids})
    effects: dict[tuple[str, int], dict[str, float]] = {}
    for effect in ChannelEffect.objects.filter(account=account):
        effects.setdefault((effect.kind, effect.lookback_days), {})[effect.channel] = effect.removal_effect
    with transaction.atomic():
        Conversion.objects.filter(account=account, contact_id__in=list(contact_ids)).delete()
        Conversion.objects.filter(account=account, deal_id__in=list(deal_ids)).delete()
        credits = []
        for target in targets:
            ordered = journey([t for c in target.contact_ids for t in touches.get(c, ())],
                              converted_at=target.converted_at)
            conversion = Conversion.objects.create(
                account=account, kind=target.kind, contact_id=target.contact_id, deal_id=target.deal_id,
                converted_at=target.converted_at, value=target.value, currency=target.currency,
                touches=len(ordered), computed_at=now)
            credits += [Credit(account=account, conversion=conversion, interaction_id=key, model=model,
                               lookback_days=days, weight_nano=nano, amount_cents=cents)
                        for model, days, key, nano, cents in _credits_of(target, ordered, effects)]
            if len(credits) >= 5_000:
                Credit.objects.bulk_create(credits)
                credits = []
        Credit.objects.bulk_create(credits)
    return len(targets)


def channel_effects_fit(account: Account, *, now: datetime | None = None) -> None:
    """Learn each conversion kind's removal effects per lookback window: converting paths are the channels of
    each conversion's journey; non-converting paths are contacts without that conversion (for deals: contacts in
    no deal; for revenue: deals not won) over the same window before now."""
    now = now or timezone.now()
    touches = _touches(account, Contact.objects.filter(account=account).values("pk"))
    conversions = list(Conversion.objects.filter(account=account))
    in_deals = set(DealContact.objects.filter(deal__account=account).values_list("contact_id", flat=True))
    deal_contacts = defaultdict(list)
    for deal_id, contact_id in DealContact.objects.filter(deal__account=account).values_list("deal_id",
                                                                                            "contact_id"):
        deal_contacts[deal_id].append(contact_id)
    won = {c.deal_id for c in conversions if c.kind == Kind.REVENUE}
    rows = []
    for kind in Kind:
        for days in LOOKBACKS:
            paths = []
            for conversion in (c for c in conversions if c.kind == kind):
                ids = [conversion.contact_id] if conversion.contact_id else deal_contacts[conversion.deal_id]
                ordered = _within(journey([t for c in ids for t in touches.get(c, ())],
                                          converted_at=conversion.converted_at), conversion.converted_at, days)
                paths.append(([t.channel for t in ordered], True))
            if kind == Kind.DEAL_CREATE:
                losers = [[c] for c in touches if c not in in_deals]
            elif kind == Kind.REVENUE:
                losers = [ids for deal_id, ids in deal_contacts.items() if deal_id not in won]
            else:
                losers = []  # every identified contact converted (was created); anonymous paths have no contact
            for ids in losers:
                ordered = _within(journey([t for c in ids for t in touches.get(c, ())], converted_at=now), now, days)
                paths.append(([t.channel for t in ordered], False))
            for channel, effect in removal_effects(paths).items():
                rows.append(ChannelEffect(account=account, kind=kind, lookback_days=days, channel=channel,
                                          removal_effect=effect, fitted_at=now))
    with transaction.atomic():
        ChannelEffect.objects.filter(account=account).delete()
        ChannelEffect.objects.bulk_create(rows)


def attribution_refresh(account: Account, *, full: bool = False, now: datetime | None = None) -> dict[str, int]:
    """Sync interactions and recompute the conversions whose inputs changed since the last run (all with
    `full`). Returns counts for the log."""
    now = now or timezone.now()
    last = None if full else Conversion.objects.filter(account=account).aggregate(at=Max("computed_at"))["at"]
    touched = interactions_sync(account)
    if full or last is None:
        contact_ids = list(Contact.objects.filter(account=account).values_list("pk", flat=True))
        deal_ids = list(Deal.objects.filter(account=account).values_list("pk", flat=True))
    else:
        touched |= set(Contact.objects.filter(account=account, updated_at__gt=last).values_list("pk", flat=True))
        deal_ids = set(Deal.objects.filter(account=account, updated_at__gt=last).values_list("pk", flat=True))
        deal_ids |= set(DealContact.objects.filter(contact_id__in=touched).values_list("deal_id", flat=True))
        contact_ids, deal_ids = [c for c in touched if c], list(deal_ids)
    if not contact_ids and not deal_ids:
        return {"conversions": 0}
    total = 0
    for start in range(0, max(len(contact_ids), len(deal_ids)), BATCH):
        total += conversions_recompute(account, contact_ids=contact_ids[start:start + BATCH],
                                       deal_ids=deal_ids[start:start + BATCH], now=now)
    if full or last is None:
        # The data-driven model learns from the conversions just computed; its credits are then computed again
        # with the fitted removal effects (the other models' credits come out the same).
        channel_effects_fit(account, now=now)
        for start in range(0, max(len(contact_ids), len(deal_ids)), BATCH):
            conversions_recompute(account, contact_ids=contact_ids[start:start + BATCH],
                                  deal_ids=deal_ids[start:start + BATCH], now=now)
    return {"conversions": total}
