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

`TouchColumns` computes the same totals (and the Markov transition counts of `removal_effects()`) from raw touch
columns — journey, channel code, time; value and converted per journey — with numpy, in whole-column int64
arithmetic that is bounded before it is used (Python ints beyond the bound): the default for bulk work, several
times faster than the functions here (bench/attribution.py), which remain the reference it is tested against.
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
    totals = _data_driven_set_totals(by_set, channels, removal_effect)
    if fallback:
        for channel, total in channel_totals(fallback, ("linear",))["linear"].items():
            totals[channel] = totals.get(channel, 0) + total
    return totals


def _data_driven_set_totals(by_set: Mapping[frozenset, int], channels: Iterable[Hashable],
                            removal_effect: Mapping[Hashable, float]) -> dict[Hashable, Fraction]:
    """Exact per-channel totals of conversions merged by channel set (`{set: total value}`, each set holding a
    channel of non-zero removal effect)."""
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
    return {c: Fraction(units[c] * a, common) for c, a in acc.items()}


# Columns of touches (numpy) --------------------------------------------------------------------------------------

_INT64_BOUND = 2**63  # every int64 sum below has magnitude ≤ max |value| × touches summed, checked < this
_DENSE_CELLS = 1 << 22  # largest (length × channel) or (channel × channel) table counted densely


class TouchColumns:
    """Many conversions' touches as columns, for exact per-channel totals in bulk (numpy). Equal, exactly, to the
    pure-Python functions above and in markov.py on the same journeys — `channel_totals()`, `removal_effects()`,
    `data_driven_totals()`, which stay the reference (`tests/test_totals.py` checks the equality).

    `journey[i]`, `channel[i]`: touch i's journey (an index into `value`) and channel code (an integer ≥ 0);
    `value[j]`: journey j's conversion value, an integer in the smallest unit (cents); `converted[j]`, if given:
    whether journey j converted (one that did not credits nobody, whatever its value; removal effects need it).
    Touches come in time order within each journey, the order an index on (journey, time) returns them; given
    `at` (touch times, any orderable numbers) they may come in any order and are sorted by (journey, time) when
    not already so, touches at the same time keeping their order (give them ordered by id). A journey without a
    touch credits nobody. Results are keyed by channel code (Python ints), zero totals left out, as there.

    Work is on whole columns: a journey's first and last touch are found where the journey id changes; linear
    shares and Markov transitions are counted over *runs* (consecutive touches of one journey and channel: a run
    of r touches is r touches of its channel, and r − 1 transitions from it to itself); every sum is an int64
    `np.add.at`, so exact as long as nothing reaches 2⁶³ — checked before summing: when max |value| × touches
    summed could reach it (or values come as Python ints beyond int64, an object array) the pure-Python functions
    give the totals instead, the same ones, slower. Fractions are built once per channel at the end.
    """

    def __init__(self, journey, channel, value, *, converted=None, at=None) -> None:
        import numpy as np

        journey, channel, value = np.asarray(journey), np.asarray(channel), np.asarray(value)
        if journey.shape != channel.shape or journey.ndim != 1:
            raise ValueError("journey and channel must be 1-d columns of one length")
        if not journey.size:  # [] comes as floats
            journey, channel = journey.astype(np.int64), channel.astype(np.int64)
        for name, column in (("journey", journey), ("channel", channel)):
            if column.dtype.kind not in "iu":
                raise TypeError(f"{name} must hold integers, got {column.dtype}")
        if value.ndim != 1 or value.dtype.kind not in "iuO":
            raise TypeError(f"value must be a 1-d column of integers, got {value.dtype}")
        if value.dtype.kind == "u" and value.size and int(value.max()) >= _INT64_BOUND:
            value = value.astype(object)  # beyond int64: Python ints
        elif value.dtype.kind != "O":
            value = value.astype(np.int64, copy=False)
        if converted is not None:
            converted = np.asarray(converted, dtype=bool)
            if converted.shape != value.shape:
                raise ValueError("converted must have one entry per journey, like value")
            value = value.copy()
            value[~converted] = 0
        n = len(journey)
        new = journey[1:] != journey[:-1]  # a journey starts at i + 1
        if at is not None:
            at = np.asarray(at)
            if at.shape != journey.shape:
                raise ValueError("at must have one entry per touch")
        if n > 1:
            ordered = journey[1:] > journey[:-1]
            ordered |= ~new & (at[1:] >= at[:-1]) if at is not None else ~new
            if not ordered.all():
                order = np.lexsort((at, journey)) if at is not None else np.argsort(journey, kind="stable")
                journey, channel = journey[order], channel[order]
                new = journey[1:] != journey[:-1]
        if n and (journey[0] < 0 or journey[-1] >= len(value)):
            raise ValueError("journey ids must index value (0 <= id < len(value))")
        if n and channel.dtype.kind == "i" and channel.min() < 0:
            raise ValueError("channel codes must be >= 0")
        change = np.flatnonzero(new) + 1
        self._np = np
        self._new = new
        self._runs = None
        self.channel = channel
        self.starts = np.r_[0, change] if n else np.zeros(0, np.intp)
        self.ends = np.r_[change, n] if n else np.zeros(0, np.intp)
        self.lengths = self.ends - self.starts
        ids = journey[self.starts]
        self.value = value[ids]  # per journey with a touch, in journey order
        self.converted = None if converted is None else converted[ids]
        self.codes = int(channel.max()) + 1 if n else 0

    # helpers ------------------------------------------------------------------------------------------------------

    def runs(self):
        """(channel, touches, journey index, starts a journey) of each run, in order: a run is a stretch of one
        journey's consecutive touches on one channel."""
        if self._runs is None:
            np = self._np
            if not len(self.channel):
                empty = np.zeros(0, np.intp)
                self._runs = (empty, empty, empty, np.zeros(0, bool))
            else:
                head = np.r_[True, self._new]
                cut = head.copy()
                cut[1:] |= self.channel[1:] != self.channel[:-1]
                at = np.flatnonzero(cut)
                first = head[at]
                self._runs = (self.channel[at].astype(np.intp), np.diff(np.r_[at, len(self.channel)]),
                              np.cumsum(first) - 1, first)
        return self._runs

    def paths(self) -> list[bytes | tuple[int, ...]]:
        """Each journey's channel codes in time order: bytes when every code is below 256, else tuples."""
        starts, ends = self.starts.tolist(), self.ends.tolist()
        if self.codes <= 256:
            buffer = self.channel.astype(self._np.uint8).tobytes()
            return [buffer[a:b] for a, b in zip(starts, ends, strict=True)]
        codes = self.channel.tolist()
        return [tuple(codes[a:b]) for a, b in zip(starts, ends, strict=True)]

    def _weighed(self):
        """Journeys that credit anyone (non-zero value) as a boolean mask, or None when their int64 sums could
        overflow (or values are Python ints): then the pure-Python functions give the totals."""
        if self.value.dtype.kind == "O":
            return None
        keep = self.value != 0
        if not keep.any():
            return keep
        weighed = self.value[keep]
        largest = max(int(weighed.max()), -int(weighed.min()))
        return keep if largest * int(self.lengths[keep].sum()) < _INT64_BOUND else None

    def _merged(self, keep=None) -> dict[bytes | tuple, int]:
        values = self.value.tolist()
        merged: dict[bytes | tuple, int] = {}
        for j, path in enumerate(self.paths()):
            if values[j] and (keep is None or keep[j]):
                merged[path] = merged.get(path, 0) + values[j]
        return merged

    def _add(self, size: int, index, weights):
        """Exact integer sums of `weights` by `index` (int64: callers bound them)."""
        out = self._np.zeros(size, self._np.int64)
        self._np.add.at(out, index, weights)
        return out

    def _by_code(self, codes, weights) -> dict[int, Fraction]:
        """Non-zero exact sums of `weights` by channel code."""
        if self.codes <= _DENSE_CELLS:
            return {c: Fraction(s) for c, s in enumerate(self._add(self.codes, codes, weights).tolist()) if s}
        found, where = self._np.unique(codes, return_inverse=True)
        sums = self._add(len(found), where, weights).tolist()
        return {c: Fraction(s) for c, s in zip(found.tolist(), sums, strict=True) if s}

    # totals -------------------------------------------------------------------------------------------------------

    def channel_totals(self, models: Sequence[str] = POSITIONAL) -> dict[str, dict[int, Fraction]]:
        """`channel_totals()` of these journeys: exact per-channel totals of each positional model."""
        for model in models:
            if model not in POSITIONAL:
                raise ValueError(f"{model!r} is not positional: its weights need touch or event times")
        keep = self._weighed()
        if keep is None:
            return channel_totals(self._merged(), models)
        return self._positional(models, keep)

    def _positional(self, models: Sequence[str], keep, *, subset: bool = False) -> dict[str, dict[int, Fraction]]:
        """Totals of each model over the journeys in `keep` (whose sums `_weighed()` has bounded; `subset` when
        other journeys with a value are left out); the shares per length come from `weights()`
        (`_positional_shares`), as in `channel_totals()`."""
        np = self._np
        if not keep.any():
            return {model: {} for model in models}
        present = np.flatnonzero(np.bincount(self.lengths[keep])).tolist()
        # every journey, with value 0 where left out (cheaper than selecting the ones kept)
        value = np.where(keep, self.value, 0) if subset else self.value
        totals: dict[str, dict[int, Fraction]] = {}
        for model in models:
            shapes = {length: _positional_shares(model, length) for length in present}
            if all(shares[0] == denominator for denominator, shares in shapes.values()):  # all on the first touch
                totals[model] = self._by_code(self.channel[self.starts], value)
            elif all(shares[-1] == denominator for denominator, shares in shapes.values()):  # all on the last one
                totals[model] = self._by_code(self.channel[self.ends - 1], value)
            elif all(len(set(shares)) == 1 for _, shares in shapes.values()):
                totals[model] = self._equal_shares(shapes, present, value)
            else:  # another shape: position by position
                totals[model] = channel_totals(self._merged(keep), (model,))[model]
        return totals

    def _equal_shares(self, shapes, present: list[int], value) -> dict[int, Fraction]:
        """Equal shares: Σ value × touches of the channel per (length, channel), summed over runs as int64, then
        one Fraction per channel over the lengths' common denominator."""
        np = self._np
        slot = np.zeros(int(self.lengths.max()) + 1, np.intp)
        slot[present] = np.arange(len(present))
        run_channel, run_touches, run_journey, _ = self.runs()
        weight = value[run_journey] * run_touches
        if len(present) * self.codes <= _DENSE_CELLS:
            channels = range(self.codes)
        else:  # sparse channel codes: number those present first
            channels, run_channel = np.unique(run_channel, return_inverse=True)
            channels = channels.tolist()
        cell = slot[self.lengths][run_journey] * len(channels) + run_channel
        sums = self._add(len(present) * len(channels), cell, weight).reshape(len(present), len(channels)).tolist()
        common = math.lcm(*(denominator for denominator, _ in shapes.values()))
        factor = [shapes[length][1][0] * (common // shapes[length][0]) for length in present]
        totals = {}
        for k, channel in enumerate(channels):
            numerator = sum(row[k] * f for row, f in zip(sums, factor, strict=True))
            if numerator:
                totals[channel] = Fraction(numerator, common)
        return totals

    def removal_effects(self) -> dict[int, float]:
        """`removal_effects()` of these journeys, converting or not (needs `converted`): the transitions counted
        over runs, then the same exact solution (`markov._solve`)."""
        from .markov import _CONVERSION, _NULL, _solve

        np = self._np
        if self.converted is None:
            raise ValueError("removal effects need converted (which journeys converted)")
        if not len(self.starts):
            return {}
        run_channel, run_touches, _, first = self.runs()
        codes = self.codes
        within = ~first[1:]  # run i → run i + 1 inside one journey
        source, target = run_channel[:-1][within], run_channel[1:][within]
        counts: dict[tuple[int, int], int] = {}
        if codes * codes <= _DENSE_CELLS:
            pairs = np.bincount(source * codes + target, minlength=codes * codes)
            pairs[:: codes + 1] += self._add(codes, run_channel, run_touches - 1)  # c → c inside a run
            found = np.flatnonzero(pairs)
            transitions = zip((found // codes).tolist(), (found % codes).tolist(), pairs[found].tolist(), strict=True)
        else:
            found, number = np.unique(np.stack([source, target]), axis=1, return_counts=True)
            transitions = [*zip(*found.tolist(), number.tolist(), strict=True)]
            found, where = np.unique(run_channel, return_inverse=True)
            repeats = self._add(len(found), where, run_touches - 1).tolist()  # c → c inside a run
            transitions += [(c, c, k) for c, k in zip(found.tolist(), repeats, strict=True) if k]
        # states in order of first appearance, as removal_effects() numbers them
        seen = np.unique(run_channel).tolist()
        head = run_channel[: 1 << 16]
        where_first = {}
        for code in seen:
            hit = np.flatnonzero(head == code)
            where_first[code] = int(hit[0]) if len(hit) else int(np.argmax(run_channel == code))
        index = {code: state for state, code in enumerate(sorted(seen, key=where_first.get), start=1)}
        for a, b, k in transitions:
            counts[index[a], index[b]] = counts.get((index[a], index[b]), 0) + k
        last = self.channel[self.ends - 1]
        for state, ends in ((None, self.channel[self.starts]), (_CONVERSION, last[self.converted]),
                            (_NULL, last[~self.converted])):
            found, number = np.unique(ends, return_counts=True)
            for code, k in zip(found.tolist(), number.tolist(), strict=True):
                counts[(0, index[code]) if state is None else (index[code], state)] = k
        return _solve(index, counts)

    def data_driven_totals(self, removal_effect: Mapping[Hashable, float]) -> dict[int, Fraction]:
        """`data_driven_totals()` of these journeys with these removal effects: journeys merged by their set of
        channels (a bit mask per journey, for codes below 63), each set's shares summed exactly as there; journeys
        whose channels all have removal effect 0 are linear (`_positional`)."""
        np = self._np
        keep = self._weighed()
        if keep is None or self.codes > 62:
            return data_driven_totals(self._merged(), removal_effect)
        run_channel, _, _, first = self.runs()
        masks = (np.bitwise_or.reduceat(np.left_shift(np.int64(1), run_channel), np.flatnonzero(first))
                 if len(run_channel) else np.zeros(0, np.int64))
        considered = masks if self.converted is None else masks[self.converted]
        everywhere = int(np.bitwise_or.reduce(considered)) if len(considered) else 0
        channels = [c for c in range(self.codes) if everywhere >> c & 1]
        data_driven_weights([Touch(i, _EPOCH, c) for i, c in enumerate(channels)], removal_effect)  # validates them
        effective = sum(1 << c for c in channels if removal_effect.get(c, 0.0) != 0)
        sets, where = np.unique(masks[keep], return_inverse=True)
        by_set = {}
        for mask, total in zip(sets.tolist(), self._add(len(sets), where, self.value[keep]).tolist(), strict=True):
            if mask & effective and total:
                by_set[frozenset(c for c in channels if mask >> c & 1)] = total
        totals = _data_driven_set_totals(by_set, channels, removal_effect)
        fallback = keep & (masks & effective == 0)  # every channel has removal effect 0: linear
        if fallback.any():
            for channel, total in self._positional(("linear",), fallback, subset=True)["linear"].items():
                totals[channel] = totals.get(channel, 0) + total
        return totals
