"""Which emails work: per template, and where enrollments stand per step (SPEC §1 "Email performance",
"Enrollment status by step", §4 "Sales content analytics").

Email performance counts messages, not contacts: sends are the messages sent with a template; opens, clicks
and replies are those messages opened, clicked or replied to at least once; meetings are meetings booked
while the message was its enrollment's latest one (the meeting event is recorded on that message). Shown as a
percentage of sends, or as counts. Across all sequences without other filters (sales content analytics) it reads
the account-wide totals' per-template counts instead of every sent message (`sequences.report_totals`), and with a
date range and/or an enrolling user the totals per template, enrollment day and user.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, Count, F, When

from touchline.reports.metrics import MESSAGE_COUNTS, MESSAGE_RATES, rate_value
from touchline.reports.pipeline import Column, Param, Report, ReportParamError, ReportResult, register
from touchline.reports.queries.sequence_common import (
    FILTER_PARAMS,
    EngagementQuery,
    SequenceReport,
    account_wide,
    engagement_filter_parse,
    without_clicks,
)
from touchline.sequences.analytics import (
    EngagementFilter,
    clicks_column,
    count_having,
    engagement_kind,
    enrollments_selected,
    opens_column,
    template_day_counts,
    totals_of,
)
from touchline.sequences.models import (
    EmailTemplate,
    Enrollment,
    EnrollmentStatus,
    MessageStatus,
    SentMessage,
    Step,
    TotalsGrain,
)
from touchline.sequences.report_totals import sequence_totals_refresh

COUNT_KEYS = tuple(m.key for m in MESSAGE_COUNTS)
RATE_KEYS = tuple(m.key for m in MESSAGE_RATES)


@dataclass(frozen=True)
class ContentQuery:
    account: object
    filter: EngagementFilter
    as_counts: bool
    echo: dict
    use_totals: bool = False  # every sequence, no other filter: the per-template totals answer it


@register
class EmailPerformance(Report):
    key = "email_performance"
    title = "Email performance"
    description = ("Per email template: sends, and how many of those messages were opened, clicked, replied to and "
                   "led to a meeting — for one sequence, or across all sequences (sales content analytics).")
    params = FILTER_PARAMS + (Param("show", "Show", "percent (of sends, default) or counts.", default="percent",
                                    choices=lambda account: [("percent", "% of sends"), ("counts", "Counts")]),)

    def parse(self, account, data, *, now):
        engagement_filter, echo = engagement_filter_parse(account, data, now=now)
        show = (data.get("show") or "percent").strip()
        if show not in ("percent", "counts"):
            raise ReportParamError({"show": "percent or counts."})
        # Across all sequences, unless a company is chosen: the per-template totals, or with a date range or a
        # user the per template, day and user totals (messages add up, so any range of days sums exactly).
        f = engagement_filter
        return ContentQuery(account, f, show == "counts", echo | {"show": show},
                            use_totals=f.company_id is None and not f.sequence_ids)

    def prepare(self, query: ContentQuery) -> None:
        if query.use_totals:
            sequence_totals_refresh(account=query.account)

    def build(self, query: ContentQuery):
        f = query.filter
        templates = EmailTemplate.objects.filter(account=query.account).values("id", "name", "subject")
        if query.use_totals and not account_wide(f):
            return {"per_template": template_day_counts(f, query.account.time_zone), "templates": templates}
        if query.use_totals:
            kind = engagement_kind(f)
            return {"per_template": totals_of(f, TotalsGrain.TEMPLATE).values(
                template_id=Case(When(grain_key=0, then=None), default=F("grain_key")),
                message_sends=F("messages_sent"), message_opens=F(f"messages_opened_{kind}"),
                message_clicks=F(f"messages_clicked_{kind}"), message_replies=F("messages_replied"),
                message_meetings=F("messages_met")), "templates": templates}
        messages = SentMessage.objects.filter(status=MessageStatus.SENT)
        if f.sequence_ids:
            # Implied by the enrollments, but it lets the database read only these sequences' steps' ranges of the
            # covering report index instead of every sent message.
            messages = messages.filter(step__in=Step.objects.filter(sequence_id__in=f.sequence_ids).values("pk"))
        if account_wide(f):
            # The sequences alone select every enrollment of theirs that is not scheduled: leaving out the few
            # scheduled ones is a small hashed list, where "among the selected" would look up each message's
            # enrollment row (PostgreSQL: 25,000 lookups, 200 ms of a 230 ms report).
            scheduled = Enrollment.objects.filter(account_id=f.account_id, status=EnrollmentStatus.SCHEDULED)
            if f.sequence_ids:
                scheduled = scheduled.filter(sequence_id__in=f.sequence_ids)
            messages = messages.exclude(enrollment__in=scheduled.values("pk"))
        else:
            messages = messages.filter(enrollment__in=enrollments_selected(f).values("pk"))
        # Each message's engagement rollup: opened, clicked, replied to, led to a meeting — once or more.
        per_template = messages.values("template_id").order_by("template_id").annotate(
            message_sends=Count("*"), message_opens=count_having(opens_column(f)),
            message_clicks=count_having(clicks_column(f)), message_replies=count_having("replies_received"),
            message_meetings=count_having("meetings_booked"))
        return {"per_template": per_template, "templates": templates}

    def shape(self, query: ContentQuery, fetched) -> ReportResult:
        names = {t["id"]: t for t in fetched["templates"]}
        shown = COUNT_KEYS if query.as_counts else ("message_sends", *RATE_KEYS)
        shown = without_clicks(shown, query.account)
        rows = []
        for counts in sorted(fetched["per_template"], key=lambda r: -r["message_sends"]):
            template = names.get(counts["template_id"], {"name": "(deleted template)", "subject": ""})
            values = {k: int(counts[k] or 0) for k in COUNT_KEYS}
            values |= {m.key: rate_value(m, values) for m in MESSAGE_RATES}
            rows.append({"template": template["name"], "template_id": counts["template_id"],
                         "subject": template["subject"]} | {k: values[k] for k in shown})
        return ReportResult(
            report=self.key, title=self.title, params=query.echo,
            columns=(Column("template", "Template", "text"), Column("subject", "Subject", "text"),
                     *(Column.of_metric(k) for k in shown)),
            rows=tuple(rows), totals={},
            chart={"type": "bar", "label": "template", "values": [k for k in shown if k != "message_sends"]})


STATUS_ORDER = [s.value for s in EnrollmentStatus if s != EnrollmentStatus.SCHEDULED]


@register
class EnrollmentStatusByStep(SequenceReport):
    key = "enrollment_status_by_step"
    title = "Enrollment status by step"
    description = ("Per step of a sequence: the enrollments whose current (last reached) step it is, by status — "
                   "a stacked bar; each segment lists its contacts on the sequence's Enrollments tab.")

    def parse(self, account, data, *, now):
        query = super().parse(account, data, now=now)
        if not query.filter.sequence_ids:
            raise ReportParamError({"sequence": "Choose a sequence: steps belong to one sequence."})
        return query

    def build(self, query: EngagementQuery):
        counts = (enrollments_selected(query.filter).values("current_step_id", "status").order_by()
                  .annotate(enrollments=Count("pk")))
        steps = Step.objects.filter(sequence_id__in=query.filter.sequence_ids).order_by("position").values(
            "id", "position", "step_type")
        return {"counts": counts, "steps": steps}

    def shape(self, query: EngagementQuery, fetched) -> ReportResult:
        by_step: dict[int, dict[str, int]] = {}
        for row in fetched["counts"]:
            by_step.setdefault(row["current_step_id"], {})[row["status"]] = row["enrollments"]
        labels = dict(EnrollmentStatus.choices)
        rows = []
        for step in fetched["steps"]:
            counts = by_step.get(step["id"], {})
            rows.append({"step": f"Step {step['position']}", "step_id": step["id"],
                         "step_type": step["step_type"]} | {status: counts.get(status, 0) for status in STATUS_ORDER})
        return ReportResult(
            report=self.key, title=self.title, params=query.echo,
            columns=(Column("step", "Step", "text"), Column("step_type", "Type", "text"),
                     *(Column(status, labels[status], "count") for status in STATUS_ORDER)),
            rows=tuple(rows), totals={},
            chart={"type": "bar", "stacked": True, "label": "step", "values": STATUS_ORDER})
