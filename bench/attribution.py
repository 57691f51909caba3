"""Attribution speed: Touchline's engine against ChannelAttribution and marketing-attribution-models on the same raw
touches, then the real service and the revenue reports on SQLite: `python -m bench.attribution`.

Part 1, per size (`--sizes`, conversions): a seeded generator makes as many non-converting journeys as converting
ones, ~20 touches per conversion in all (sessions of a SPEC §3 traffic source, 1–12 page views each, a returning
visitor keeping the previous session's source a third of the time, converting journeys closing more often through
direct, email and paid search), values in cents. The raw touches are columns — journey, time (s), channel code —
in the order an index on (journey, time) returns them, plus per journey: converted, value. Each implementation is
timed from those columns to per-channel totals, input preparation included:

- Touchline: `TouchColumns` (engine/totals.py, numpy) built from the raw columns themselves — it checks they are
  in (journey, time) order (sorting them if not), finds where journeys start and their runs of one channel — then
  `.channel_totals` (first, last, linear), `.removal_effects` and `.data_driven_totals`, all exact (int64 sums
  bounded before use, Fractions at the end). All of that is timed. For reference the pure-Python engine is timed
  too, from the same columns: each journey becomes a bytes path of channel codes (numpy finds where journeys
  start), then `channel_totals`, `removal_effects` and `data_driven_totals`; both must give the same exact totals.
- ChannelAttribution (C++): the same bytes paths, merged per distinct path into its one-row-per-path input with
  one-letter channel names (the cheapest strings to build and parse), `heuristic_models` and `markov_model`
  (order 1, its defaults: Monte Carlo, 1e5 walks at the start, ncore=1).
- marketing-attribution-models (`mam`, polars): its "session" input built from the same columns, `MAM.run_first_click`,
  `run_last_click`, `run_linear` and `run_markov`.

Checks: first/last/linear totals equal to the cent (the exact total rounded half to even against each float total
rounded); removal effects within 1 % (relative) of ChannelAttribution's simulation, of ChannelAttribution's own
estimated chain (`transition_matrix`) solved exactly with numpy, and of mam's. At sizes up to `--reference-max`
the engine's per-journey `weights()` summed journey by journey is timed too and must give the same exact totals.

Part 2: a synthetic enterprise account of `--contacts` contacts (visitors, sessions, page views, a form submission
creating each contact, deals won, lost and open) in a throw-away SQLite database; `attribution_refresh(full=True)`
(interactions copied, every conversion's credits for every model and lookback window computed and stored, removal
effects fitted, credits computed again) is timed, then the revenue reports run through `report_run` `--repeat`
times each (p50/p95; the first run warms caches and is not counted). Bench-only dependencies: ChannelAttribution
(GPL-3) and mam are never imported by the product. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import random
import resource
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from time import perf_counter as clock

import numpy as np

from touchline.attribution.engine import (
    Conversion,
    Positions,
    Touch,
    TouchColumns,
    channel_totals,
    data_driven_totals,
    merged_paths,
    removal_effects,
    weights,
)
from touchline.attribution.engine.totals import _positional_shares

CHANNELS = ("organic_search", "paid_search", "organic_social", "paid_social", "email_marketing", "referrals",
            "other_campaigns", "direct", "ai_referrals", "offline")  # SPEC §3 traffic source ids
ARRIVE = np.array([0.26, 0.12, 0.10, 0.06, 0.08, 0.10, 0.04, 0.16, 0.05, 0.03])  # any session
CLOSE = np.array([0.10, 0.18, 0.03, 0.05, 0.22, 0.04, 0.03, 0.30, 0.03, 0.02])  # a converting journey's last
LETTERS = "ABCDEFGHIJ"  # ChannelAttribution's channel names: one letter per code
HEURISTICS = ("first_interaction", "last_interaction", "linear")
DEFAULT_SIZES = "10000,50000,200000"


@dataclass
class Raw:
    """Raw touches (columns, grouped by journey and in time order) and journeys."""

    journey: np.ndarray  # int64, one per touch
    at: np.ndarray  # int64 seconds, strictly increasing within a journey
    channel: np.ndarray  # uint8 index into CHANNELS
    converted: np.ndarray  # bool, one per journey
    value: np.ndarray  # int64 cents, one per journey (0 when not converted)


def generate(conversions: int, seed: int = 6) -> Raw:
    rng = np.random.default_rng(seed)
    n = 2 * conversions
    converted = np.zeros(n, bool)
    converted[rng.choice(n, conversions, replace=False)] = True
    sessions = rng.geometric(np.where(converted, 1 / 5.0, 1 / 3.0))  # visits per journey, ≥ 1
    total = int(sessions.sum())
    owner = np.repeat(np.arange(n), sessions)
    ends = np.cumsum(sessions)
    starts = ends - sessions
    first = np.zeros(total, bool)
    first[starts] = True
    closing = np.zeros(total, bool)
    closing[ends[converted] - 1] = True
    channel = rng.choice(len(CHANNELS), total, p=ARRIVE)
    channel[closing] = rng.choice(len(CHANNELS), int(closing.sum()), p=CLOSE)
    keep = ~first & ~closing & (rng.random(total) < 1 / 3)  # came back through the previous session's source
    source = np.where(keep, 0, np.arange(total))
    np.maximum.accumulate(source, out=source)
    channel = channel[source]
    views = np.minimum(rng.geometric(1 / 2.5, total), 12)
    gaps = rng.exponential(3 * 86_400, total).astype(np.int64) + 3_600
    gaps[first] = 0
    elapsed = np.cumsum(gaps)
    session_at = rng.integers(0, 365 * 86_400, n)[owner] + elapsed - np.repeat(elapsed[starts], sessions)
    touch_session = np.repeat(np.arange(total), views)
    view_start = np.cumsum(views) - views
    step = np.arange(len(touch_session)) - np.repeat(view_start, views)
    value = np.where(converted, np.round(np.exp(rng.normal(np.log(150_000), 1.0, n))).astype(np.int64), 0)
    return Raw(owner[touch_session].astype(np.int64), session_at[touch_session] + 60 * step,
               channel[touch_session].astype(np.uint8), converted, value)


# Touchline ------------------------------------------------------------------------------------------------------


def byte_paths(raw: Raw) -> list[bytes]:
    """Each journey's channel codes in time order, one byte per touch (every journey has a touch)."""
    bounds = np.flatnonzero(raw.journey[1:] != raw.journey[:-1]) + 1
    starts, ends = np.r_[0, bounds].tolist(), np.r_[bounds, len(raw.journey)].tolist()
    buffer = raw.channel.tobytes()
    return [buffer[a:b] for a, b in zip(starts, ends, strict=True)]


def named(totals: dict) -> dict[str, object]:
    return {CHANNELS[code]: total for code, total in totals.items()}


def touch_columns(raw: Raw) -> TouchColumns:
    """The engine's columns, from the raw ones: order checked against the times, journeys and runs found."""
    return TouchColumns(raw.journey, raw.channel, raw.value, converted=raw.converted, at=raw.at)


def touchline_heuristics(raw: Raw) -> dict[str, dict[str, Fraction]]:
    return {model: named(totals) for model, totals in touch_columns(raw).channel_totals(HEURISTICS).items()}


def touchline_markov(raw: Raw) -> tuple[dict[str, float], dict[str, Fraction]]:
    columns = touch_columns(raw)
    effects = columns.removal_effects()
    return named(effects), named(columns.data_driven_totals(effects))


def python_heuristics(raw: Raw) -> dict[str, dict[str, Fraction]]:
    """The pure-Python engine (the reference): bytes paths merged, `channel_totals`."""
    paths = byte_paths(raw)
    converting = merged_paths((p, v) for p, v, c in zip(paths, raw.value.tolist(), raw.converted.tolist(),
                                                          strict=True) if c)
    return {model: named(totals) for model, totals in channel_totals(converting, HEURISTICS).items()}


def python_markov(raw: Raw) -> tuple[dict[str, float], dict[str, Fraction]]:
    paths = byte_paths(raw)
    converted = raw.converted.tolist()
    effects = removal_effects(zip(paths, converted, strict=True))
    converting = merged_paths((p, v) for p, v, c in zip(paths, raw.value.tolist(), converted, strict=True) if c)
    return named(effects), named(data_driven_totals(converting, effects))


def touchline_per_journey(raw: Raw) -> dict[str, dict[str, Fraction]]:
    """The engine as the service calls it: Touch objects and `weights()` for every converting journey."""
    totals = {model: defaultdict(Fraction) for model in HEURISTICS}
    epoch = datetime(2025, 1, 1, tzinfo=UTC)
    bounds = np.flatnonzero(raw.journey[1:] != raw.journey[:-1]) + 1
    starts, ends = np.r_[0, bounds].tolist(), np.r_[bounds, len(raw.journey)].tolist()
    at, channel = raw.at.tolist(), raw.channel.tolist()
    for j, (a, b) in enumerate(zip(starts, ends, strict=True)):
        if not raw.converted[j]:
            continue
        touches = [Touch(i, epoch + timedelta(seconds=at[i]), CHANNELS[channel[i]]) for i in range(a, b)]
        by_key = {t.key: t.channel for t in touches}
        value = int(raw.value[j])
        for model in HEURISTICS:
            for key, weight in weights(model, touches, conversion=Conversion.REVENUE, converted_at=touches[-1].at,
                                       positions=Positions()).items():
                totals[model][by_key[key]] += weight * value
    return {model: dict(t) for model, t in totals.items()}


# ChannelAttribution ---------------------------------------------------------------------------------------------


def _ca():
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a banner on import
        import ChannelAttribution  # GPL-3: bench-only
    return ChannelAttribution


def ca_frame(raw: Raw, *, with_null: bool):
    """ChannelAttribution's input: one row per distinct path — path, conversions, value, non-conversions."""
    import pandas as pd

    merged: dict[bytes, list[int]] = {}
    for path, value, converted in zip(byte_paths(raw), raw.value.tolist(), raw.converted.tolist(), strict=True):
        if not converted and not with_null:
            continue
        row = merged.get(path)
        if row is None:
            row = merged[path] = [0, 0, 0]
        if converted:
            row[0] += 1
            row[1] += value
        else:
            row[2] += 1
    table = bytes.maketrans(bytes(range(len(LETTERS))), LETTERS.encode())
    return pd.DataFrame({"path": [">".join(p.translate(table).decode()) for p in merged],
                         "conv": [r[0] for r in merged.values()], "value": [float(r[1]) for r in merged.values()],
                         "null": [r[2] for r in merged.values()]})


def ca_heuristics(raw: Raw) -> dict[str, dict[str, float]]:
    ca = _ca()
    result = ca.heuristic_models(ca_frame(raw, with_null=False), "path", "conv", var_value="value", flg_pro=False)
    names = [CHANNELS[LETTERS.index(c)] for c in result["channel_name"]]
    return {model: dict(zip(names, result[column], strict=True)) for model, column in
            zip(HEURISTICS, ("first_touch_value", "last_touch_value", "linear_touch_value"), strict=True)}


CA_OPTIONS: dict[str, float] = {}  # --ca-nsim


def ca_markov(raw: Raw) -> tuple[dict[str, float], dict[str, float]]:
    ca = _ca()
    result = ca.markov_model(ca_frame(raw, with_null=True), "path", "conv", var_value="value", var_null="null",
                             order=1, out_more=True, verbose=False, flg_pro=False, **CA_OPTIONS)
    effects = result["removal_effects"]
    totals = result["result"]
    return ({CHANNELS[LETTERS.index(c)]: e for c, e in zip(effects.channel_name, effects.removal_effects_conversion,
                                                             strict=True)},
            {CHANNELS[LETTERS.index(c)]: v for c, v in zip(totals.channel_name, totals.total_conversion_value,
                                                             strict=True)})


def ca_chain_exact(raw: Raw) -> dict[str, float]:
    """Removal effects of the chain ChannelAttribution estimates (`transition_matrix`), by definition, with numpy
    (as tests/test_markov.py does): no simulation error, so it checks the estimate rather than the sampling."""
    estimated = _ca().transition_matrix(ca_frame(raw, with_null=True), "path", "conv", "null", order=1,
                                        flg_equal=True, flg_pro=False)
    names = dict(zip(estimated["channels"].id_channel.astype(str), estimated["channels"].channel_name, strict=True))
    states = {"(start)": 0} | {channel_id: i for i, channel_id in enumerate(names, start=1)}
    q = np.zeros((len(states), len(states)))
    to_conversion = np.zeros(len(states))
    for source, target, probability in estimated["transition_matrix"].itertuples(index=False):
        if target == "(conversion)":
            to_conversion[states[source]] += probability
        elif target != "(null)":
            q[states[source], states[target]] += probability

    def converts(removed: int | None) -> float:
        redirected = q.copy()
        if removed is not None:
            redirected[:, removed] = 0
        return np.linalg.solve(np.eye(len(states)) - redirected, to_conversion)[0]

    base = converts(None)
    return {CHANNELS[LETTERS.index(names[i])]: 1 - converts(states[i]) / base for i in names}


# marketing-attribution-models -----------------------------------------------------------------------------------


def mam_model(raw: Raw):
    import mam  # bench-only
    import polars as pl

    last = np.r_[raw.journey[1:] != raw.journey[:-1], True]
    frame = pl.DataFrame({
        "journey": raw.journey, "at": (raw.at * 1000).astype("datetime64[ms]"),
        "channel": pl.Series(CHANNELS, dtype=pl.Categorical).gather(raw.channel.astype(np.int64)),
        "converted": raw.converted[raw.journey],
        "value": np.where(last, raw.value[raw.journey], 0).astype(float)})  # a journey's value once, on its last row
    return mam.MAM(frame, "session", channels_colname="channel", journey_with_conv_colname="converted",
                   datetime_colname="at", user_id_colname="journey", conversion_value_colname="value")


def _mam_totals(result) -> dict[str, float]:
    table = result.to_dict()
    return dict(zip(map(str, table["channels"]), table["attribution"], strict=True))


def mam_heuristics(raw: Raw) -> dict[str, dict[str, float]]:
    model = mam_model(raw)
    return {"first_interaction": _mam_totals(model.run_first_click()),
            "last_interaction": _mam_totals(model.run_last_click()), "linear": _mam_totals(model.run_linear())}


def mam_markov(raw: Raw) -> tuple[dict[str, float], dict[str, float]]:
    result = mam_model(raw).run_markov()
    effects = result.metadata["removal_effect"]["removal_effect"]
    return {str(c): float(e) for c, e in effects.items()}, _mam_totals(result)


# Comparing ------------------------------------------------------------------------------------------------------


RUNS = [1]  # --runs: part one keeps the fastest of this many runs of each implementation (a shared machine is noisy)


def _timed(fn, *args, **kwargs):
    gc.collect()
    start = clock()
    result = fn(*args, **kwargs)
    return clock() - start, result


def _best(fn, *args):
    best, result = _timed(fn, *args)
    for _ in range(RUNS[0] - 1):
        seconds, result = _timed(fn, *args)
        best = min(best, seconds)
    return best, result


def cents_check(ours: dict[str, dict[str, Fraction]], theirs: dict[str, dict[str, float]]) -> str:
    """'equal' when every channel's total of every model rounds to the same cent; else the largest difference."""
    worst = 0
    for model in HEURISTICS:
        for channel in set(ours[model]) | set(theirs[model]):
            exact, other = ours[model].get(channel, 0), theirs[model].get(channel, 0.0)
            worst = max(worst, abs(round(exact) - round(other)))
    return "to the cent" if worst == 0 else f"off by up to {worst:,} ¢"


def effects_check(ours: dict[str, float], theirs: dict[str, float]) -> tuple[float, str]:
    """Largest relative difference of a channel's removal effect (and, when it matters, the largest absolute)."""
    relative = max(abs(ours[c] - theirs.get(c, 0.0)) / ours[c] for c in ours if ours[c] > 0)
    absolute = max(abs(ours[c] - theirs.get(c, 0.0)) for c in ours)
    if relative < 1e-4:
        return relative, f"{relative:.0e}"
    return relative, f"{relative:.2%} (abs {absolute:.3f})"


def warm_up() -> None:
    """Import everything and run every implementation once on a tiny history, untimed: imports (matplotlib for
    ChannelAttribution, polars) and first-call costs are not what is compared. That includes the engine's table of
    positional shares per journey length (from `weights()`, cached per process): ~0.5 s for lengths 1–256."""
    for model in HEURISTICS:  # the engine's positional shares per journey length: constants, cached per process
        for length in range(1, 257):
            _positional_shares(model, length)
    raw = generate(300, seed=1)
    for fn in (touchline_heuristics, touchline_markov, python_heuristics, python_markov, ca_heuristics, ca_markov,
               ca_chain_exact, mam_heuristics, mam_markov):
        fn(raw)


def part_one(sizes: list[int], reference_max: int, mam_max: int) -> list[tuple[str, ...]]:
    warm_up()
    rows = []
    for size in sizes:
        raw = generate(size)
        distinct = len(set(byte_paths(raw)))
        label = (f"{size:,} conversions: {len(raw.converted):,} journeys, {len(raw.journey):,} touches, "
                 f"{distinct:,} distinct paths")
        rows.append((label, "", "", "", "", "", ""))
        t_tl, ours = _best(touchline_heuristics, raw)
        t_ca, theirs_ca = _best(ca_heuristics, raw)
        mam_cells, mam_check = ("skipped", ""), "mam skipped (--mam-max)"
        if size <= mam_max:
            t_mam, theirs_mam = _best(mam_heuristics, raw)
            mam_cells, mam_check = (f"{t_mam:.2f} s", f"{t_mam / t_tl:.1f}×"), f"mam {cents_check(ours, theirs_mam)}"
        rows.append(("  first, last, linear", f"{t_tl:.2f} s", f"{t_ca:.2f} s", f"{t_ca / t_tl:.1f}×", *mam_cells,
                     f"CA {cents_check(ours, theirs_ca)}; {mam_check}"))
        t_py, python = _best(python_heuristics, raw)
        rows.append(("  (Touchline pure Python: channel_totals on bytes paths)", f"{t_py:.2f} s", "",
                     f"{t_ca / t_py:.1f}×", "", f"{t_mam / t_py:.1f}×" if size <= mam_max else "",
                     f"{t_py / t_tl:.1f}× numpy's time; " + ("exactly the same totals" if python == ours
                                                              else "DIFFERENT TOTALS")))
        if size <= reference_max:
            t_ref, reference = _timed(touchline_per_journey, raw)
            same = all({c: t for c, t in reference[m].items() if t} == {c: t for c, t in ours[m].items() if t}
                       for m in HEURISTICS)
            rows.append(("  (Touchline per journey: weights() on Touch objects)", f"{t_ref:.2f} s", "", "", "", "",
                         "exactly the same totals" if same else "DIFFERENT TOTALS"))
        t_tl, (effects, dd_totals) = _best(touchline_markov, raw)
        t_py, python = _best(python_markov, raw)
        t_ca, (effects_ca, _) = _best(ca_markov, raw)
        others = [("CA", effects_ca), ("CA chain", ca_chain_exact(raw))]
        mam_cells = ("skipped", "")
        if size <= mam_max:
            t_mam, (effects_mam, _) = _best(mam_markov, raw)
            others.append(("mam", effects_mam))
            mam_cells = (f"{t_mam:.2f} s", f"{t_mam / t_tl:.1f}×")
        worst = {name: effects_check(effects, other) for name, other in others}
        verdict = "; ".join(f"{name} {text}" for name, (_, text) in worst.items())
        rows.append(("  Markov (removal effects + data-driven totals)", f"{t_tl:.2f} s", f"{t_ca:.2f} s",
                     f"{t_ca / t_tl:.1f}×", *mam_cells,
                     f"max RE diff: {verdict}" + ("" if all(w < 0.01 for w, _ in worst.values()) else " (> 1 %)")))
        rows.append(("  (Touchline pure Python: removal_effects, data_driven_totals)", f"{t_py:.2f} s", "",
                     f"{t_ca / t_py:.1f}×", "", f"{t_mam / t_py:.1f}×" if size <= mam_max else "",
                     f"{t_py / t_tl:.1f}× numpy's time; " + ("exactly the same removal effects and totals"
                                                              if python == (effects, dd_totals) else "DIFFERENT")))
        del raw
    return rows


# Part 2: the service and the revenue reports --------------------------------------------------------------------


PAGES = [f"example.com/p{i}" for i in range(40)] + ["example.com/spring", "example.com/pricing", "example.com/demo"]


def build_account(contacts: int, seed: int = 7) -> dict:
    from django.db import connection
    from django.utils import timezone
    from django_scopes import scope

    from touchline.campaigns import services as campaigns
    from touchline.campaigns.models import AssetType
    from touchline.core.accounts import account_create
    from touchline.core.models import Plan
    from touchline.crm import services as crm
    from touchline.crm.models import Contact, Deal, DealContact, DealStatus
    from touchline.tracking import services as tracking
    from touchline.tracking.models import FormSubmission, PageView, Visitor, WebSession

    rng = random.Random(seed)
    now = timezone.now().replace(microsecond=0)
    start = now - timedelta(days=330)
    account = account_create(name=f"Bench attribution {time.time():.0f}", plan=Plan.ENTERPRISE)
    with scope(account=account):
        site = tracking.site_create(account=account, name="Website", domains="example.com")
        form = tracking.form_create(account=account, site=site, name="Demo", fields=[{"name": "email"}])
        spring = campaigns.campaign_create(account=account, name="Spring", utm_campaign="spring", created_at=start)
        campaigns.campaign_create(account=account, name="Autumn", utm_campaign="autumn", created_at=start)
        for url in ("https://example.com/spring", "https://example.com/pricing"):
            campaigns.association_add(campaign=spring, at=start, asset=campaigns.page_asset_get_or_create(
                account=account, url=url, asset_type=AssetType.LANDING_PAGE))
        campaigns.association_add(campaign=spring, asset=campaigns.form_asset(form=form), at=start)
        pipeline = crm.pipeline_default(account=account)
        stages = {s.outcome: s for s in pipeline.stages.order_by("position")}

        visitors = Visitor.objects.bulk_create(
            [Visitor(account=account, site=site, key=f"bench-{i:08d}", first_seen_at=start)
             for i in range(contacts * 3 // 2)], batch_size=5000)  # a third of them stay anonymous
        sessions, session_views, created = [], [], []
        for i, visitor in enumerate(visitors):
            at = start + timedelta(seconds=rng.random() * 200 * 86_400)
            visits = min(int(rng.expovariate(1 / 4)) + 1, 30)
            for k in range(visits):
                utm = rng.choice(("spring", "autumn")) if rng.random() < 0.15 else ""
                source = "email_marketing" if utm else rng.choices(CHANNELS, weights=ARRIVE.tolist())[0]
                views = min(int(rng.expovariate(1 / 2.5)) + 1, 12)
                sessions.append(WebSession(account=account, site=site, visitor=visitor, started_at=at,
                                           last_seen_at=at + timedelta(minutes=views), page_views=views,
                                           is_first=k == 0, landing_url="https://example.com/", source=source,
                                           utm_campaign=utm))
                session_views.append(views)
                if i < contacts and k == min(visits - 1, rng.randrange(3)):
                    created.append((visitor, at + timedelta(minutes=views)))  # identified by the form
                at += timedelta(seconds=3_600 + rng.expovariate(1 / (4 * 86_400)))
                if at > now - timedelta(hours=1):
                    break
        WebSession.objects.bulk_create(sessions, batch_size=5000)
        views, n = [], 0
        for session, count in zip(sessions, session_views, strict=True):
            for step in range(count):
                page = rng.choice(PAGES)
                views.append(PageView(account=account, site=site, session=session, visitor=session.visitor,
                                      hit_id=f"b{n:010d}", occurred_at=session.started_at + timedelta(minutes=step),
                                      url=f"https://{page}", page=page))
                n += 1
        PageView.objects.bulk_create(views, batch_size=10_000)
        people = Contact.objects.bulk_create(
            [Contact(account=account, email=f"bench{i}@example.org", original_source="direct", created_at=at)
             for i, (_, at) in enumerate(created)], batch_size=5000)
        for (visitor, _), contact in zip(created, people, strict=True):
            visitor.contact = contact
        Visitor.objects.bulk_update([v for v, _ in created], ["contact"], batch_size=5000)
        FormSubmission.objects.bulk_create(
            [FormSubmission(account=account, form=form, contact=c, visitor=v, submission_id=f"s{i}",
                            submitted_at=c.created_at, created_contact=True, data={"email": c.email})
             for i, ((v, _), c) in enumerate(zip(created, people, strict=True))], batch_size=5000)
        deals, links = [], []
        for contact in rng.sample(people, k=len(people) * 35 // 100):
            opened = contact.created_at + timedelta(days=rng.uniform(1, 40))
            if opened >= now:
                continue
            outcome = rng.choices((DealStatus.WON, DealStatus.LOST, DealStatus.OPEN), weights=(45, 25, 30))[0]
            closed = min(opened + timedelta(days=rng.uniform(5, 60)), now) if outcome != DealStatus.OPEN else None
            amount = Decimal(round(rng.lognormvariate(np.log(150_000), 1.0))).scaleb(-2)
            deal = Deal(account=account, name=f"Deal {len(deals)}", amount=amount, pipeline=pipeline,
                        stage=stages[outcome], status=outcome, created_at=opened, closed_at=closed)
            deals.append(deal)
            links.append((deal, contact))
            if rng.random() < 0.15:
                links.append((deal, rng.choice(people)))
        Deal.objects.bulk_create(deals, batch_size=5000)
        DealContact.objects.bulk_create(list({(d.pk, c.pk): DealContact(account=account, deal=d, contact=c)
                                              for d, c in links}.values()), batch_size=5000)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"account": account, "campaign": spring, "contacts": len(people), "deals": len(deals),
            "won": sum(d.status == DealStatus.WON for d in deals), "views": n, "sessions": len(sessions)}


REPORTS = [("campaign_revenue", {}), ("campaign_revenue_attribution", {"model": "linear"}),
           ("campaign_revenue_attribution", {"model": "u_shaped"}),
           ("campaign_revenue_attribution", {"model": "data_driven"}),
           ("campaign_attribution", {"conversion": "revenue", "model": "linear", "group": "asset"})]


def credits_digest(account) -> str:
    """sha256 over every stored credit (what converted, which touch, model, window, weight, cents), in a fixed
    order and by stable keys (source keys, contact and deal ids), so two runs that store the same credits
    print the same digest whatever the credit and conversion row ids."""
    import hashlib

    from touchline.attribution.models import Credit

    digest = hashlib.sha256()
    rows = Credit.objects.filter(account=account).values_list(
        "conversion__kind", "conversion__contact_id", "conversion__deal_id", "interaction__source_key", "model",
        "lookback_days", "weight_nano", "amount_cents").order_by(
        "conversion__kind", "conversion__contact_id", "conversion__deal_id", "interaction__source_key", "model",
        "lookback_days")
    for row in rows.iterator(chunk_size=10_000):
        digest.update(repr(row).encode())
    return digest.hexdigest()


def result_digest(result) -> str:
    """sha256 of a report's rows and totals: equal digests, equal numbers."""
    import hashlib

    return hashlib.sha256(repr((result.rows, sorted(result.totals.items()))).encode()).hexdigest()


def explain(account, campaign) -> None:
    """Print each report section's query plan: EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL."""
    from django.db import connection
    from django.utils import timezone

    from touchline.reports.pipeline import Sql, report_get

    for key, params in REPORTS:
        report = report_get(key)
        query = report.parse(account, {"campaign": str(campaign.pk), **params}, now=timezone.now())
        for name, section in report.build(query).items():
            if not isinstance(section, Sql):
                continue
            prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
            with connection.cursor() as cursor:
                cursor.execute(prefix + section.sql, section.params)
                lines = [f"{r[1]:>4} {r[3]}" if connection.vendor == "sqlite" else r[0] for r in cursor.fetchall()]
            print(f"\n{key} {params or ''} — section {name}")
            print("\n".join(f"  {line}" for line in lines))


def part_two(contacts: int, repeat: int, *, plans: bool = False) -> list[tuple[str, ...]]:
    from django.db import connection
    from django_scopes import scope

    from touchline.attribution.models import ChannelEffect, Conversion, Credit, Interaction
    from touchline.attribution.services import attribution_refresh
    from touchline.reports.pipeline import report_run

    start = clock()
    data = build_account(contacts)
    built = clock() - start
    account, campaign = data["account"], data["campaign"]
    with scope(account=account):
        seconds, _ = _timed(attribution_refresh, account, full=True)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        counts = (Interaction.objects.filter(account=account).count(),
                  Conversion.objects.filter(account=account).count(),
                  Credit.objects.filter(account=account).count(), ChannelEffect.objects.filter(account=account).count())
        digest = credits_digest(account)
        rows = [(f"synthetic account: {data['contacts']:,} contacts, {data['deals']:,} deals ({data['won']:,} won), "
                 f"{data['sessions']:,} sessions, {data['views']:,} page views", f"{built:.0f} s", "bulk inserts"),
                (f"attribution_refresh(full=True): {counts[0]:,} interactions, {counts[1]:,} conversions, "
                 f"{counts[2]:,} credits, {counts[3]} channel effects", f"{seconds:.1f} s",
                 f"{counts[2] / seconds:,.0f} credits/s, every model and lookback window, stored"),
                ("  credits digest (sha256 of every stored credit)", digest[:16], "equal digests: equal credits")]
        for key, params in REPORTS:
            samples = []
            for _ in range(repeat + 1):
                t0 = clock()
                result = report_run(key, account=account, data={"campaign": str(campaign.pk), **params},
                                    budget_ms=600_000)
                samples.append((clock() - t0) * 1000)
            timed = sorted(samples[1:])
            p95 = timed[min(len(timed) - 1, round(0.95 * (len(timed) - 1)))]
            label = f"report {key}" + (f" ({', '.join(f'{k}={v}' for k, v in params.items())})" if params else "")
            rows.append((label, f"p50 {statistics.median(timed):,.0f} ms", f"p95 {p95:,.0f} ms over {repeat}, "
                         f"{len(result.rows):,} rows" + ("" if p95 < 150 else " (goal: under 150 ms)")
                         + f", result {result_digest(result)[:12]}"))
        if plans:
            explain(account, campaign)
    return rows


def _print(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.attribution", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"conversions per size, comma-separated (default {DEFAULT_SIZES}; the issue's largest: "
                             "10000,100000,1000000)")
    parser.add_argument("--reference-max", type=int, default=10_000,
                        help="also time the per-journey engine at sizes up to this many conversions")
    parser.add_argument("--mam-max", type=int, default=10**9,
                        help="run mam only at sizes up to this many conversions (at 1M it did not fit in 14 GB)")
    parser.add_argument("--ca-nsim", type=float, default=None,
                        help="ChannelAttribution markov_model nsim_start (default its own, 1e5)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each implementation per size; the fastest counts")
    parser.add_argument("--contacts", type=int, default=1_000, help="contacts of the service account (0: skip)")
    parser.add_argument("--repeat", type=int, default=20, help="runs of each report")
    parser.add_argument("--explain", action="store_true",
                        help="print the query plan of every revenue report section (part 2)")
    parser.add_argument("--only", choices=("engine", "service"), default=None,
                        help="run only part 1 (engine against the other implementations) or part 2 (the service "
                             "and the revenue reports); default both")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    RUNS[0] = max(1, args.runs)
    if args.ca_nsim:
        CA_OPTIONS["nsim_start"] = args.ca_nsim
    started = clock()
    one = part_one(sizes, args.reference_max, args.mam_max) if args.only != "service" else []
    two = []
    if args.contacts and args.only != "engine":
        from bench.__main__ import _setup

        _setup(tempfile.mkdtemp(prefix="touchline-bench-attribution-"))
        from django.db import connection

        two = part_two(args.contacts, args.repeat, plans=args.explain)
        vendor = connection.vendor
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Touchline attribution bench — {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{clock() - started:.0f} s in all, peak memory {peak:,.0f} MB")
    if one:
        print(f"\nFrom raw touches to per-channel totals (fastest of {RUNS[0]} run(s); ratio = their time / "
              "Touchline's)")
        _print(("journeys / models", "Touchline", "ChannelAttribution", "×CA", "mam", "×mam", "agreement"), one)
    if two:
        print(f"\nThe service and the revenue reports ({vendor})")
        _print(("measure", "result", "notes"), two)


if __name__ == "__main__":
    main()
