"""Per-channel totals (engine/totals.py) equal the per-journey models summed journey by journey, exactly: the
pure-Python ones and the numpy ones from raw touch columns (`TouchColumns`)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from touchline.attribution.engine import (
    POSITIONAL,
    Conversion,
    Positions,
    Touch,
    TouchColumns,
    channel_totals,
    data_driven_totals,
    data_driven_weights,
    removal_effects,
    weights,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
CHANNELS = ["organic_search", "paid_search", "email_marketing", "direct", "referrals"]
journeys = st.lists(st.tuples(st.lists(st.sampled_from(CHANNELS), max_size=9), st.integers(0, 10**9)), max_size=30)


def touches_of(path) -> list[Touch]:
    return [Touch(i, START + timedelta(hours=i), channel) for i, channel in enumerate(path)]


def by_journey(data, weigh) -> dict[str, Fraction]:
    totals: dict[str, Fraction] = defaultdict(Fraction)
    for path, value in data:
        touches = touches_of(path)
        for key, weight in weigh(touches).items():
            totals[path[key]] += weight * value
    return {channel: total for channel, total in totals.items() if total}


def nonzero(totals):
    return {channel: total for channel, total in totals.items() if total}


@settings(max_examples=200, deadline=None)
@given(data=journeys)
def test_positional_totals_equal_the_sum_of_each_journeys_weights(data):
    totals = channel_totals(data)
    for model in POSITIONAL:
        expected = by_journey(data, lambda touches, model=model: weights(
            model, touches, conversion=Conversion.REVENUE, converted_at=touches[-1].at if touches else START,
            positions=Positions()))
        assert nonzero(totals[model]) == expected, model


@settings(max_examples=200, deadline=None)
@given(data=journeys, effects=st.lists(st.sampled_from([0.0, 0.0, 0.125, 0.3, 1.0, 1e-9]), min_size=5, max_size=5))
def test_data_driven_totals_equal_the_sum_of_each_journeys_weights(data, effects):
    removal = dict(zip(CHANNELS, effects, strict=True))
    expected = by_journey(data, lambda touches: data_driven_weights(touches, removal))
    assert nonzero(data_driven_totals(data, removal)) == expected


def test_totals_take_paths_as_bytes_of_channel_codes():
    data = [(["direct", "email_marketing", "direct"], 1001), (["paid_search"], 7), (["direct"], 2)]
    codes = {channel: i for i, channel in enumerate(CHANNELS)}
    as_bytes = [(bytes(codes[c] for c in path), value) for path, value in data]
    named = {model: {CHANNELS[c]: t for c, t in totals.items()} for model, totals in channel_totals(as_bytes).items()}
    assert named == channel_totals(data)
    assert named["linear"] == {"direct": Fraction(2002, 3) + 2, "email_marketing": Fraction(1001, 3), "paid_search": 7}


def test_totals_refuse_a_model_that_needs_times():
    with pytest.raises(ValueError):
        channel_totals([(["direct"], 1)], ("time_decay",))


@settings(max_examples=100, deadline=None)
@given(paths=st.lists(st.tuples(st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=6), st.booleans()),
                      min_size=1, max_size=20))
def test_removal_effects_are_unchanged_when_paths_repeat_or_come_as_tuples_or_bytes(paths):
    codes = {channel: i for i, channel in enumerate(CHANNELS)}
    effects = removal_effects(paths)
    assert removal_effects(paths * 3) == effects
    assert removal_effects([(tuple(p), c) for p, c in paths]) == effects
    as_bytes = removal_effects([(bytes(codes[x] for x in p), c) for p, c in paths])
    assert {CHANNELS[code]: e for code, e in as_bytes.items()} == effects


# TouchColumns (numpy): the same totals from raw touch columns --------------------------------------------------


def positional_by_journey(data) -> dict[str, dict[str, Fraction]]:
    """The per-journey reference: weights() on Touch objects, journey by journey, times each value."""
    return {model: by_journey(data, lambda touches, model=model: weights(
        model, touches, conversion=Conversion.REVENUE, converted_at=touches[-1].at if touches else START,
        positions=Positions())) for model in POSITIONAL}


def random_journeys(seed: int, count: int = 400, channels: int = len(CHANNELS)):
    """(path of channel codes, value in cents, converted) per journey: one-touch journeys, repeats of a channel,
    a few long journeys (hundreds of touches), values that split unevenly (primes, odd cents), zero values,
    non-converting journeys whose value column is not zero (it must be ignored), journeys without a touch."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        shape = rng.random()
        length = 1 if shape < 0.3 else 0 if shape < 0.33 else rng.randint(150, 600) if shape < 0.36 else \
            rng.randint(2, 12)
        path, channel = [], rng.randrange(channels)
        for _ in range(length):
            if rng.random() < 0.6:  # a new session's source; else the same again (runs)
                channel = rng.randrange(channels)
            path.append(channel)
        value = rng.choice([0, 1, 7, 999_999_937, 1_000_000_007, rng.randrange(10**10), rng.randrange(10**6)])
        out.append((path, value, rng.random() < 0.6))
    return out


def columns(data, *, order=None, at=None, **kwargs) -> TouchColumns:
    """Raw touch columns of `data` (journey id, channel code; per journey value and converted), touches in
    journey and time order, or in `order` (a permutation) with their times `at`."""
    journey = np.array([j for j, (path, _, _) in enumerate(data) for _ in path], np.int64)
    channel = np.array([c for path, _, _ in data for c in path], np.int64)
    times = np.array([i for path, _, _ in data for i in range(len(path))], np.int64) * 60
    value = np.array([v for _, v, _ in data], dtype=np.int64 if all(abs(v) < 2**63 for _, v, _ in data) else object)
    converted = np.array([c for _, _, c in data], bool)
    if order is not None:
        journey, channel, times = journey[order], channel[order], times[order]
        at = times
    return TouchColumns(journey, channel, value, converted=converted, at=at, **kwargs)


def named_totals(totals, names=CHANNELS):
    return {names[code]: total for code, total in totals.items()}


def converting(data, names=CHANNELS):
    return [([names[c] for c in path], value) for path, value, converted in data if converted]


@pytest.mark.parametrize("seed", range(4))
def test_columns_give_the_per_journey_totals_exactly(seed):
    data = random_journeys(seed)
    expected = positional_by_journey(converting(data))
    totals = columns(data).channel_totals()
    assert {model: named_totals(t) for model, t in totals.items()} == expected
    assert columns(data).channel_totals(("linear",)) == {"linear": totals["linear"]}
    # touches in any order with their times: sorted by (journey, time) first
    order = np.random.default_rng(seed).permutation(sum(len(path) for path, _, _ in data))
    assert columns(data, order=order).channel_totals() == totals


def test_columns_take_touches_in_given_order_when_times_tie():
    # journey 0: A then B at the same instant; journey 1 comes first in the column, so the columns get sorted
    journey, channel, at = [1, 0, 0], [2, 0, 1], [5, 9, 9]
    totals = TouchColumns(journey, channel, [10, 20], at=at).channel_totals()
    assert totals["first_interaction"] == {0: 10, 2: 20}
    assert totals["last_interaction"] == {1: 10, 2: 20}


def test_columns_sum_near_the_int64_bound_exactly_and_fall_back_beyond_it():
    data = random_journeys(11, count=60)
    touches = sum(len(path) for path, _, converted in data if converted)
    near = [(path, (2**63 - 1) // touches - k, c) for k, (path, _, c) in enumerate(data)]  # the largest sums fit
    cols = columns(near)
    assert cols._weighed() is not None  # int64 sums, within a hair of 2**63
    assert {m: named_totals(t) for m, t in cols.channel_totals().items()} == positional_by_journey(converting(near))
    value = (2**63 - 1) // 15
    full = [([0] * 5, value, True)] * 3  # linear's one int64 sum: 15 touches × value = 2**63 - 8, then / 5
    assert columns(full)._weighed() is not None
    assert columns(full).channel_totals()["linear"] == {0: 3 * value}
    assert columns([(p, v + 1, c) for p, v, c in full])._weighed() is None  # 2**63 + 7: Python ints
    assert columns([(p, v + 1, c) for p, v, c in full]).channel_totals()["linear"] == {0: 3 * (value + 1)}
    beyond = [(path, v + 2**62 if k % 2 else -v, c) for k, (path, v, c) in enumerate(data)]  # could reach 2**63
    assert columns(beyond)._weighed() is None
    assert {m: named_totals(t) for m, t in columns(beyond).channel_totals().items()} == \
        positional_by_journey(converting(beyond))
    huge = [(path, v * 10**30, c) for path, v, c in data]  # Python ints: an object column
    assert {m: named_totals(t) for m, t in columns(huge).channel_totals().items()} == \
        positional_by_journey(converting(huge))


@pytest.mark.parametrize("seed", range(3))
def test_columns_give_the_reference_removal_effects_and_data_driven_totals(seed):
    data = random_journeys(100 + seed)
    cols = columns(data)
    paths = [([CHANNELS[c] for c in path], converted) for path, _, converted in data]
    effects = removal_effects(paths)
    ours = cols.removal_effects()
    assert list(named_totals(ours)) == list(effects)  # same states in the same order
    assert named_totals(ours) == effects  # the same floats: the same exact solution
    for removal in (effects, dict.fromkeys(effects, 0.0), {**effects, "direct": 0.0, "referrals": 0.0}):
        expected = by_journey(converting(data), lambda touches, removal=removal: data_driven_weights(touches, removal))
        by_code = {CHANNELS.index(c): e for c, e in removal.items()}
        assert named_totals(cols.data_driven_totals(by_code)) == expected
        assert nonzero(data_driven_totals(converting(data), removal)) == expected


def test_columns_with_sparse_channel_codes_use_the_same_arithmetic():
    codes = [0, 5, 300, 10**7]  # beyond the dense tables and the 62 bits of a channel-set mask
    data = [([codes[c % 4] for c in path], value, converted) for path, value, converted in random_journeys(7)]
    names = {code: f"c{code}" for code in codes}
    cols = columns(data)
    assert {m: named_totals(t, names) for m, t in cols.channel_totals().items()} == \
        positional_by_journey(converting(data, names))
    effects = removal_effects([([names[c] for c in path], converted) for path, _, converted in data])
    assert named_totals(cols.removal_effects(), names) == effects
    expected = by_journey(converting(data, names), lambda touches: data_driven_weights(touches, effects))
    assert named_totals(cols.data_driven_totals({c: effects[names[c]] for c in codes}), names) == expected


@settings(max_examples=200, deadline=None)
@given(data=st.lists(st.tuples(st.lists(st.integers(0, 4), max_size=9), st.integers(-10**12, 10**12),
                               st.booleans()), max_size=30),
       effects=st.lists(st.sampled_from([0.0, 0.0, 0.125, 0.3, 1.0, 1e-9]), min_size=5, max_size=5))
def test_columns_equal_the_reference_on_any_journeys(data, effects):
    cols = columns(data)
    assert {m: named_totals(t) for m, t in cols.channel_totals().items()} == \
        {m: nonzero(t) for m, t in channel_totals(converting(data)).items()}
    removal = dict(zip(CHANNELS, effects, strict=True))
    assert named_totals(cols.data_driven_totals(dict(enumerate(effects)))) == \
        nonzero(data_driven_totals(converting(data), removal))
    if any(path for path, _, _ in data):
        assert named_totals(cols.removal_effects()) == removal_effects(
            [([CHANNELS[c] for c in path], converted) for path, _, converted in data])


def test_columns_refuse_what_they_cannot_read():
    with pytest.raises(ValueError):
        TouchColumns([0, 3], [1, 1], [5, 5])  # journey 3 has no value
    with pytest.raises(ValueError):
        TouchColumns([0], [-1], [5])
    with pytest.raises(TypeError):
        TouchColumns([0], [1], [0.5])
    with pytest.raises(ValueError):
        TouchColumns([0], [1], [5]).removal_effects()
    with pytest.raises(ValueError):
        TouchColumns([0], [1], [5]).channel_totals(("u_shaped",))
    empty = TouchColumns([], [], [3], converted=[True])
    assert empty.channel_totals() == {model: {} for model in POSITIONAL}
    assert empty.removal_effects() == {}
    assert empty.data_driven_totals({}) == {}
