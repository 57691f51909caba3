"""The data-driven model: a first-order Markov chain over channel sequences and its removal effects (SPEC §3).

`removal_effects()` learns, from many journeys, the chain whose states are (start), one state per channel,
(conversion) and (null). Every journey contributes its transitions start → c₁ → … → cₙ → (conversion or null),
repeats kept (c → c counts as a transition). Transition probabilities are transition counts over the state's
outgoing count. The removal effect of a channel is

    RE(c) = 1 − P(conversion without c) / P(conversion)

where "without c" redirects every transition into c to (null). Because a walk that converts without c is
exactly a converting walk that never visits c, RE(c) = P(visit c and convert) / P(convert), which by the strong
Markov property is h(c)·x(c)/x(start): h(c) the probability of ever reaching c from start, x(s) the probability
of converting from s. With N = (I − Q)⁻¹ the fundamental matrix of the transient states, x = N·r and
h(c) = N[start, c] / N[c, c], so one exact inversion over Fractions gives every removal effect.

These are the removal effects of ChannelAttribution's order-1 `markov_model` (Altomare and Loris): it estimates
the same transition counts (it merges a run of one channel into one visit, which only drops self-loops and leaves
every absorption probability, hence every removal effect, unchanged) and reports, by simulation, the share of
converting walks that visited each channel — the Monte Carlo estimate of P(visit c | convert). Touchline
computes the exact value instead, so results are deterministic. `tests/test_markov.py` checks both.

Conventions: a journey with no channel is skipped (it would only scale every removal effect by one common factor,
leaving data-driven splits unchanged); with no converting journey every removal effect is 0.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from fractions import Fraction

from .journeys import Touch

_CONVERSION = -1
_NULL = -2


def removal_effects(paths: Iterable[tuple[Sequence[Hashable], bool]]) -> dict[Hashable, float]:
    """Removal effect of every channel seen in `paths`, each in [0, 1], in order of first appearance.

    `paths` holds one `(channels, converted)` pair per journey, converting or not: the channel of each touch in
    time order, repeats kept, and whether the journey ended in a conversion. Channels may be any hashable values;
    paths given as `bytes` (one channel code below 254 per byte) have their transitions counted in bulk, others
    are merged by identical path first: the chain only needs transition counts.
    """
    paths = list(paths)
    if paths and all(type(channels) is bytes for channels, _ in paths):
        counted = _code_transitions(paths)
        if counted is not None:
            return _solve(*counted)
    merged: Counter[tuple[tuple | bytes, bool]] = Counter(
        (channels if type(channels) in (tuple, bytes) else tuple(channels), bool(converted))
        for channels, converted in paths)
    return removal_effects_of_counts(merged)


def removal_effects_of_counts(paths: Mapping[tuple[Sequence[Hashable], bool], int]) -> dict[Hashable, float]:
    """`removal_effects()` of `paths` given as `{(channels, converted): number of journeys}`."""
    index: dict[Hashable, int] = {}  # channel -> transient state; 0 is (start)
    pairs: Counter[tuple[Hashable, Hashable]] = Counter()  # (channel, next channel) -> transitions
    counts: Counter[tuple[int, int]] = Counter()  # (from state, to state or _CONVERSION/_NULL) -> transitions
    for (channels, converted), journeys in paths.items():
        if not channels or not journeys:
            continue
        for channel in channels:
            if channel not in index:
                index[channel] = len(index) + 1
        counts[0, index[channels[0]]] += journeys
        counts[index[channels[-1]], _CONVERSION if converted else _NULL] += journeys
        if len(channels) > 1:
            for pair, k in Counter(zip(channels, channels[1:], strict=False)).items():
                pairs[pair] += k * journeys
    for (source, target), k in pairs.items():
        counts[index[source], index[target]] += k
    return _solve(index, counts)


_CONVERTED, _NOT_CONVERTED = 0xFE, 0xFF  # separators after a journey in the bulk count of byte paths


def _code_transitions(paths: list[tuple[bytes, bool]]) -> tuple[dict[int, int], Counter[tuple[int, int]]] | None:
    """Transition counts of byte paths, or None if a code is 254 or more. The paths are laid end to end, each
    followed by a separator byte telling its outcome (and a separator first); every two consecutive bytes are then
    one transition — a separator followed by a code is (start) → code, a code followed by a separator is code →
    (conversion) or (null) — and are counted as 16-bit values over the buffer and over the buffer shifted by one."""
    channels = [c for c, _ in paths if c]
    flat = b"".join(channels)
    if not flat or max(flat) >= _CONVERTED:
        return None
    ends = [b"\xfe" if converted else b"\xff" for c, converted in paths if c]
    laid = b"\xff" + b"".join([b for pair in zip(channels, ends, strict=True) for b in pair])
    view = memoryview(laid)
    words = Counter(view[: len(laid) // 2 * 2].cast("H"))
    words.update(view[1 : 1 + (len(laid) - 1) // 2 * 2].cast("H"))
    little = sys.byteorder == "little"
    pairs = {((w & 0xFF, w >> 8) if little else (w >> 8, w & 0xFF)): k for w, k in words.items()}
    codes = {b for _, b in pairs if b < _CONVERTED} | {a for a, _ in pairs if a < _CONVERTED}
    index = {code: state for state, code in enumerate(sorted(codes, key=lambda c: flat.find(bytes([c]))), start=1)}
    counts: Counter[tuple[int, int]] = Counter()
    for (a, b), k in pairs.items():
        source = 0 if a >= _CONVERTED else index[a]
        target = _CONVERSION if b == _CONVERTED else _NULL if b == _NOT_CONVERTED else index[b]
        counts[source, target] += k
    return index, counts


def _solve(index: Mapping[Hashable, int], counts: Mapping[tuple[int, int], int]) -> dict[Hashable, float]:
    if not index:
        return {}

    size = len(index) + 1
    outgoing = [0] * size
    for (source, _), count in counts.items():
        outgoing[source] += count
    i_minus_q = [[Fraction(int(row == column)) for column in range(size)] for row in range(size)]
    to_conversion = [Fraction(0)] * size
    for (source, target), count in counts.items():
        probability = Fraction(count, outgoing[source])
        if target == _CONVERSION:
            to_conversion[source] += probability
        elif target != _NULL:
            i_minus_q[source][target] -= probability

    fundamental = _inverse(i_minus_q)
    converts = [sum(fundamental[row][k] * to_conversion[k] for k in range(size)) for row in range(size)]
    if converts[0] == 0:
        return dict.fromkeys(index, 0.0)
    return {
        channel: float(fundamental[0][state] / fundamental[state][state] * converts[state] / converts[0])
        for channel, state in index.items()
    }


def _inverse(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    """Gauss–Jordan inverse in exact arithmetic (I − Q of an absorbing chain is always invertible)."""
    size = len(matrix)
    rows = [list(row) + [Fraction(int(i == j)) for j in range(size)] for i, row in enumerate(matrix)]
    for column in range(size):
        pivot = next(r for r in range(column, size) if rows[r][column] != 0)
        rows[column], rows[pivot] = rows[pivot], rows[column]
        lead = rows[column][column]
        rows[column] = [value / lead for value in rows[column]]
        for r in range(size):
            factor = rows[r][column]
            if r != column and factor != 0:
                rows[r] = [
                    value - factor * pivot_value for value, pivot_value in zip(rows[r], rows[column], strict=True)
                ]
    return [row[size:] for row in rows]


def data_driven_weights(touches: Iterable[Touch], removal_effect: Mapping[str, float]) -> dict[Hashable, Fraction]:
    """Exact weights of one conversion over `touches` (its journey, see `journey()`), summing to exactly 1.

    The conversion is split over the channels present in proportion to their removal effect (a channel missing
    from `removal_effect` has 0), and a channel's part evenly over its touches, so every credit drills down to
    touches. Each float removal effect is taken at its exact binary value. When every present channel has a
    removal effect of 0 (none of them was ever seen on a converting path in the lookback window) there is
    nothing to be proportional to, and the conversion falls back to linear: an equal share per touch.
    Returns `{}` for no touch (unattributed). Raises ValueError for duplicate keys or a negative or non-finite
    removal effect.
    """
    touches = list(touches)
    keys = [touch.key for touch in touches]
    if len(set(keys)) != len(keys):
        raise ValueError("touch keys must be unique within a journey")
    if not touches:
        return {}
    per_channel = Counter(touch.channel for touch in touches)
    effect: dict[str, Fraction] = {}
    for channel in per_channel:
        value = removal_effect.get(channel, 0.0)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"removal effect of {channel!r} must be finite and >= 0, got {value!r}")
        effect[channel] = Fraction(value)
    total = sum(effect.values())
    if total == 0:
        return {touch.key: Fraction(1, len(touches)) for touch in touches}
    return {touch.key: effect[touch.channel] / total / per_channel[touch.channel] for touch in touches}
