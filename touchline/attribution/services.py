"""Keeping stored attribution up to date (docs/attribution.md).

`attribution_refresh(account)` is the one entry point, run by the worker every minute and by
`touchline attribution rebuild`:
1. `interactions_sync` copies new credit-earning touches into the interaction log, set-based, and fills in the
   contact of page views whose visitor has been identified since;
2. the contacts whose touches changed, and the deals whose contacts, stage or amount changed, since the last run
   are "dirty";
3. `conversions_recompute` rebuilds those conversions and all their credits — every model, every lookback window —
   with the engine (touchline.attribution.engine), in one transaction per batch: the batch's old credits and
   conversions are deleted set-based and the new credits go in as plain rows (core.db.rows_insert), so a failure
   leaves a batch as it was. A deal reopened loses its revenue conversion; an edited amount is split again.

The data-driven model's removal effects are refitted over the account's paths on a full rebuild (and the first
run), before anything is credited: the conversions to be stored are known from the contacts and deals alone, so
every conversion is credited once, with the fresh effects.

Credits are the engine's exact weights split like money (SPEC rule 4: half to even, the remainder to the last key
position). The shares are computed here in integers — each model's weights as integers over one common total,
the same rational numbers as the engine's Fractions — because Fraction arithmetic per touch was most of the
computing time; tests/test_credit_arithmetic.py proves them equal to `weights()` + `split_amount()` on seeded
random journeys.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from django.db import connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from touchline.attribution.engine import (
    DATA_DRIVEN,
    MODELS_FOR,
    Positions,
    Touch,
    journey,
    removal_effects,
)
from touchline.attribution.engine import Conversion as Kind
from touchline.attribution.engine.journeys import position_indexes
from touchline.attribution.engine.models import _SHAPES
from touchline.attribution.models import ChannelEffect, Conversion, Credit, Interaction, InteractionType
from touchline.core.db import rows_insert
from touchline.core.models import Account
from touchline.crm.models import Contact, Deal, DealContact, DealStatus
from touchline.sequences.models import EngagementEvent, Enrollment, EventKind, Meeting
from touchline.tracking.models import FormSubmission, PageView, Visitor, WebSession

# Lookback windows offered by the reports, in days; 0 is the whole journey. Credits are stored for each, because a
# shorter window moves the key positions and so changes every weight, not just which touches count.
LOOKBACKS = (0, 30, 90, 365)
NANO = 10**9  # a weight in billionths, split like money: remainder to the last key position
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


# Integer shares ------------------------------------------------------------------------------------------------
# Each model's weights of one window as integers `raw` over their sum: raw[i] / sum(raw) is exactly the engine's
# Fraction weight of touch i (touchline.attribution.engine), so splitting units in proportion to raw gives exactly
# what `split_amount(amount, weights(...))` gives, with integer divisions instead of Fraction arithmetic.


def _integer_shape(shape) -> tuple[tuple[tuple[str, int], ...], int]:
    """A position-based model's shares (engine.models._SHAPES) over their common denominator."""
    scale = math.lcm(*(share.denominator for _, share in shape.keys), shape.middle.denominator)
    return tuple((role, int(share * scale)) for role, share in shape.keys), int(shape.middle * scale)


_INTEGER_SHAPES = {model: _integer_shape(shape) for model, shape in _SHAPES.items()}
_DAY = timedelta(days=1)


def _shaped_raw(model: str, n: int, indexes: dict[str, int | None]) -> list[int]:
    """engine.models._shaped times (common denominator × number of middle touches): a key position's shares
    add on its touch (rule 1), the middle share splits evenly over the middle, and a share nobody can take is
    left out (rule 2: normalising by the sum redistributes it)."""
    keys, middle = _INTEGER_SHAPES[model]
    present = [(indexes[role], share) for role, share in keys if indexes[role] is not None]
    at_key = {i for i, _ in present}
    in_middle = n - len(at_key)
    raw = [middle] * n if in_middle else [0] * n
    for i in at_key:
        raw[i] = 0
    scale = in_middle or 1
    for i, share in present:
        raw[i] += share * scale
    return raw


def _time_decay_raw(window: list[Touch]) -> list[int]:
    """engine.models._time_decay's floats (the same expression, so the same values), each an exact binary
    fraction p / 2^k, over their common denominator."""
    latest = window[-1].at
    ratios = [(2.0 ** (-((latest - touch.at) / _DAY) / 7)).as_integer_ratio() for touch in window]
    denominator = max(q for _, q in ratios)
    return [p * (denominator // q) for p, q in ratios]


def _data_driven_raw(window: list[Touch], removal_effect: dict[str, float]) -> list[int]:
    """engine.markov.data_driven_weights as integers: a channel's exact removal effect over the channels present,
    evenly over its touches; linear when every present channel has 0."""
    per_channel = Counter(touch.channel for touch in window)
    ratios = {}
    for channel in per_channel:
        value = removal_effect.get(channel, 0.0)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"removal effect of {channel!r} must be finite and >= 0, got {value!r}")
        ratios[channel] = value.as_integer_ratio()
    denominator = max(q for _, q in ratios.values())
    effect = {channel: p * (denominator // q) for channel, (p, q) in ratios.items()}
    if not any(effect.values()):
        return [1] * len(window)
    touches = math.lcm(*per_channel.values())
    return [effect[touch.channel] * (touches // per_channel[touch.channel]) for touch in window]


def _split(units: int, raw: list[int], last: int) -> list[int]:
    """engine.money.split_amount in integers: `units` in proportion to raw, every share but `last`'s rounded half
    to even (as round(Fraction)), `last` taking the remainder; should the remainder change its sign, every other
    share is rounded toward zero instead."""
    total = sum(raw)
    shares = []
    for r in raw:
        q, rest = divmod(units * r, total)
        if 2 * rest > total or (2 * rest == total and q & 1):
            q += 1
        shares.append(q)
    shares[last] = 0
    shares[last] = units - sum(shares)
    if shares[last] * units < 0:
        shares = [(x // total if x >= 0 else -(-x // total)) for x in (units * r for r in raw)]
        shares[last] = 0
        shares[last] = units - sum(shares)
    return shares


def _money_units(amount: Decimal) -> tuple[int, int]:
    """(units, exponent) as split_amount takes them: cents, or the amount's own smaller unit."""
    if not amount.is_finite():
        raise ValueError(f"amount must be finite, got {amount!r}")
    exponent = min(int(amount.as_tuple().exponent), -2)
    return int(Fraction(amount) / Fraction(10) ** exponent), exponent


def _credits_of(target: _Target, ordered: list[Touch], effects: dict[tuple[str, int], dict[str, float]]):
    """(model, lookback, interaction id, weight, amount) of one conversion, for every model and window."""
    kind = Kind(target.kind)
    revenue = kind == Kind.REVENUE
    units, exponent = _money_units(target.value) if revenue else (0, -2)
    for days in LOOKBACKS:
        window = _within(ordered, target.converted_at, days)
        if not window:
            continue
        n = len(window)
        indexes = position_indexes(window, target.positions)
        # Where the remainder goes: the latest existing key position of F, L, D, C (KeyPositions.last_key).
        last_key = max(i for role, i in indexes.items() if role != "last" and i is not None)
        keys = [touch.key for touch in window]
        for model in MODELS_FOR[kind]:
            last = last_key
            if model == DATA_DRIVEN:
                raw, last = _data_driven_raw(window, effects.get((target.kind, days), {})), n - 1
            elif model == "linear":
                raw = [1] * n
            elif model == "time_decay":
                raw = _time_decay_raw(window)
            else:
                raw = _shaped_raw(model, n, indexes)
            nano = _split(NANO, raw, last)
            if revenue:
                money = _split(units, raw, last)
                cents = money if exponent == -2 else [int(Decimal(f"{m}E{exponent}").scaleb(2)) for m in money]
            else:
                cents = [0] * n
            for key, share, amount in zip(keys, nano, cents, strict=True):
                if share or amount:  # a touch a model gives nothing (first interaction's others) is not stored
                    yield model, days, key, share, amount


CREDIT_COLUMNS = ("account_id", "conversion_id", "interaction_id", "model", "lookback_days", "weight_nano",
                  "amount_cents")


def _targets(account: Account, contact_ids, deal_ids) -> list[_Target]:
    return _contact_targets(account, contact_ids) + _deal_targets(account, deal_ids)


def conversions_recompute(account: Account, *, contact_ids=(), deal_ids=(), now: datetime | None = None) -> int:
    """Rebuild the conversions of these contacts and deals with all their credits; returns how many conversions
    now exist for them. A conversion that no longer holds (a deal no longer won) is deleted with its credits.
    One transaction: the batch is replaced whole or not at all."""
    now = now or timezone.now()
    contact_ids, deal_ids = list(contact_ids), list(deal_ids)
    targets = _targets(account, contact_ids, deal_ids)
    touches = _touches(account, {c for t in targets for c in t.contact_ids})
    effects: dict[tuple[str, int], dict[str, float]] = {}
    for effect in ChannelEffect.objects.filter(account=account):
        effects.setdefault((effect.kind, effect.lookback_days), {})[effect.channel] = effect.removal_effect
    journeys = [journey([t for c in target.contact_ids for t in touches.get(c, ())], converted_at=target.converted_at)
                for target in targets]
    with transaction.atomic():
        for lookup, ids in (("contact_id__in", contact_ids), ("deal_id__in", deal_ids)):
            doomed = Conversion.objects.filter(account=account, **{lookup: ids})
            # One DELETE of the credits by subquery (nothing refers to a credit), then the conversions.
            Credit.objects.filter(account=account, conversion__in=doomed.values("pk")).delete()
            doomed.delete()
        conversions = Conversion.objects.bulk_create([
            Conversion(account=account, kind=target.kind, contact_id=target.contact_id, deal_id=target.deal_id,
                       converted_at=target.converted_at, value=target.value, currency=target.currency,
                       touches=len(ordered), computed_at=now)
            for target, ordered in zip(targets, journeys, strict=True)])
        rows = [(account.pk, conversion.pk, key, model, days, nano, cents)
                for target, ordered, conversion in zip(targets, journeys, conversions, strict=True)
                for model, days, key, nano, cents in _credits_of(target, ordered, effects)]
        rows_insert(Credit._meta.db_table, CREDIT_COLUMNS, rows)
    return len(targets)


def channel_effects_fit(account: Account, *, now: datetime | None = None, conversions: Iterable | None = None
                        ) -> None:
    """Learn each conversion kind's removal effects per lookback window: converting paths are the channels of
    each conversion's journey; non-converting paths are contacts without that conversion (for deals: contacts in
    no deal; for revenue: deals not won) over the same window before now.

    `conversions` (anything with kind, contact_id, deal_id, converted_at) are the account's conversions; by
    default the stored ones. A full rebuild passes the conversions it is about to store."""
    now = now or timezone.now()
    touches = _touches(account, Contact.objects.filter(account=account).values("pk"))
    conversions = list(Conversion.objects.filter(account=account) if conversions is None else conversions)
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
    batches = [(contact_ids[start:start + BATCH], deal_ids[start:start + BATCH])
               for start in range(0, max(len(contact_ids), len(deal_ids)), BATCH)]
    if full or last is None:
        # The data-driven model learns from every conversion of the account — exactly the ones about to be
        # stored, as every contact and deal is recomputed — so it is fitted first and each conversion is
        # credited once, with the fitted removal effects.
        channel_effects_fit(account, now=now, conversions=[t for contacts, deals in batches
                                                           for t in _targets(account, contacts, deals)])
    total = 0
    for contacts, deals in batches:
        total += conversions_recompute(account, contact_ids=contacts, deal_ids=deals, now=now)
    return {"conversions": total}
