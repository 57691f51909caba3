"""Removal effects of the data-driven model: hand-worked chains and ChannelAttribution as the oracle.

The oracle is the real ChannelAttribution package (PyPI `channelattribution`, the standard implementation named by
SPEC §3). It is GPL-3 and therefore only a *dev/test* dependency: it is imported here and nowhere under
`touchline/` outside tests, and Touchline does not ship it. (It imports matplotlib at import time without declaring
it, hence matplotlib as a dev dependency too.)

ChannelAttribution's `markov_model` estimates removal effects by Monte Carlo simulation (its removal effect of c is
the share of simulated converting walks that visited c), so it can only be met within sampling error. The exact
comparison (rel. tol. 1e-9) therefore takes ChannelAttribution's own estimated chain — `transition_matrix(...,
order=1)` — and solves it here with numpy by the *definition* (for every channel, redirect its incoming transitions
to (null) and solve the absorbing chain again), a different method from the engine's (one exact Fraction inverse of
the fundamental matrix and the identity RE(c) = h(c)·x(c)/x(start)). The simulated removal effects are then checked
to agree within a few standard errors.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from touchline.attribution.engine import removal_effects

with contextlib.redirect_stdout(io.StringIO()):  # it prints an advertising banner on import
    import ChannelAttribution  # GPL-3: test-only oracle, see the module docstring

Paths = Sequence[tuple[Sequence[str], bool]]


def test_removal_effects_match_the_hand_worked_chain_when_one_channel_is_essential():
    paths = [(["a", "b"], True), (["a"], False), (["b"], True), (["b"], False)]
    # transitions: start→a 2, start→b 2 (½ ½); a→b 1, a→null 1 (½ ½); b→conv 2, b→null 1 (⅔ ⅓)
    # x(b) = ⅔; x(a) = ½·x(b) = ⅓; P(conv) = x(start) = ½·⅓ + ½·⅔ = ½
    # without a (start→a goes to null): P = ½·x(b) = ⅓ → RE(a) = 1 − ⅓ ÷ ½ = ⅓
    # without b: every conversion passes through b → P = 0 → RE(b) = 1
    assert removal_effects(paths) == pytest.approx({"a": 1 / 3, "b": 1.0}, rel=1e-15)


def test_removal_effects_match_the_hand_worked_chain_when_a_path_loops_back():
    paths = [(["a", "b", "a"], True), (["b"], False)]
    # transitions: start→a 1, start→b 1 (½ ½); a→b 1, a→conv 1 (½ ½); b→a 1, b→null 1 (½ ½)
    # x(a) = ½·x(b) + ½ and x(b) = ½·x(a) → x(a) = ¼·x(a) + ½ → x(a) = ⅔, x(b) = ⅓
    # P(conv) = ½·⅔ + ½·⅓ = ½
    # without a: conversion only follows a → P = 0 → RE(a) = 1
    # without b (a→b goes to null): x(a) = ½ → P = ½·½ = ¼ → RE(b) = 1 − ¼ ÷ ½ = ½
    assert removal_effects(paths) == pytest.approx({"a": 1.0, "b": 0.5}, rel=1e-15)


def test_removal_effects_are_zero_when_no_journey_converted():
    assert removal_effects([(["a", "b"], False), (["b"], False)]) == {"a": 0.0, "b": 0.0}


def test_removal_effects_are_empty_when_there_is_no_path():
    assert removal_effects([]) == {}


def test_removal_effects_skip_a_journey_when_it_has_no_channel():
    paths = [(["a", "b"], True), (["a"], False), (["b"], True)]
    assert removal_effects([*paths, ([], True), ([], False)]) == removal_effects(paths)


channel_lists = st.lists(st.sampled_from(["organic_search", "paid_search", "email", "direct", "social"]), min_size=1)
path_sets = st.lists(st.tuples(channel_lists.map(lambda c: c[:8]), st.booleans()), min_size=1, max_size=40).filter(
    lambda paths: any(converted for _, converted in paths)
)


@settings(max_examples=200, deadline=None)
@given(paths=path_sets, repeats=st.lists(st.integers(min_value=1, max_value=3), min_size=8, max_size=8))
def test_removal_effects_are_unchanged_when_a_channel_repeats_consecutively(paths, repeats):
    # ChannelAttribution merges a run of one channel into one visit; Touchline keeps repeats (self-loops).
    # A self-loop only delays leaving a state, so the exact removal effects are identical.
    stretched = [
        ([c for c, k in zip(channels, repeats, strict=False) for _ in range(k)], conv) for channels, conv in paths
    ]
    assert removal_effects(stretched) == removal_effects(paths)


# --- ChannelAttribution oracle ---


def as_data_frame(paths: Paths) -> pd.DataFrame:
    conversions, nulls = Counter(), Counter()
    for channels, converted in paths:
        (conversions if converted else nulls)[" > ".join(channels)] += 1
    keys = sorted(conversions.keys() | nulls.keys())
    return pd.DataFrame({"path": keys, "conv": [conversions[k] for k in keys], "null": [nulls[k] for k in keys]})


def oracle_exact(paths: Paths, *, flg_equal: bool) -> dict[str, float]:
    """Removal effects by definition, on the chain ChannelAttribution estimates, solved with numpy."""
    estimated = ChannelAttribution.transition_matrix(
        as_data_frame(paths), "path", "conv", "null", order=1, flg_equal=flg_equal, flg_pro=False
    )
    names = dict(zip(estimated["channels"].id_channel.astype(str), estimated["channels"].channel_name, strict=True))
    states = {"(start)": 0} | {channel_id: i for i, channel_id in enumerate(names, start=1)}
    q = np.zeros((len(states), len(states)))
    to_conversion = np.zeros(len(states))
    for source, target, probability in estimated["transition_matrix"].itertuples(index=False):
        if target == "(conversion)":
            to_conversion[states[source]] += probability
        elif target != "(null)":
            q[states[source], states[target]] += probability

    def p_conversion(removed: int | None) -> float:
        redirected = q.copy()
        if removed is not None:
            redirected[:, removed] = 0  # every transition into the removed channel now ends in (null)
        return np.linalg.solve(np.eye(len(states)) - redirected, to_conversion)[0]

    base = p_conversion(None)
    return {names[channel_id]: 1 - p_conversion(states[channel_id]) / base for channel_id in names}


def oracle_simulated(paths: Paths) -> dict[str, float]:
    """ChannelAttribution's own (Monte Carlo) removal effects: one fold of 10⁵ simulated walks, fixed seed."""
    result = ChannelAttribution.markov_model(
        as_data_frame(paths),
        "path",
        "conv",
        var_null="null",
        order=1,
        out_more=True,
        nsim_start=10**6,
        max_step=10_000,  # walks are cut (counted as null) after this many steps: make that negligible
        seed=11,
        verbose=False,
        flg_pro=False,
    )
    frame = result["removal_effects"]
    return dict(zip(frame.channel_name, frame.removal_effect, strict=True))


def assert_close(ours: dict[str, float], theirs: dict[str, float], *, rel: float, abs_: float = 0.0) -> None:
    assert ours.keys() == theirs.keys()
    for channel, value in ours.items():
        assert math.isclose(value, theirs[channel], rel_tol=rel, abs_tol=abs_), (channel, value, theirs[channel])


@settings(max_examples=150, deadline=None)
@given(paths=path_sets)
def test_removal_effects_equal_channelattributions_chain_solved_exactly_when_path_sets_are_random(paths):
    ours = removal_effects(paths)
    # abs_tol only for removal effects that are exactly 0 for us and ~1e-16 for numpy
    assert_close(ours, oracle_exact(paths, flg_equal=True), rel=1e-9, abs_=1e-12)
    # the chain markov_model simulates (runs merged, no self-loops) has the same removal effects
    assert_close(ours, oracle_exact(paths, flg_equal=False), rel=1e-9, abs_=1e-12)


SIMULATED_CASES = {
    "essential channel": [(["a", "b"], True), (["a"], False), (["b"], True), (["b"], False)],
    "loop": [(["a", "b", "a"], True), (["b"], False)],
    "repeats": [
        (["a", "a", "c"], True),
        (["a", "b"], True),
        (["a", "b"], False),
        (["b"], False),
        (["b"], False),
        (["c", "a"], True),
    ],
    "mixed": [
        (["search", "email", "direct"], True),
        (["search"], False),
        (["social", "search", "search"], False),
        (["email", "direct"], True),
        (["social", "email"], False),
        (["direct"], True),
        (["search", "social", "email", "search"], True),
        (["social"], False),
    ],
}


@pytest.mark.parametrize("paths", SIMULATED_CASES.values(), ids=SIMULATED_CASES.keys())
def test_removal_effects_agree_with_channelattributions_simulation_when_within_sampling_error(paths):
    # a fold has 10⁵ walks and at least a few 10⁴ conversions: a share's standard error is below 0.003,
    # so 0.015 is five standard errors
    assert_close(removal_effects(paths), oracle_simulated(paths), rel=0.0, abs_=0.015)
