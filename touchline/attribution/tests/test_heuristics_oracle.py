"""The first, last and linear models against an independent implementation: ChannelAttribution's
`heuristic_models` (GPL-3: a dev/test dependency only, never the product's) on the same random journeys, compared
as per-channel totals of each journey's value."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from touchline.attribution.engine import Conversion, Positions, Touch, weights

pd = pytest.importorskip("pandas")
ChannelAttribution = pytest.importorskip("ChannelAttribution")

CHANNELS = ("organic_search", "paid_search", "email_marketing", "referrals", "direct", "sales_email")
START = datetime(2026, 1, 1, tzinfo=UTC)
COLUMNS = {"first_interaction": "first_touch_value", "last_interaction": "last_touch_value",
           "linear": "linear_touch_value"}


def journeys(seed: int, count: int = 300) -> list[tuple[list[str], int]]:
    rng = random.Random(seed)
    return [([rng.choice(CHANNELS) for _ in range(rng.randint(1, 10))], rng.randint(1, 5000)) for _ in range(count)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_first_last_and_linear_equal_channelattribution_per_channel_when_journeys_are_random(seed):
    data = journeys(seed)
    ours: dict[str, dict[str, Fraction]] = {model: defaultdict(Fraction) for model in COLUMNS}
    for path, value in data:
        touches = [Touch(i, START + timedelta(hours=i), channel) for i, channel in enumerate(path)]
        converted_at = touches[-1].at
        for model in COLUMNS:
            for key, weight in weights(model, touches, conversion=Conversion.CONTACT_CREATE,
                                       converted_at=converted_at, positions=Positions(converted_at)).items():
                ours[model][path[key]] += weight * value
    frame = pd.DataFrame({"path": [" > ".join(p) for p, _ in data], "conv": [1] * len(data),
                          "value": [float(v) for _, v in data]})
    theirs = ChannelAttribution.heuristic_models(frame, "path", "conv", var_value="value")
    for model, column in COLUMNS.items():
        expected = dict(zip(theirs["channel_name"], theirs[column], strict=True))
        assert set(expected) == set(ours[model]) | {c for c, v in expected.items() if v == 0}
        for channel, total in ours[model].items():
            assert float(total) == pytest.approx(expected[channel], rel=1e-9, abs=1e-6), (model, channel)
