"""Rule-based attribution models: the weights of one conversion over the touches of its journey (SPEC §3).

Every model returns exact `Fraction` weights over *all* touches of the journey (zeros included, so the key set
is always the journey) that sum to exactly 1; a journey without a touch gets `{}` (the conversion is
unattributed, SPEC rule 3). The data-driven model lives in `markov.py` because it needs removal effects learned
over many journeys.

Position-based models are a table of shares (`_SHAPES`): a share per key position plus a share for the
*middle*, which is every touch at none of *that model's* key positions (so for U-shaped on revenue, the touches
after lead creation are middle). The degenerate rules of SPEC §3 follow from one computation:

1. positions on the same touch add their shares on it;
2. a share with nobody to take it (a key position that does not exist, or no middle touch) is redistributed over
   the existing key positions in proportion to their shares, i.e. the shares that found a touch are normalised
   to sum to 1. U-shaped with two touches where L is the last (always so for contact create) → ½ ½; W-shaped with
   F, L, D on three touches → ⅓ each; a single touch → 1.

Time decay: weight 2^(−Δ/7) with Δ the fractional days from the touch to the conversion, normalised. The common
factor 2^(−Δ_latest/7) cancels in the normalisation, so each touch's float weight is computed against the latest
touch, 2^(−(Δ−Δ_latest)/7) ∈ (0, 1] (no underflow for recent journeys), converted exactly with
`Fraction(float)` and normalised in exact arithmetic: the weights sum to exactly 1 and differ from the real-number
formula only by float rounding (relative ~1e-16). A touch over ~20 years older than the latest one underflows to 0.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from .journeys import Conversion, Positions, Touch, journey, position_indexes

DATA_DRIVEN = "data_driven"

MODELS: tuple[str, ...] = (
    "first_interaction",
    "last_interaction",
    "linear",
    "u_shaped",
    "w_shaped",
    "full_path",
    "time_decay",
    "j_shaped",
    "inverse_j",
)
"""The rule-based models `weights()` computes, by stable identifier; `data_driven` is computed separately."""

MODELS_FOR: dict[Conversion, tuple[str, ...]] = {
    Conversion.CONTACT_CREATE: (*(m for m in MODELS if m not in ("w_shaped", "full_path")), DATA_DRIVEN),
    Conversion.DEAL_CREATE: (*(m for m in MODELS if m != "full_path"), DATA_DRIVEN),
    Conversion.REVENUE: (*MODELS, DATA_DRIVEN),
}
"""Which models apply to which conversion (SPEC table): W-shaped for deal create and revenue, full path for revenue
only, every other model (data-driven included, last) for all three."""


@dataclass(frozen=True)
class _Shape:
    keys: tuple[tuple[str, Fraction], ...]  # (position role, share); roles as in journeys.position_indexes
    middle: Fraction


_SHAPES: dict[str, _Shape] = {
    "first_interaction": _Shape((("first", Fraction(1)),), Fraction(0)),
    "last_interaction": _Shape((("last", Fraction(1)),), Fraction(0)),
    "u_shaped": _Shape((("first", Fraction(2, 5)), ("lead", Fraction(2, 5))), Fraction(1, 5)),
    "w_shaped": _Shape(
        (("first", Fraction(3, 10)), ("lead", Fraction(3, 10)), ("deal", Fraction(3, 10))), Fraction(1, 10)
    ),
    "full_path": _Shape(
        (
            ("first", Fraction(9, 40)),
            ("lead", Fraction(9, 40)),
            ("deal", Fraction(9, 40)),
            ("closed_won", Fraction(9, 40)),
        ),
        Fraction(1, 10),
    ),
    "j_shaped": _Shape((("first", Fraction(1, 5)), ("last", Fraction(3, 5))), Fraction(1, 5)),
    "inverse_j": _Shape((("first", Fraction(3, 5)), ("last", Fraction(1, 5))), Fraction(1, 5)),
}


def weights(
    model: str,
    touches: Sequence[Touch],
    *,
    conversion: Conversion | str,
    converted_at: datetime,
    positions: Positions,
) -> dict[Hashable, Fraction]:
    """Exact weights of one conversion over its journey, keyed by touch key, summing to exactly 1.

    `touches` may hold touches after `converted_at` and in any order: the journey is taken with `journey()`.
    `positions` gives the event times of L, D, C (only the position-based models read it). Returns `{}` when no
    touch lies at or before the conversion (unattributed). Raises ValueError for an unknown model, a model that
    does not apply to `conversion` (see `MODELS_FOR`), or `data_driven` (use `data_driven_weights`).
    """
    conversion = Conversion(conversion)
    if model == DATA_DRIVEN:
        raise ValueError("data_driven needs removal effects: use data_driven_weights()")
    if model not in MODELS:
        raise ValueError(f"unknown attribution model {model!r}")
    if model not in MODELS_FOR[conversion]:
        raise ValueError(f"model {model!r} does not apply to {conversion.value}")
    ordered = journey(touches, converted_at=converted_at)
    if not ordered:
        return {}
    if model == "linear":
        return {touch.key: Fraction(1, len(ordered)) for touch in ordered}
    if model == "time_decay":
        return _time_decay(ordered)
    return _shaped(_SHAPES[model], ordered, positions)


def _shaped(shape: _Shape, ordered: Sequence[Touch], positions: Positions) -> dict[Hashable, Fraction]:
    indexes = position_indexes(ordered, positions)
    raw = [Fraction(0)] * len(ordered)
    at_key_position = set()
    for role, share in shape.keys:
        index = indexes[role]
        if index is not None:  # a missing position's share is left out, then normalised away (rule 2)
            raw[index] += share  # positions on one touch add (rule 1)
            at_key_position.add(index)
    middle = [i for i in range(len(ordered)) if i not in at_key_position]
    for i in middle:  # no middle touch: the middle share is left out, then normalised away (rule 2)
        raw[i] += shape.middle / len(middle)
    total = sum(raw)  # > 0: F always exists and every shape gives F or "last" a share
    return {touch.key: raw[i] / total for i, touch in enumerate(ordered)}


def _time_decay(ordered: Sequence[Touch]) -> dict[Hashable, Fraction]:
    latest = ordered[-1].at
    floats = [2.0 ** (-((latest - touch.at) / timedelta(days=1)) / 7) for touch in ordered]
    raw = [Fraction(value) for value in floats]  # exact binary value of each float
    total = sum(raw)  # >= 1: the latest touch weighs exactly 1
    return {touch.key: raw[i] / total for i, touch in enumerate(ordered)}
