"""The service's integer credit arithmetic gives exactly the credits of the engine's Fraction path.

`services._credits_of` computes each model's weights as integers over one total and splits billionths and cents
with integer divisions. The reference below is the code it replaced, verbatim: `weights()` /
`data_driven_weights()` in Fractions, `split_amount()` on Decimals. On seeded random journeys — ties in time,
touches after the conversion left out by the journey, lookback windows cutting the key positions away, every
conversion kind, amounts from 0.00 to millions (and one with a third decimal), removal effects with zeros,
tiny values and all-zero channel sets, and touches decades apart (time decay underflows to 0) — both must give
the same rows in the same order.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from touchline.attribution.engine import (
    DATA_DRIVEN,
    MODELS_FOR,
    Positions,
    Touch,
    data_driven_weights,
    journey,
    key_positions,
    split_amount,
    weights,
)
from touchline.attribution.engine import Conversion as Kind
from touchline.attribution.services import LOOKBACKS, _credits_of, _split, _Target, _within

ONE_IN_BILLIONTHS = Decimal("1.000000000")
CHANNELS = ("organic_search", "paid_search", "direct", "email_marketing", "referrals", "sales_email", "meeting")
EPOCH = datetime(2026, 3, 1, tzinfo=UTC)


def reference_credits_of(target, ordered, effects):
    """services._credits_of as it was before the integer arithmetic (commit 14ebba2)."""
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
                if share or cents:
                    yield model, days, key, share, cents


def _moment(rng: random.Random, spread_days: float) -> datetime:
    if rng.random() < 0.2:  # coarse times: many touches share an instant (ties broken by key)
        return EPOCH - timedelta(hours=rng.randrange(int(spread_days * 24) // 12 + 1) * 12)
    return EPOCH - timedelta(seconds=rng.random() * spread_days * 86_400)


def _amount(rng: random.Random) -> Decimal:
    choice = rng.random()
    if choice < 0.05:
        return Decimal("0.00")
    if choice < 0.1:
        return Decimal("0.01")
    if choice < 0.12:
        return Decimal("1.005")  # split in its own thousandths, stored in truncated cents
    return Decimal(rng.randrange(1, 10**9)).scaleb(-2)


def _effects(rng: random.Random) -> dict[tuple[str, int], dict[str, float]]:
    effects = {}
    for kind in Kind:
        for days in LOOKBACKS:
            if rng.random() < 0.1:
                continue  # never fitted: every channel 0, linear
            effects[kind.value, days] = {c: rng.choice((0.0, 1e-300, rng.random(), rng.random() / 7, 1.0))
                                         for c in CHANNELS if rng.random() < 0.8}
    return effects


def random_case(rng: random.Random) -> tuple[_Target, list[Touch], dict]:
    spread = rng.choice((0.5, 20, 200, 800, 30_000))  # 30,000 days: time decay underflows for the oldest
    touches = [Touch(key, _moment(rng, spread), rng.choice(CHANNELS)) for key in rng.sample(range(1, 10**6),
                                                                                         rng.randint(1, 30))]
    kind = rng.choice(list(Kind))
    lead = _moment(rng, spread) if kind == Kind.CONTACT_CREATE or rng.random() < 0.9 else None
    created = lead + timedelta(days=rng.random() * 30) if lead and rng.random() < 0.7 else _moment(rng, spread)
    closed = created + timedelta(days=rng.random() * 60)
    if kind == Kind.CONTACT_CREATE:
        converted_at, positions, value = lead, Positions(lead_created_at=lead), Decimal(1)
    elif kind == Kind.DEAL_CREATE:
        converted_at, value = created, Decimal(1)
        positions = Positions(lead_created_at=lead, deal_created_at=created)
    else:
        converted_at, value = closed, _amount(rng)
        positions = Positions(lead_created_at=lead, deal_created_at=created, closed_won_at=closed)
    if rng.random() < 0.5:
        converted_at = max(t.at for t in touches)  # a touch at exactly the conversion counts as before it
    target = _Target(kind.value, None, None, converted_at, value, "", (), positions)
    return target, journey(touches, converted_at=converted_at), _effects(rng)


@pytest.mark.parametrize("seed", range(8))
def test_integer_credits_equal_the_fraction_path_when_journeys_are_random(seed):
    rng = random.Random(seed)
    compared = 0
    for _ in range(250):
        target, ordered, effects = random_case(rng)
        expected = list(reference_credits_of(target, ordered, effects))
        assert list(_credits_of(target, ordered, effects)) == expected, (seed, target, ordered)
        compared += len(expected)
    assert compared > 10_000  # the cases do reach credits


def test_integer_split_rounds_half_to_even_and_gives_the_remainder_to_the_last_key_position():
    # 1,000.00 in thirds: 333.33, 333.33 and the remainder 333.34 on the last key position.
    assert _split(100_000, [1, 1, 1], 2) == [33_333, 33_333, 33_334]
    # Halves round to even: 0.05 over four equal shares is 1.25 cents each → 1, 1, 1 and the remainder 2.
    assert _split(5, [1, 1, 1, 1], 3) == [1, 1, 1, 2]
    # 2.5 and 3.5 → 2 and 4 (half to even), the last takes 10 - 6 = 4.
    assert _split(10, [5, 7, 8], 2) == [2, 4, 4]


def test_integer_split_rounds_toward_zero_when_the_remainder_would_change_its_sign():
    # 0.03 over eight touches, the last key position weighing almost nothing: seven shares of 0.6 cents round
    # up to 1 each, which would leave the last -4; rounded toward zero instead, they are 0 and the last takes 3.
    raw = [1_000_000] * 7 + [1]
    expected = split_amount(Decimal("0.03"), {i: r for i, r in enumerate(_fractions(raw))}, last_key=7)
    assert _split(3, raw, 7) == [int(expected[i].scaleb(2)) for i in range(8)] == [0] * 7 + [3]


def _fractions(raw: list[int]):
    from fractions import Fraction

    total = sum(raw)
    return [Fraction(r, total) for r in raw]
