"""Properties of the attribution engine over random journeys (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from touchline.attribution.engine import (
    MODELS_FOR,
    Conversion,
    Positions,
    Touch,
    data_driven_weights,
    journey,
    key_positions,
    split_amount,
    weights,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CHANNELS = ("organic_search", "paid_search", "email_marketing", "direct", "referrals")
ORDER_ONLY = ("first_interaction", "last_interaction", "linear", "u_shaped", "w_shaped", "full_path", "j_shaped")
ORDER_ONLY += ("inverse_j",)


@dataclass(frozen=True)
class Case:
    model: str
    conversion: Conversion
    touches: list[Touch]
    converted_at: datetime
    positions: Positions

    def weights(self) -> dict:
        return weights(
            self.model,
            self.touches,
            conversion=self.conversion,
            converted_at=self.converted_at,
            positions=self.positions,
        )


# instants are minutes after T0 within ~3 months; few distinct values so ties and exact-time events happen
minutes = st.integers(min_value=0, max_value=90 * 24 * 60).map(lambda m: T0 + timedelta(minutes=m))
small_minutes = st.integers(min_value=0, max_value=12).map(lambda m: T0 + timedelta(minutes=m))
instants = st.one_of(minutes, small_minutes)


@st.composite
def cases(draw, models=None) -> Case:
    conversion = draw(st.sampled_from(list(Conversion)))
    applicable = [m for m in MODELS_FOR[conversion] if m != "data_driven" and (models is None or m in models)]
    model = draw(st.sampled_from(applicable))
    times = draw(st.lists(instants, max_size=25))
    touches = [Touch(key, at, draw(st.sampled_from(CHANNELS))) for key, at in enumerate(times)]
    converted_at = draw(instants)
    positions = Positions(*(draw(st.none() | instants) for _ in range(3)))
    return Case(model, conversion, touches, converted_at, positions)


@settings(max_examples=300, deadline=None)
@given(case=cases())
def test_weights_sum_to_exactly_one_over_the_journey_when_the_journey_is_random(case):
    result = case.weights()
    ordered = journey(case.touches, converted_at=case.converted_at)
    assert list(result) == [t.key for t in ordered]
    assert all(isinstance(w, Fraction) and w >= 0 for w in result.values())
    assert sum(result.values()) == (1 if ordered else 0)


amounts = st.one_of(
    st.decimals(min_value=-(10**9), max_value=10**9, places=2),
    st.decimals(min_value=0, max_value=10**6, places=0),
    st.decimals(min_value=0, max_value=1000, places=4),
)


@settings(max_examples=300, deadline=None)
@given(case=cases(), amount=amounts)
def test_split_amount_sums_to_exactly_the_amount_when_weights_come_from_any_model(case, amount):
    result = case.weights()
    last_key = key_positions(case.touches, converted_at=case.converted_at, positions=case.positions).last_key
    split = split_amount(amount, result, last_key=last_key)
    if not result:
        assert split == {}
        return
    assert sum(split.values()) == amount
    assert list(split) == list(result)
    assert all(share * amount >= 0 for share in split.values())  # no share against the amount's sign
    exponent = min(amount.as_tuple().exponent, -2)
    assert all(share.as_tuple().exponent == exponent for share in split.values())


@settings(max_examples=300, deadline=None)
@given(
    weights_=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=30).filter(any),
    amount=amounts,
    data=st.data(),
)
def test_split_amount_sums_to_exactly_the_amount_when_weights_are_arbitrary(weights_, amount, data):
    total = sum(weights_)
    shares = {key: Fraction(w, total) for key, w in enumerate(weights_)}
    last_key = data.draw(st.sampled_from(list(shares)))
    split = split_amount(amount, shares, last_key=last_key)
    assert sum(split.values()) == amount
    assert all(share * amount >= 0 for share in split.values())


@settings(max_examples=200, deadline=None)
@given(case=cases(), at=instants)
def test_weights_give_the_touch_everything_when_it_is_the_only_touch_before_the_conversion(case, at):
    converted_at = max(at, case.converted_at)
    result = weights(
        case.model,
        [Touch("only", at, "direct")],
        conversion=case.conversion,
        converted_at=converted_at,
        positions=case.positions,
    )
    assert result == {"only": 1}


def remap(moment: datetime | None, mapping: dict[datetime, datetime]) -> datetime | None:
    return None if moment is None else mapping[moment]


@settings(max_examples=300, deadline=None)
@given(case=cases(models=ORDER_ONLY), gaps=st.lists(st.integers(min_value=1, max_value=10**7), min_size=60))
def test_order_only_models_ignore_timestamps_when_the_order_of_every_event_is_kept(case, gaps):
    # move every instant (touches, conversion, L/D/C events) to new instants with random gaps, keeping the order
    # of all of them, ties included
    p = case.positions
    moments = sorted({t.at for t in case.touches} | {case.converted_at} | {m for m in vars(p).values() if m})
    new_at, mapping = T0 - timedelta(days=400), {}
    for moment, gap in zip(moments, gaps, strict=False):
        new_at += timedelta(seconds=gap)
        mapping[moment] = new_at
    moved = Case(
        case.model,
        case.conversion,
        [Touch(t.key, mapping[t.at], t.channel) for t in case.touches],
        mapping[case.converted_at],
        Positions(*(remap(m, mapping) for m in (p.lead_created_at, p.deal_created_at, p.closed_won_at))),
    )
    assert moved.weights() == case.weights()


@settings(max_examples=300, deadline=None)
@given(case=cases(), later=st.lists(st.integers(min_value=1, max_value=10**6), max_size=10))
def test_weights_ignore_touches_when_they_happen_after_the_conversion(case, later):
    extra = [Touch(1000 + i, case.converted_at + timedelta(seconds=s), "paid_search") for i, s in enumerate(later)]
    with_later = Case(case.model, case.conversion, case.touches + extra, case.converted_at, case.positions)
    assert with_later.weights() == case.weights()


@settings(max_examples=300, deadline=None)
@given(
    channels=st.lists(st.sampled_from(CHANNELS), max_size=25),
    effects=st.dictionaries(st.sampled_from(CHANNELS), st.floats(min_value=0, max_value=1)),
)
def test_data_driven_weights_sum_to_exactly_one_when_removal_effects_are_random(channels, effects):
    touches = [Touch(i, T0 + timedelta(hours=i), c) for i, c in enumerate(channels)]
    result = data_driven_weights(touches, effects)
    assert list(result) == list(range(len(channels)))
    assert sum(result.values()) == (1 if channels else 0)
    assert all(w >= 0 for w in result.values())
    # touches of one channel share its part evenly
    for channel in set(channels):
        assert len({w for t, w in zip(touches, result.values(), strict=True) if t.channel == channel}) == 1
