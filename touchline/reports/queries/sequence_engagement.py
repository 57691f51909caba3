"""Sequence engagement reports (SPEC §1): the summary of the Performance and Analyze tabs, and the
per-sequence table of the Manage list and Analyze's "Sequence performance".

Both count contacts, not enrollments: one row per contact (per sequence, for the table) carries that
contact's flags over all its selected enrollments (`touchline.sequences.analytics`), and the outer query
sums them. Rates divide by enrolled contacts and are "—" when nobody is enrolled. Unless a company is chosen
(or, for the summary, several sequences), both read what the totals keep instead: the sums per sequence, user or
for the account when those are all the filter chooses, else the day parts — over every enrollment or one enrolling
user's, across sequences or per sequence, for any enrollment date range (all time included).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import F, QuerySet

from touchline.reports.metrics import SEQUENCE_COUNTS, SEQUENCE_RATES, rate_value
from touchline.reports.pipeline import Column, ReportResult, Sql, register
from touchline.reports.queries.sequence_common import (
    EngagementQuery,
    SequenceReport,
    dated,
    without_clicks,
)
from touchline.sequences.analytics import (
    EngagementFilter,
    contact_rollup_sql,
    day_counts_sql,
    enrollment_flags,
    totals_counts,
    totals_of,
)
from touchline.sequences.models import Sequence, TotalsGrain

COUNT_KEYS = tuple(m.key for m in SEQUENCE_COUNTS)
RATE_KEYS = tuple(m.key for m in SEQUENCE_RATES)
SUMS = ", ".join(f"COALESCE({m.sql}, 0) AS {m.key}" for m in SEQUENCE_COUNTS)


def _with_rates(counts: Mapping[str, int]) -> dict:
    row = {key: int(counts.get(key) or 0) for key in COUNT_KEYS}
    return row | {m.key: rate_value(m, row) for m in SEQUENCE_RATES}


@register
class SequenceSummary(SequenceReport):
    key = "sequence_summary"
    title = "Sequence summary"
    description = ("Enrolled contacts and their open, click, reply, meeting and no-response rates, for one sequence "
                   "(the Performance tab) or across sequences (Analyze: a contact in two sequences counts once).")

    def totals_answer(self, f: EngagementFilter) -> bool:
        # All sequences or one, of every user or one, in any date range: a grain of the totals or the day parts.
        # Several sequences together are not kept (a contact in two of them counts once), nor companies.
        return f.company_id is None and len(f.sequence_ids) <= 1

    def build(self, query: EngagementQuery) -> dict[str, QuerySet | Sql]:
        f = query.filter
        if query.use_totals and (dated(f) or f.enrolled_by_id is not None and f.sequence_ids):
            # One sequence's counts are its row of the per-sequence ones.
            sql, params = day_counts_sql(f, query.account.time_zone, per_sequence=bool(f.sequence_ids))
            return {"summary": Sql(sql, tuple(params))}
        if query.use_totals:
            if f.enrolled_by_id is not None:
                grain, key = TotalsGrain.USER, f.enrolled_by_id
            elif f.sequence_ids:
                grain, key = TotalsGrain.SEQUENCE, f.sequence_ids[0]
            else:
                grain, key = TotalsGrain.ACCOUNT, 0
            return {"summary": totals_of(f, grain).filter(grain_key=key).values(**totals_counts(f))}
        sql, params = contact_rollup_sql(enrollment_flags(f))
        return {"summary": Sql(f"SELECT {SUMS} FROM ({sql}) per_contact", tuple(params))}

    def shape(self, query: EngagementQuery, fetched) -> ReportResult:
        row = _with_rates((fetched["summary"] or [{}])[0])  # no totals row: nobody enrolled
        keys = without_clicks(("enrolled_contacts", *RATE_KEYS, *COUNT_KEYS[1:]), query.account)
        return ReportResult(
            report=self.key, title=self.title, params=query.echo,
            columns=tuple(Column.of_metric(k) for k in keys),
            rows=({k: row[k] for k in keys},), totals={},
            chart={"type": "bar", "label": "", "values": list(without_clicks(RATE_KEYS, query.account))})


@register
class SequencePerformance(SequenceReport):
    key = "sequence_performance"
    title = "Sequence performance"
    description = ("Per sequence: created, owner, enrolled contacts, and how many opened, clicked, replied and booked "
                   "a meeting, with their rates (the Manage list and Analyze's table).")

    def totals_answer(self, f: EngagementFilter) -> bool:
        return f.company_id is None

    def build(self, query: EngagementQuery) -> dict[str, QuerySet | Sql]:
        f = query.filter
        if query.use_totals and (dated(f) or f.enrolled_by_id is not None):
            sql, params = day_counts_sql(f, query.account.time_zone, per_sequence=True)
            per_sequence = Sql(sql, tuple(params))
        elif query.use_totals:
            per_sequence = totals_of(f, TotalsGrain.SEQUENCE).values(sequence_id=F("grain_key"), **totals_counts(f))
            if f.sequence_ids:
                per_sequence = per_sequence.filter(grain_key__in=f.sequence_ids)
        else:
            sql, params = contact_rollup_sql(enrollment_flags(f), group_by=("sequence_id",))
            per_sequence = Sql(f"SELECT sequence_id, {SUMS} FROM ({sql}) per_contact GROUP BY sequence_id",
                               tuple(params))
        sequences = Sequence.objects.filter(account=query.account, archived_at__isnull=True)
        if query.filter.sequence_ids:
            sequences = sequences.filter(pk__in=query.filter.sequence_ids)
        listed = sequences.order_by("name").values("id", "name", "created_at", "owner__first_name", "owner__last_name")
        return {"sequences": listed, "per_sequence": per_sequence}

    def shape(self, query: EngagementQuery, fetched) -> ReportResult:
        counts = {row["sequence_id"]: row for row in fetched["per_sequence"]}
        keys = without_clicks(("enrolled_contacts", "opened_contacts", "clicked_contacts", "replied_contacts",
                               "met_contacts", "open_rate", "click_rate", "reply_rate", "meeting_rate"),
                              query.account)
        rows = []
        for sequence in fetched["sequences"]:
            values = _with_rates(counts.get(sequence["id"], {}))
            owner = f"{sequence['owner__first_name'] or ''} {sequence['owner__last_name'] or ''}".strip()
            rows.append({"sequence": sequence["name"], "sequence_id": sequence["id"],
                         "created": sequence["created_at"].date().isoformat(), "owner": owner}
                        | {k: values[k] for k in keys})
        return ReportResult(
            report=self.key, title=self.title, params=query.echo,
            columns=(Column("sequence", "Sequence", "text"), Column("created", "Created", "text"),
                     Column("owner", "Owner", "text"), *(Column.of_metric(k) for k in keys)),
            rows=tuple(rows), totals={},
            chart={"type": "bar", "label": "sequence", "values": ["reply_rate", "meeting_rate"]})

