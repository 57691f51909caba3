"""Touchline's attribution engine: no Django; pure Python but for the bulk totals of `TouchColumns` (numpy).

Given the touches (credit-earning interactions) of one conversion, it decides which belong to the journey, where
its key positions are, how each model weighs them (exact Fractions summing to 1) and how money splits in exact
decimals; and it learns channel removal effects for the data-driven model. Django code loads interactions,
calls these functions and stores the credits.

    ordered = journey(touches, converted_at=deal.closed_won_at)
    w = weights("u_shaped", ordered, conversion=Conversion.REVENUE, converted_at=..., positions=Positions(...))
    money = split_amount(deal.amount, w, last_key=key_positions(...).last_key)

Over many conversions at once, `channel_totals()` and `data_driven_totals()` give exact per-channel totals (totals.py,
pure Python: the reference), and `TouchColumns` the same totals and removal effects from raw touch columns with
numpy (exact int64 sums, bounded; the default for bulk work such as bench/attribution.py).
"""

from .journeys import Conversion, KeyPositions, Positions, Touch, journey, key_positions
from .markov import data_driven_weights, removal_effects, removal_effects_of_counts
from .models import DATA_DRIVEN, MODELS, MODELS_FOR, weights
from .money import split_amount
from .totals import POSITIONAL, TouchColumns, channel_totals, data_driven_totals, merged_paths

__all__ = [
    "DATA_DRIVEN",
    "MODELS",
    "MODELS_FOR",
    "POSITIONAL",
    "Conversion",
    "KeyPositions",
    "Positions",
    "Touch",
    "TouchColumns",
    "channel_totals",
    "data_driven_totals",
    "data_driven_weights",
    "journey",
    "key_positions",
    "merged_paths",
    "removal_effects",
    "removal_effects_of_counts",
    "split_amount",
    "weights",
]
