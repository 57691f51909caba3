"""Splitting a conversion's money over its touches in exact decimals (SPEC rule 4)."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from decimal import Decimal
from fractions import Fraction


def split_amount(
    amount: Decimal, weights: Mapping[Hashable, Fraction], *, last_key: Hashable
) -> dict[Hashable, Decimal]:
    """Split `amount` by `weights` into Decimals that sum to exactly `amount`.

    Shares are multiples of one cent, or of the amount's own smallest unit when it has more decimals (an amount
    of `Decimal("1.005")` splits in thousandths). Every share but `last_key`'s is its exact value rounded half to
    even; `last_key` (the last key position, see `KeyPositions.last_key`) takes its own share plus the rounding
    remainder. Should that remainder make its share change sign (many tiny rounded-up shares against a small last
    share), every other share is rounded toward zero instead, so no share ever has the opposite sign of the amount.

    `weights` must be non-negative and sum to exactly 1 (what `weights()` and `data_driven_weights()` return);
    empty weights (an unattributed conversion) give `{}`. Raises ValueError otherwise, or when `last_key` is not
    one of the weighted keys, or the amount is not finite.
    """
    if not weights:
        return {}
    if not amount.is_finite():
        raise ValueError(f"amount must be finite, got {amount!r}")
    if last_key not in weights:
        raise ValueError(f"last_key {last_key!r} is not among the weighted touches")
    if any(weight < 0 for weight in weights.values()) or sum(weights.values()) != 1:
        raise ValueError("weights must be non-negative and sum to exactly 1")

    exponent = min(int(amount.as_tuple().exponent), -2)
    quantum = Fraction(10) ** exponent
    amount_units = int(Fraction(amount) / quantum)  # exact: the quantum is never coarser than the amount's unit

    def units(rounding: Callable[[Fraction], int]) -> dict[Hashable, int]:
        shares = {key: rounding(amount_units * Fraction(w)) for key, w in weights.items() if key != last_key}
        shares[last_key] = amount_units - sum(shares.values())
        return shares

    shares = units(round)  # round(Fraction) rounds half to even, exactly
    if shares[last_key] * amount_units < 0:
        shares = units(math.trunc)
    return {key: Decimal(f"{shares[key]}E{exponent}") for key in weights}
