"""The metric catalog: every number a report shows is defined here once — key, label, one-sentence
definition, unit and the SQL that computes it — and reports, column tooltips, the API's report list and
`docs/metrics.md` all read it (`python -m touchline.reports.metrics > docs/metrics.md` rewrites the doc;
a test fails when they differ).

Money is summed as integer minor units (cents) in the database: SQLite stores decimals as floating point,
and adding thousands of binary fractions is not exact, while adding integers is. `scale` says how many
decimal places the summed integer carries; `value()` turns it back into an exact Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import BigIntegerField, Count, F, Sum, Value
from django.db.models.expressions import Combinable
from django.db.models.functions import Cast, Coalesce, Round

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    definition: str
    unit: str  # "count" | "money"
    scale: int = 0  # decimal places of the integer the SQL returns

    def expression(self, prefix: str = "") -> Combinable:
        """The aggregate over rows of the model the report groups; `prefix` reaches it through a relation."""
        return EXPRESSIONS[self.key](prefix)

    def value(self, raw) -> int | Decimal:
        if self.unit == "count":
            return int(raw or 0)
        return (Decimal(int(raw or 0)).scaleb(-self.scale)).quantize(CENT, rounding=ROUND_HALF_UP)


def _cents(prefix: str):
    # ROUND before the cast: SQLite holds 19.99 as 19.989999…, which a bare cast would truncate to 1998.
    return Cast(Round(F(f"{prefix}amount") * 100), BigIntegerField())


EXPRESSIONS = {
    "deal_count": lambda p: Count(f"{p}id"),
    "deal_amount": lambda p: Coalesce(Sum(_cents(p)), Value(0), output_field=BigIntegerField()),
    "weighted_amount": lambda p: Coalesce(Sum(_cents(p) * F(f"{p}stage__probability")), Value(0),
                                          output_field=BigIntegerField()),
}

METRICS: dict[str, Metric] = {m.key: m for m in (
    Metric("deal_count", "Deals", "Number of deals, whatever their amount.", "count"),
    Metric("deal_amount", "Amount", "Sum of the deals' amounts in their currency; a deal without an amount adds "
           "nothing.", "money", scale=2),
    Metric("weighted_amount", "Weighted amount", "Sum of each deal's amount times the win probability of its "
           "current stage (closed won 100 %, closed lost 0 %), rounded to the cent once, after summing.",
           "money", scale=4),
)}


def metrics_markdown() -> str:
    lines = ["# Metrics", "",
             "Every number Touchline reports, defined once. Generated from `touchline/reports/metrics.py` by",
             "`python -m touchline.reports.metrics > docs/metrics.md`; a test keeps this page and the code in step.",
             "", "| key | label | unit | definition |", "|---|---|---|---|"]
    lines += [f"| `{m.key}` | {m.label} | {m.unit} | {m.definition} |" for m in METRICS.values()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(metrics_markdown(), end="")
