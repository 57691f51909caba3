"""The sequence library reports (SPEC §1): enrollments and engagement by enrollment month, the sender score
of each enrolling user, and Analyze's highly engaged contacts.

Highly engaged contacts are ranked by an engagement score over their selected enrollments, documented in
docs/metrics.md: 5 per reply, 5 per meeting, 2 per (human) click, 1 per (human) open; ties go to the contact
with the latest event. The top 50 are listed.

Without a sequence, company, user or date filter the three read the account-wide totals
(`touchline.sequences.report_totals`): per enrollment month, per enrolling user, and each contact's ranked
part, so they do not scan every enrollment of the account. Both ways give the same result (tested).
"""

from __future__ import annotations

import itertools
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db.models import Case, Count, DateTimeField, F, Max, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce

from touchline.reports.metrics import METRICS, rate_value
from touchline.reports.pipeline import Column, ReportResult, Then, register
from touchline.reports.queries.sequence_common import (
    EngagementQuery,
    SequenceReport,
    account_wide,
    dated,
    without_clicks,
)
from touchline.sequences.analytics import (
    NO_EVENT,
    EngagementFilter,
    clicks_column,
    count_having,
    engagement_kind,
    enrollments_selected,
    opens_column,
    top_contacts_in_range,
    totals_of,
    totals_top_contacts,
)
from touchline.sequences.models import (
    RUNNING_STATUSES,
    Enrollment,
    EnrollmentStatus,
    MessageStatus,
    SentMessage,
    Step,
    TotalsGrain,
)
from touchline.sequences.report_totals import SCORE_WEIGHTS, month_starts

REPLY_RATE, BOUNCE_RATE = METRICS["sender_reply_rate"], METRICS["sender_bounce_rate"]
SENDER_SCORE_MIN_ENDED = 100  # SPEC §1: users with at least 100 ended enrollments
TOP_CONTACTS = 50


def _month_label(row: dict) -> str:
    """'YYYY-MM' of a fetched row: the scan's label, or the totals' key (year * 100 + month)."""
    if "grain_key" in row:
        return f"{row['grain_key'] // 100:04d}-{row['grain_key'] % 100:02d}"
    return row["month"]


@register
class EnrollmentsByMonth(SequenceReport):
    key = "sequence_enrollments_by_month"
    title = "Sequence enrollments, opens and clicks by month"
    description = ("Per enrollment month: enrollments and contacts enrolled, and how many of those enrollments "
                   "opened, clicked, replied, booked a meeting or were unenrolled.")

    def totals_answer(self, f: EngagementFilter) -> bool:
        return account_wide(f) and not f.sequence_ids

    def build(self, query: EngagementQuery):
        f = query.filter
        if query.use_totals:
            kind = engagement_kind(f)
            return {"months": totals_of(f, TotalsGrain.MONTH).order_by("grain_key").values(
                "grain_key", "enrollments", "contacts", opened=F(f"enrollments_opened_{kind}"),
                clicked=F(f"enrollments_clicked_{kind}"), replied=F("enrollments_replied"),
                met=F("enrollments_met"), unenrolled=F("enrollments_unenrolled"))}
        zone = ZoneInfo(query.account.time_zone)
        # The month of each enrollment is a CASE over the local month starts between the account's first and
        # last enrollment (the ends of the by-date report index): plain comparisons, where truncating every
        # row's timestamp in the time zone costs SQLite a Python function call per enrollment.
        span = Enrollment.objects.filter(account_id=f.account_id).values_list("enrolled_at", flat=True)

        def months(fetched):
            if not fetched["first"]:
                return Enrollment.objects.none().values("pk")
            starts = month_starts(fetched["first"][0], fetched["last"][0], zone)
            month = Case(*(When(enrolled_at__lt=end, then=Value(start.strftime("%Y-%m")))
                           for start, end in itertools.pairwise(starts)), default=Value(""))
            return enrollments_selected(f).annotate(month=month).values("month").order_by("month").annotate(
                enrollments=Count("pk"), contacts=Count("contact_id", distinct=True),
                opened=count_having(opens_column(f)), clicked=count_having(clicks_column(f)),
                replied=count_having("replies_received"), met=count_having("meetings_booked"),
                unenrolled=Count("pk", filter=Q(status=EnrollmentStatus.UNENROLLED)))

        return {"first": span.order_by("enrolled_at")[:1], "last": span.order_by("-enrolled_at")[:1],
                "months": Then(months)}

    def shape(self, query: EngagementQuery, fetched) -> ReportResult:
        keys = without_clicks(("enrollments", "contacts", "opened", "clicked", "replied", "met", "unenrolled"),
                              query.account)
        labels = {"enrollments": "Enrollments", "contacts": "Contacts enrolled", "opened": "Opened",
                  "clicked": "Clicked", "replied": "Replied", "met": "Meetings", "unenrolled": "Unenrolled"}
        rows = tuple({"month": _month_label(row)} | {k: int(row[k] or 0) for k in keys}
                     for row in fetched["months"])
        return ReportResult(
            report=self.key, title=self.title, params=query.echo,
            columns=(Column("month", "Enrollment month", "text"), *(Column(k, labels[k], "count") for k in keys)),
            rows=rows, totals={}, chart={"type": "bar", "label": "month", "values": list(keys[2:])})


@register
class SenderScore(SequenceReport):
    key = "sequence_sender_score"
    title = "Sender score"
    description = (f"Per enrolling user with at least {SENDER_SCORE_MIN_ENDED} ended enrollments: ended enrollments, "
                   "reply rate and bounce rate (good: replies 7–13 %, bounces under 3 %).")

    def totals_answer(self, f: EngagementFilter) -> bool:
        return account_wide(f) and not f.sequence_ids

    def build(self, query: EngagementQuery):
        names = Then(lambda fetched: get_user_model().objects.filter(
            pk__in=[row["enrolled_by_id"] for row in fetched["users"]]).values(
            "id", "first_name", "last_name", "username"))
        if query.use_totals:  # key 0 is enrollments without a user (deleted since)
            return {"users": totals_of(query.filter, TotalsGrain.USER).filter(
                ended__gte=SENDER_SCORE_MIN_ENDED).order_by("grain_key").values(
                "ended", enrolled_by_id=Case(When(grain_key=0, then=None), default=F("grain_key")),
                replied=F("ended_replied"), bounced=F("ended_bounced")), "names": names}
        ended = enrollments_selected(query.filter).exclude(status__in=RUNNING_STATUSES)
        # Grouped by the user's id alone (from the report index), the names read afterwards for the few users.
        return {"users": ended.values("enrolled_by_id").order_by("enrolled_by_id").annotate(
            ended=Count("pk"), replied=Count("pk", filter=Q(status=EnrollmentStatus.REPLIED)),
            bounced=Count("pk", filter=Q(status=EnrollmentStatus.BOUNCED))).filter(
            ended__gte=SENDER_SCORE_MIN_ENDED), "names": names}

    def shape(self, query: EngagementQuery, fetched) -> ReportResult:
        rows = []
        users = {user["id"]: user for user in fetched["names"]}
        # By user id, enrollments without a user last: one order on both databases (they sort NULL apart).
        for row in sorted(fetched["users"], key=lambda row: (row["enrolled_by_id"] is None,
                                                             row["enrolled_by_id"] or 0)):
            user = users.get(row["enrolled_by_id"], {})
            name = f"{user.get('first_name') or ''} {user.get('last_name') or ''}".strip()
            reply_rate = rate_value(REPLY_RATE, row)
            bounce_rate = rate_value(BOUNCE_RATE, row)
            rows.append({"user": name or user.get("username") or "(deleted user)", "ended": row["ended"],
                         "reply_rate": reply_rate, "bounce_rate": bounce_rate,
                         "verdict": "good" if 7 <= reply_rate <= 13 and bounce_rate < 3 else "needs attention"})
        return ReportResult(
            report=self.key, title=self.title, params=query.echo,
            columns=(Column("user", "Enrolled by", "text"), Column("ended", "Ended enrollments", "count"),
                     Column("reply_rate", REPLY_RATE.label, "percent", REPLY_RATE.definition),
                     Column("bounce_rate", BOUNCE_RATE.label, "percent", BOUNCE_RATE.definition),
                     Column("verdict", "Score", "text")),
            rows=tuple(rows), totals={}, chart={"type": "bar", "label": "user", "values": ["reply_rate",
                                                                                           "bounce_rate"]})


@register
class HighlyEngagedContacts(SequenceReport):
    key = "highly_engaged_contacts"
    title = "Highly engaged contacts"
    description = ("The contacts who engaged most with the selected sequences: 5 points a reply or meeting, 2 a "
                   "click, 1 an open; with company, sequence status, last and next step, emails sent, opens, clicks.")

    def totals_answer(self, f: EngagementFilter) -> bool:
        # All sequences, of every user or one, in any date range: the ranked parts of the totals or day parts.
        return f.company_id is None and not f.sequence_ids

    def build(self, query: EngagementQuery):
        f = query.filter
        selected = enrollments_selected(f)
        # Per contact, the engagement rollup of its selected enrollments: event counts and the latest event
        # (NO_EVENT without one). Account-wide or of one user: each contact's part of the totals, already summed
        # and ranked by an index; over a date range: the range's rows of the contacts met walking the day parts'
        # ranking.
        per_contact = (selected.values("contact_id").order_by().annotate(
            opens=Sum(opens_column(f)), clicks=Sum(clicks_column(f)), replies=Sum("replies_received"),
            meetings=Sum("meetings_booked"),
            last_event=Coalesce(Max("last_event_at"), Value(NO_EVENT, output_field=DateTimeField())))
            .annotate(score=sum((F(name) * weight for name, weight in SCORE_WEIGHTS.items()), Value(0)))
            .filter(score__gt=0))
        scan = per_contact.order_by("-score", "-last_event", "contact_id")[:TOP_CONTACTS]
        if query.use_totals and dated(f):
            def walked_or_scanned(fetched) -> list[dict] | QuerySet:
                found = top_contacts_in_range(f, query.account.time_zone,
                                              lambda ids: per_contact.filter(contact_id__in=ids), TOP_CONTACTS)
                return scan if found is None else found

            top = Then(walked_or_scanned)
        elif query.use_totals:
            top = totals_top_contacts(f)[:TOP_CONTACTS]
        else:
            top = scan
        # Details are read for the top contacts only, once the ranking is known.
        def ids(fetched) -> list[int]:
            return [row["contact_id"] for row in fetched["top"]]

        return {
            "top": top,
            "enrollments": Then(lambda fetched: selected.filter(contact_id__in=ids(fetched)).select_related(
                "contact__company", "sequence", "current_step").order_by("contact_id", "-enrolled_at", "-id")),
            # The top contacts' selected enrollments, not all selected ones: an IN list of 50 contacts' rows.
            "sent": Then(lambda fetched: SentMessage.objects.filter(
                enrollment__in=selected.filter(contact_id__in=ids(fetched)).values("pk"),
                status=MessageStatus.SENT).values("enrollment__contact_id").order_by().annotate(n=Count("pk"))),
            "steps": Then(lambda fetched: Step.objects.filter(
                sequence_id__in={e.sequence_id for e in fetched["enrollments"]})),
        }

    def shape(self, query: EngagementQuery, fetched) -> ReportResult:
        top = fetched["top"]
        latest: dict[int, Enrollment] = {}
        for enrollment in fetched["enrollments"]:
            latest.setdefault(enrollment.contact_id, enrollment)
        sent = {row["enrollment__contact_id"]: row["n"] for row in fetched["sent"]}
        next_steps = {(s.sequence_id, s.position): s for s in fetched["steps"]}
        rows = []
        for row in top:
            enrollment: Enrollment = latest[row["contact_id"]]
            contact, step = enrollment.contact, enrollment.current_step
            following = next_steps.get((enrollment.sequence_id, step.position + 1)) if enrollment.is_running else None
            rows.append({
                "contact": str(contact), "contact_id": contact.pk,
                "company": contact.company.name if contact.company else "", "company_id": contact.company_id,
                "sequence": enrollment.sequence.name, "sequence_id": enrollment.sequence_id,
                "status": enrollment.get_status_display(), "last_step": f"Step {step.position}",
                "next_step": f"Step {following.position}" if following else "",
                "emails_sent": sent.get(contact.pk, 0), "opens": row["opens"], "clicks": row["clicks"],
                "replies": row["replies"], "meetings": row["meetings"], "score": row["score"]})
        keys = without_clicks(("emails_sent", "opens", "clicks", "replies", "meetings", "score"), query.account)
        labels = {"emails_sent": "Emails sent", "opens": "Opens", "clicks": "Clicks", "replies": "Replies",
                  "meetings": "Meetings", "score": "Engagement score"}
        if not query.account.has_click_metrics:
            rows = [{k: v for k, v in r.items() if k != "clicks"} for r in rows]
        return ReportResult(
            report=self.key, title=self.title, params=query.echo,
            columns=(Column("contact", "Contact", "text"), Column("company", "Company", "text"),
                     Column("sequence", "Sequence", "text"), Column("status", "Sequence status", "text"),
                     Column("last_step", "Last step", "text"), Column("next_step", "Next step", "text"),
                     *(Column(k, labels[k], "count") for k in keys)),
            rows=tuple(rows), totals={}, chart={"type": "bar", "label": "contact", "values": ["score"]})
