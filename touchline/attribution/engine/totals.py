"""Per-channel totals over many conversions at once: the models of `models.py` and `markov.py`, summed by channel.

Reports never need these (they sum stored credits, which drill down to interactions); a channel-level summary and
the comparison with other implementations (ChannelAttribution, marketing-attribution-models: bench/attribution.py)
do. Summing `weights()` × value journey by journey costs Touch objects and a Fraction per touch; here

1. journeys with the same channel path are merged first (their values add: every model here is linear in the
   value), as ChannelAttribution does with its one-row-per-path input;
2. the weights of a *positional* model — first interaction, last interaction, linear — depend only on the
   journey's length, so they are computed once per length by `weights()` itself, as integers over a common
   denominator, and totals accumulate as integers per (channel, length) before one exact division at the end;
3. for the data-driven model, a conversion gives each channel present RE(c) / Σ RE of its journey however many
   touches it has (`data_driven_weights()` splits that evenly over the channel's touches), so journeys merge by
   their *set* of channels, and the sets' shares are summed as integers over one common denominator.

Results are exact (`Fraction`; values are integers in the smallest unit, e.g. cents) and equal to summing the
per-journey functions, which `tests/test_totals.py` checks.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from operator import methodcaller, mul

from .journeys import Conversion, Positions, Touch
from .markov import data_driven_weights
from .models import weights

POSITIONAL: tuple[str, ...] = ("first_interaction", "last_interaction", "linear")
"""Models whose weights depend on nothing but the journey's length (no key-position times, no touch times)."""

Path = Sequence[Hashable]
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def merged_paths(journeys: Iterable[tuple[Path, int]]) -> dict[tuple | bytes, int]:
    """Total value per distinct non-empty channel path, in order of first appearance. A path may be any sequence of
    hashable channels; hashable ones (tuples, bytes of channel codes) are used as they are, others become tuples."""
    journeys = journeys if isinstance(journeys, list) else list(journeys)
    merged: dict[tuple | bytes, int] = {}
    get = merged.get
    try:
        for path, value in journeys:
            if path:  # a journey without a touch credits nobody (unattributed)
                merged[path] = get(path, 0) + value
    except TypeError:  # an unhashable path (a list): start again with tuples
        merged.clear()
        for path, value in journeys:
            if path:
                key = tuple(path)
                merged[key] = get(key, 0) + value
    return merged


def _synthetic(length: int) -> list[Touch]:
    return [Touch(i, _EPOCH + timedelta(minutes=i)) for i in range(length)]


@functools.lru_cache(maxsize=4096)
def _positional_shares(model: str, length: int) -> tuple[int, tuple[int, ...]]:
    """(common denominator, integer share of each position) of `model` on a journey of `length` touches, from
    `weights()` itself; a constant of the model, so computed once per process."""
    touches = _synthetic(length)
    w = weights(model, touches, conversion=Conversion.CONTACT_CREATE, converted_at=touches[-1].at,
                positions=Positions())
    shares = [w[i] for i in range(length)]
    denominator = math.lcm(*(share.denominator for share in shares))
    return denominator, tuple(int(share * denominator) for share in shares)


def channel_totals(journeys: Iterable[tuple[Path, int]] | Mapping[tuple | bytes, int],
                   models: Sequence[str] = POSITIONAL) -> dict[str, dict[Hashable, Fraction]]:
    """Exact per-channel totals of each positional model: Σ over conversions of value × weight of each touch, by
    the touch's channel. `journeys` holds `(channels in time order, value)` per conversion (or is already
    `merged_paths()`); a journey without a touch credits nobody. Raises ValueError for a non-positional model.

    Per journey length the model's integer shares (over a common denominator) come from `weights()`; three forms
    are summed in bulk — all of a journey's value on its first touch, all on its last, or equal shares on every
    touch (then a channel's part is its number of touches) — and any other form position by position.
    """
    for model in models:
        if model not in POSITIONAL:
            raise ValueError(f"{model!r} is not positional: its weights need touch or event times")
    merged = journeys if isinstance(journeys, Mapping) else merged_paths(journeys)
    lengths = set(map(len, merged))
    by_length: dict[int, tuple[list, list[int]]] | None = None
    totals: dict[str, dict[Hashable, Fraction]] = {}
    for model in models:
        shapes = {length: _positional_shares(model, length) for length in lengths}
        sums: dict[Hashable, int] = {}
        if all(shares[0] == denominator for denominator, shares in shapes.values()):  # all on the first touch
            for path, value in merged.items():
                sums[path[0]] = sums.get(path[0], 0) + value
            totals[model] = {channel: Fraction(total) for channel, total in sums.items() if total}
            continue
        if all(shares[-1] == denominator for denominator, shares in shapes.values()):  # all on the last touch
            for path, value in merged.items():
                sums[path[-1]] = sums.get(path[-1], 0) + value
            totals[model] = {channel: Fraction(total) for channel, total in sums.items() if total}
            continue
        if by_length is None:
            by_length = {}
            for path, value in merged.items():
                group = by_length.get(len(path))
                if group is None:
                    group = by_length[len(path)] = ([], [])
                group[0].append(path)
                group[1].append(value)
            alphabet = set().union(*merged)
        units: dict[Hashable, Fraction] = {}
        for length, (paths, values) in by_length.items():
            denominator, shares = shapes[length]
            sums = {}
            if len(set(shares)) == 1:  # equal shares: value × touches of the channel
                for channel in alphabet:
                    sums[channel] = shares[0] * sum(map(mul, values, map(methodcaller("count", channel), paths)))
            else:
                for path, value in zip(paths, values, strict=True):
                    for i, share in enumerate(shares):
                        if share:
                            sums[path[i]] = sums.get(path[i], 0) + value * share
            for channel, total in sums.items():
                if total:
                    units[channel] = units.get(channel, 0) + Fraction(total, denominator)
        totals[model] = units
    return totals


def data_driven_totals(journeys: Iterable[tuple[Path, int]] | Mapping[tuple | bytes, int],
                       removal_effect: Mapping[Hashable, float]) -> dict[Hashable, Fraction]:
    """Exact per-channel totals of the data-driven model with these removal effects (see `data_driven_weights()`):
    Σ over conversions of value × the channel's share of that conversion."""
    merged = journeys if isinstance(journeys, Mapping) else merged_paths(journeys)
    by_set: dict[frozenset, int] = {}
    fallback: dict[tuple | bytes, int] = {}  # paths whose channels all have RE 0: linear, so touch counts matter
    effective = {channel for channel, effect in removal_effect.items() if effect != 0}
    for path, value in merged.items():
        present = frozenset(path)
        if present & effective:
            by_set[present] = by_set.get(present, 0) + value
        else:
            fallback[path] = value
    channels = list(set().union(*merged)) if merged else []
    data_driven_weights([Touch(i, _EPOCH, c) for i, c in enumerate(channels)], removal_effect)  # validates them
    # Exact removal effects (floats are dyadic) as integers over one power of two: a conversion with channel set S
    # gives c the share units(c) / Σ units(S). Summed over sets with one common denominator L = lcm of the sums,
    # as integers, then one Fraction per channel.
    exact = {c: Fraction(removal_effect.get(c, 0.0)) for c in channels}
    scale = max((f.denominator for f in exact.values()), default=1)
    units = {c: f.numerator * (scale // f.denominator) for c, f in exact.items()}
    sums = {present: sum(units[c] for c in present) for present in by_set}
    common = math.lcm(*sums.values()) if sums else 1
    acc: dict[Hashable, int] = {}
    for present, value in by_set.items():
        part = common // sums[present] * value
        for channel in present:
            if units[channel]:
                acc[channel] = acc.get(channel, 0) + part
    totals: dict[Hashable, Fraction] = {c: Fraction(units[c] * a, common) for c, a in acc.items()}
    if fallback:
        for channel, total in channel_totals(fallback, ("linear",))["linear"].items():
            totals[channel] = totals.get(channel, 0) + total
    return totals
