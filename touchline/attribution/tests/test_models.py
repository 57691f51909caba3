"""Worked examples of every attribution model, the degenerate journeys of SPEC §3 and the money split.

The standard journeys: touch i (key i) happens 7·i days after T0, so time decay's relative weights are exact
powers of two (each touch weighs twice the one a week before it). The conversion is revenue, closing 12 hours
after the last touch, so every model applies. Key positions per journey length (lead, deal, close events):

    n=1:  L = D = C = t0
    n=2:  L = D = C = t1
    n=3:  L = t1, D = C = t2
    n=4:  L = t1, D = t2, C = t3
    n=10: L = t3, D = t6, C = t9
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction as Fr

import pytest

from touchline.attribution.engine import (
    MODELS,
    MODELS_FOR,
    Conversion,
    KeyPositions,
    Positions,
    Touch,
    data_driven_weights,
    journey,
    key_positions,
    split_amount,
    weights,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
# touch index of L, D, C for each journey length (see the module docstring)
KEY_INDEXES = {1: (0, 0, 0), 2: (1, 1, 1), 3: (1, 2, 2), 4: (1, 2, 3), 10: (3, 6, 9)}


def touches_of(n: int, channels: str | None = None) -> list[Touch]:
    return [Touch(i, T0 + i * WEEK, channels[i] if channels else "") for i in range(n)]


def standard(model: str, n: int) -> list[Fr]:
    lead, deal, close = KEY_INDEXES[n]
    # each event happens one hour after its touch, so that touch is the last one at or before it
    positions = Positions(
        lead_created_at=T0 + lead * WEEK + timedelta(hours=1),
        deal_created_at=T0 + deal * WEEK + timedelta(hours=1),
        closed_won_at=T0 + close * WEEK + timedelta(hours=12),
    )
    result = weights(
        model,
        touches_of(n),
        conversion=Conversion.REVENUE,
        converted_at=positions.closed_won_at,
        positions=positions,
    )
    assert list(result) == list(range(n))
    return list(result.values())


def fr(text: str) -> list[Fr]:
    return [Fr(part) for part in text.split()]


# (model, n, expected weights of t0 … t(n−1))
WORKED = [
    # first interaction: 100% to t0 whatever the length
    ("first_interaction", 1, "1"),
    ("first_interaction", 2, "1 0"),
    ("first_interaction", 3, "1 0 0"),
    ("first_interaction", 4, "1 0 0 0"),
    ("first_interaction", 10, "1 0 0 0 0 0 0 0 0 0"),
    # last interaction: 100% to the last touch before the close
    ("last_interaction", 1, "1"),
    ("last_interaction", 2, "0 1"),
    ("last_interaction", 3, "0 0 1"),
    ("last_interaction", 4, "0 0 0 1"),
    ("last_interaction", 10, "0 0 0 0 0 0 0 0 0 1"),
    # linear: 1/n each
    ("linear", 1, "1"),
    ("linear", 2, "1/2 1/2"),
    ("linear", 3, "1/3 1/3 1/3"),
    ("linear", 4, "1/4 1/4 1/4 1/4"),
    ("linear", 10, "1/10 1/10 1/10 1/10 1/10 1/10 1/10 1/10 1/10 1/10"),
    # U-shaped 40% F, 40% L, 20% middle
    # n=1: F = L = t0 → 2/5 + 2/5 = 4/5, no middle → normalised 4/5 ÷ 4/5 = 1
    ("u_shaped", 1, "1"),
    # n=2: F = t0 2/5, L = t1 2/5, no middle → 2/5 ÷ 4/5 = 1/2 each
    ("u_shaped", 2, "1/2 1/2"),
    # n=3: F = t0 2/5, L = t1 2/5, middle {t2} takes 1/5
    ("u_shaped", 3, "2/5 2/5 1/5"),
    # n=4: F = t0 2/5, L = t1 2/5, middle {t2, t3} 1/5 ÷ 2 = 1/10 each
    ("u_shaped", 4, "2/5 2/5 1/10 1/10"),
    # n=10: F = t0 2/5, L = t3 2/5, middle = the 8 others, 1/5 ÷ 8 = 1/40 each
    ("u_shaped", 10, "2/5 1/40 1/40 2/5 1/40 1/40 1/40 1/40 1/40 1/40"),
    # W-shaped 30% F, 30% L, 30% D, 10% middle
    # n=1: all on t0 → 9/10 ÷ 9/10 = 1
    ("w_shaped", 1, "1"),
    # n=2: F = t0 3/10; L = D = t1 3/10 + 3/10 = 6/10; no middle → total 9/10 → 3/9 = 1/3 and 6/9 = 2/3
    ("w_shaped", 2, "1/3 2/3"),
    # n=3: F t0, L t1, D t2 3/10 each, no middle → 1/3 each
    ("w_shaped", 3, "1/3 1/3 1/3"),
    # n=4: F t0, L t1, D t2 3/10 each, middle {t3} 1/10
    ("w_shaped", 4, "3/10 3/10 3/10 1/10"),
    # n=10: F t0, L t3, D t6 3/10 each, middle = 7 others, 1/10 ÷ 7 = 1/70 each
    ("w_shaped", 10, "3/10 1/70 1/70 3/10 1/70 1/70 3/10 1/70 1/70 1/70"),
    # full path 22.5% = 9/40 each F, L, D, C, 10% middle
    # n=1: all on t0 → 36/40 ÷ 36/40 = 1
    ("full_path", 1, "1"),
    # n=2: F t0 9/40; L = D = C = t1 27/40; total 36/40 → 9/36 = 1/4 and 27/36 = 3/4
    ("full_path", 2, "1/4 3/4"),
    # n=3: F t0 9/40, L t1 9/40, D = C = t2 18/40; total 36/40 → 1/4, 1/4, 1/2
    ("full_path", 3, "1/4 1/4 1/2"),
    # n=4: F, L, D, C on t0..t3, no middle → 9/40 ÷ 36/40 = 1/4 each
    ("full_path", 4, "1/4 1/4 1/4 1/4"),
    # n=10: F t0, L t3, D t6, C t9 9/40 each; middle = 6 others, 1/10 ÷ 6 = 1/60 each
    ("full_path", 10, "9/40 1/60 1/60 9/40 1/60 1/60 9/40 1/60 1/60 9/40"),
    # time decay: touches a week apart weigh 1, 2, 4, … (×2^(−1) per week of age); the 12 h between the last
    # touch and the close scales every weight by the same 2^(−0.5/7) and cancels in the normalisation
    ("time_decay", 1, "1"),
    # 1 + 2 = 3
    ("time_decay", 2, "1/3 2/3"),
    # 1 + 2 + 4 = 7
    ("time_decay", 3, "1/7 2/7 4/7"),
    # 1 + 2 + 4 + 8 = 15
    ("time_decay", 4, "1/15 2/15 4/15 8/15"),
    # 1 + 2 + … + 512 = 1023
    ("time_decay", 10, "1/1023 2/1023 4/1023 8/1023 16/1023 32/1023 64/1023 128/1023 256/1023 512/1023"),
    # J-shaped 20% F, 60% last, 20% middle
    # n=1: F = last = t0 → 4/5 ÷ 4/5 = 1
    ("j_shaped", 1, "1"),
    # n=2: t0 1/5, t1 3/5, no middle → total 4/5 → 1/4, 3/4
    ("j_shaped", 2, "1/4 3/4"),
    # n=3: t0 1/5, middle {t1} 1/5, t2 3/5
    ("j_shaped", 3, "1/5 1/5 3/5"),
    # n=4: t0 1/5, middle {t1, t2} 1/10 each, t3 3/5
    ("j_shaped", 4, "1/5 1/10 1/10 3/5"),
    # n=10: t0 1/5, middle = 8 touches 1/40 each, t9 3/5
    ("j_shaped", 10, "1/5 1/40 1/40 1/40 1/40 1/40 1/40 1/40 1/40 3/5"),
    # inverse J 60% F, 20% last, 20% middle
    ("inverse_j", 1, "1"),
    # t0 3/5, t1 1/5, total 4/5 → 3/4, 1/4
    ("inverse_j", 2, "3/4 1/4"),
    ("inverse_j", 3, "3/5 1/5 1/5"),
    ("inverse_j", 4, "3/5 1/10 1/10 1/5"),
    ("inverse_j", 10, "3/5 1/40 1/40 1/40 1/40 1/40 1/40 1/40 1/40 1/5"),
]


def test_worked_examples_cover_every_model_with_1_2_3_4_and_10_touches():
    assert {(model, n) for model, n, _ in WORKED} == {(m, n) for m in MODELS for n in KEY_INDEXES}


@pytest.mark.parametrize(("model", "n", "expected"), WORKED, ids=[f"{m}-{n}" for m, n, _ in WORKED])
def test_weights_match_the_hand_worked_example_when_the_journey_is_standard(model, n, expected):
    assert standard(model, n) == fr(expected)


# data-driven: channels per touch, removal effects a 1/2, b 1/4, c 1/8, d 0 (exact binary floats)
RE = {"a": 0.5, "b": 0.25, "c": 0.125, "d": 0.0}
DATA_DRIVEN = [
    # one touch takes everything
    ("a", "1"),
    # a and b present: a 1/2 ÷ 3/4 = 2/3, b 1/4 ÷ 3/4 = 1/3
    ("ab", "2/3 1/3"),
    # a twice, b once: a's 2/3 split over 2 touches = 1/3 each; b 1/3
    ("aba", "1/3 1/3 1/3"),
    # a, b, c: total 1/2 + 1/4 + 1/8 = 7/8 → a 4/7, b 2/7, c 1/7; d has 0
    ("abcd", "4/7 2/7 1/7 0"),
    # a ×4 → 4/7 ÷ 4 = 1/7 each; b ×3 → 2/7 ÷ 3 = 2/21 each; c ×2 → 1/7 ÷ 2 = 1/14 each; d 0
    ("aaaabbbccd", "1/7 1/7 1/7 1/7 2/21 2/21 2/21 1/14 1/14 0"),
]


@pytest.mark.parametrize(("channels", "expected"), DATA_DRIVEN)
def test_data_driven_weights_match_the_hand_worked_example_when_removal_effects_are_given(channels, expected):
    result = data_driven_weights(touches_of(len(channels), channels), RE)
    assert list(result.values()) == fr(expected)


def test_data_driven_weights_fall_back_to_linear_when_every_removal_effect_is_zero():
    # d has 0, e is missing from the mapping (never seen in the lookback window) → 1/3 each
    assert list(data_driven_weights(touches_of(3, "dde"), RE).values()) == fr("1/3 1/3 1/3")


def test_data_driven_weights_give_a_channel_missing_from_the_removal_effects_nothing_when_others_have_some():
    assert list(data_driven_weights(touches_of(2, "ae"), RE).values()) == fr("1 0")


def test_data_driven_weights_are_empty_when_there_is_no_touch():
    assert data_driven_weights([], RE) == {}


def test_data_driven_weights_raise_when_a_removal_effect_is_negative():
    with pytest.raises(ValueError, match="removal effect"):
        data_driven_weights(touches_of(1, "a"), {"a": -0.1})


# --- degenerate journeys (SPEC §3 rules 1–3) ---


def contact_touches(*days: float) -> list[Touch]:
    return [Touch(i, T0 + timedelta(days=day)) for i, day in enumerate(days)]


def test_u_shaped_splits_50_50_when_a_contact_create_journey_has_two_touches():
    created = T0 + timedelta(days=3)
    # F = t0 2/5, L = t1 (last before creation) 2/5, no middle → 1/2 each
    result = weights(
        "u_shaped",
        contact_touches(0, 2),
        conversion=Conversion.CONTACT_CREATE,
        converted_at=created,
        positions=Positions(lead_created_at=created),
    )
    assert result == {0: Fr(1, 2), 1: Fr(1, 2)}


def test_u_shaped_adds_first_and_lead_shares_when_they_fall_on_the_same_touch():
    # a deal journey whose contact was created right after t0: F = L = t0 gets 2/5 + 2/5 = 4/5,
    # the middle {t1, t2} shares 1/5 → 1/10 each
    result = weights(
        "u_shaped",
        contact_touches(0, 2, 4),
        conversion=Conversion.DEAL_CREATE,
        converted_at=T0 + timedelta(days=5),
        positions=Positions(lead_created_at=T0 + timedelta(days=1), deal_created_at=T0 + timedelta(days=5)),
    )
    assert result == {0: Fr(4, 5), 1: Fr(1, 10), 2: Fr(1, 10)}


def test_w_shaped_gives_a_third_each_when_f_l_d_have_no_middle():
    result = weights(
        "w_shaped",
        contact_touches(0, 2, 4),
        conversion=Conversion.DEAL_CREATE,
        converted_at=T0 + timedelta(days=5),
        positions=Positions(lead_created_at=T0 + timedelta(days=3), deal_created_at=T0 + timedelta(days=5)),
    )
    assert result == {0: Fr(1, 3), 1: Fr(1, 3), 2: Fr(1, 3)}


def test_w_shaped_redistributes_the_lead_share_over_existing_positions_when_the_lead_came_before_every_touch():
    # L does not exist (contact created before t0): F = t0 3/10, D = t2 3/10, middle {t1} 1/10;
    # total 7/10 → 3/7, 1/7, 3/7
    result = weights(
        "w_shaped",
        contact_touches(0, 2, 4),
        conversion=Conversion.DEAL_CREATE,
        converted_at=T0 + timedelta(days=5),
        positions=Positions(lead_created_at=T0 - timedelta(days=1), deal_created_at=T0 + timedelta(days=5)),
    )
    assert result == {0: Fr(3, 7), 1: Fr(1, 7), 2: Fr(3, 7)}


def test_full_path_redistributes_missing_positions_when_lead_and_deal_times_are_unknown():
    # only F = t0 and C = t3 exist (9/40 each) plus middle {t1, t2} 1/10 → total 9/20 + 1/10 = 11/20;
    # F and C 9/40 ÷ 11/20 = 9/22 each, middle 1/20 ÷ 11/20 = 1/11 each
    close = T0 + timedelta(days=7)
    result = weights(
        "full_path",
        contact_touches(0, 2, 4, 6),
        conversion=Conversion.REVENUE,
        converted_at=close,
        positions=Positions(closed_won_at=close),
    )
    assert result == {0: Fr(9, 22), 1: Fr(1, 11), 2: Fr(1, 11), 3: Fr(9, 22)}


@pytest.mark.parametrize("model", MODELS)
def test_weights_give_the_only_touch_everything_when_the_journey_has_one_touch(model):
    result = weights(
        model,
        contact_touches(1),
        conversion=Conversion.REVENUE,
        converted_at=T0 + timedelta(days=2),
        positions=Positions(T0 + timedelta(days=2), T0 + timedelta(days=2), T0 + timedelta(days=2)),
    )
    assert result == {0: Fr(1)}


@pytest.mark.parametrize("model", MODELS)
def test_weights_are_empty_when_no_touch_lies_before_the_conversion(model):
    # the only touch comes a day after the close: the conversion is unattributed
    close = T0 + timedelta(days=2)
    result = weights(
        model,
        contact_touches(3),
        conversion=Conversion.REVENUE,
        converted_at=close,
        positions=Positions(close, close, close),
    )
    assert result == {}


def test_journey_keeps_a_touch_when_it_happens_exactly_at_the_conversion():
    touches = contact_touches(0, 1, 2)
    assert [t.key for t in journey(touches, converted_at=T0 + timedelta(days=1))] == [0, 1]


def test_journey_orders_touches_by_key_when_they_happen_at_the_same_instant():
    touches = [Touch("b", T0), Touch("c", T0 - timedelta(hours=1)), Touch("a", T0)]
    assert [t.key for t in journey(touches, converted_at=T0)] == ["c", "a", "b"]


def test_journey_raises_when_two_touches_share_a_key():
    with pytest.raises(ValueError, match="unique"):
        journey([Touch(1, T0), Touch(1, T0 + WEEK)], converted_at=T0 + WEEK)


def test_touch_raises_when_its_time_is_naive():
    with pytest.raises(ValueError, match="aware"):
        Touch(1, datetime(2026, 1, 1))  # naive on purpose


def test_key_positions_name_the_touches_at_f_l_d_c_when_every_event_has_happened():
    # the one pinned shape of KeyPositions: t0 F, t1 L, t2 D, t3 C = last = last key
    touches = contact_touches(0, 1, 2, 3, 9)
    result = key_positions(
        touches,
        converted_at=T0 + timedelta(days=3),
        positions=Positions(T0 + timedelta(days=1), T0 + timedelta(days=2), T0 + timedelta(days=3)),
    )
    assert result == KeyPositions(first=0, lead=1, deal=2, closed_won=3, last=3, last_key=3)


def test_key_positions_take_the_latest_existing_position_as_last_key_when_the_lead_follows_the_deal():
    # a contact added to the deal after the deal was created: L = t2 comes after D = t1
    touches = contact_touches(0, 1, 2, 3)
    result = key_positions(
        touches,
        converted_at=T0 + timedelta(days=3),
        positions=Positions(lead_created_at=T0 + timedelta(days=2), deal_created_at=T0 + timedelta(days=1)),
    )
    assert (result.lead, result.deal, result.closed_won, result.last_key) == (2, 1, None, 2)


def test_models_for_pins_which_models_apply_to_each_conversion():
    every = ("first_interaction", "last_interaction", "linear", "u_shaped")
    tail = ("time_decay", "j_shaped", "inverse_j", "data_driven")
    expected = {
        Conversion.CONTACT_CREATE: (*every, *tail),
        Conversion.DEAL_CREATE: (*every, "w_shaped", *tail),
        Conversion.REVENUE: (*every, "w_shaped", "full_path", *tail),
    }
    assert dict(MODELS_FOR) == expected


@pytest.mark.parametrize(
    ("model", "conversion"),
    [
        ("w_shaped", "contact_create"),
        ("full_path", "contact_create"),
        ("full_path", "deal_create"),
        ("data_driven", "revenue"),
        ("position_based", "revenue"),
    ],
)
def test_weights_raise_when_the_model_does_not_apply_to_the_conversion(model, conversion):
    with pytest.raises(ValueError, match=model):
        weights(model, contact_touches(0), conversion=conversion, converted_at=T0, positions=Positions(T0, T0, T0))


# --- money (SPEC rule 4) ---

THIRDS = {0: Fr(1, 3), 1: Fr(1, 3), 2: Fr(1, 3)}


def test_split_amount_gives_the_remainder_to_the_last_key_when_cents_do_not_divide():
    # 100.00 ÷ 3 = 33.333… → 33.33, 33.33 and the last key 100.00 − 66.66 = 33.34
    assert split_amount(Decimal("100.00"), THIRDS, last_key=2) == {
        0: Decimal("33.33"),
        1: Decimal("33.33"),
        2: Decimal("33.34"),
    }


def test_split_amount_gives_the_remainder_to_the_last_key_when_it_is_not_the_last_weighted_key():
    assert split_amount(Decimal("100.00"), THIRDS, last_key=0)[0] == Decimal("33.34")


def test_split_amount_splits_in_cents_when_the_amount_has_no_decimals():
    assert split_amount(Decimal("100"), THIRDS, last_key=2) == {
        0: Decimal("33.33"),
        1: Decimal("33.33"),
        2: Decimal("33.34"),
    }


def test_split_amount_keeps_the_amounts_precision_when_it_has_more_than_two_decimals():
    # 1.005 ÷ 2 = 0.5025 → 0.502 (half to even), the last key takes 1.005 − 0.502 = 0.503
    assert split_amount(Decimal("1.005"), {0: Fr(1, 2), 1: Fr(1, 2)}, last_key=1) == {
        0: Decimal("0.502"),
        1: Decimal("0.503"),
    }


def test_split_amount_rounds_others_toward_zero_when_the_remainder_would_make_the_last_share_negative():
    # 0.05 with six shares of 3/20 (0.0075 each, rounding to 0.01: 0.06 in all) and the last key's 1/10:
    # the last key would get 0.05 − 0.06 = −0.01, so the others truncate to 0.00 and the last key takes 0.05
    split = {i: Fr(3, 20) for i in range(6)} | {6: Fr(1, 10)}
    assert split_amount(Decimal("0.05"), split, last_key=6) == {i: Decimal("0.00") for i in range(6)} | {
        6: Decimal("0.05")
    }


def test_split_amount_keeps_the_sign_when_the_amount_is_negative():
    assert split_amount(Decimal("-100.00"), THIRDS, last_key=2) == {
        0: Decimal("-33.33"),
        1: Decimal("-33.33"),
        2: Decimal("-33.34"),
    }


def test_split_amount_is_empty_when_the_conversion_is_unattributed():
    assert split_amount(Decimal("10.00"), {}, last_key=None) == {}


def test_split_amount_raises_when_weights_do_not_sum_to_one():
    with pytest.raises(ValueError, match="sum to exactly 1"):
        split_amount(Decimal("10.00"), {0: Fr(1, 3), 1: Fr(1, 3)}, last_key=1)


def test_split_amount_raises_when_the_last_key_is_not_weighted():
    with pytest.raises(ValueError, match="last_key"):
        split_amount(Decimal("10.00"), THIRDS, last_key=7)


def test_engine_imports_nothing_from_django_when_loaded_on_its_own():
    probe = "import sys, touchline.attribution.engine; print(sorted(m for m in sys.modules if m.startswith('django')))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "[]\n"
