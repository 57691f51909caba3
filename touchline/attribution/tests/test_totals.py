"""Per-channel totals (engine/totals.py) equal the per-journey models summed journey by journey, exactly."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from touchline.attribution.engine import (
    POSITIONAL,
    Conversion,
    Positions,
    Touch,
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
