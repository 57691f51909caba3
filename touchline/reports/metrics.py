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

from django.db.models import BigIntegerField, Count, F, Q, Sum, Value
from django.db.models.expressions import Combinable
from django.db.models.functions import Cast, Coalesce, Round

CENT = Decimal("0.01")


PERCENT = Decimal("0.1")


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    definition: str
    unit: str  # "count" | "money" | "percent" | "decimal" (a fractional count, e.g. attributed conversions)
    scale: int = 0  # decimal places of the integer the SQL returns
    sql: str = ""  # for metrics aggregated over a report's own SQL (see sequence metrics)
    rate_of: tuple[str, str] = ()  # a percent metric: (numerator, denominator) metric keys
    mean_of: tuple[str, str] = ()  # an average: (summed metric, EXPRESSIONS key of the count it is divided by)

    def expression(self, prefix: str = "") -> Combinable:
        """The aggregate over rows of the model the report groups; `prefix` reaches it through a relation."""
        return EXPRESSIONS[self.key](prefix)

    def value(self, raw) -> int | Decimal:
        if self.unit == "count":
            return int(raw or 0)
        if self.unit == "percent":
            raise TypeError(f"{self.key} is a rate: use rate_value(counts)")
        if self.mean_of:
            raise TypeError(f"{self.key} is an average: use mean_value(raw)")
        return (Decimal(int(raw or 0)).scaleb(-self.scale)).quantize(CENT, rounding=ROUND_HALF_UP)


def _cents(prefix: str):
    # ROUND before the cast: SQLite holds 19.99 as 19.989999…, which a bare cast would truncate to 1998.
    return Cast(Round(F(f"{prefix}amount") * 100), BigIntegerField())


EXPRESSIONS = {
    "deal_count": lambda p: Count(f"{p}id"),
    "deal_amount": lambda p: Coalesce(Sum(_cents(p)), Value(0), output_field=BigIntegerField()),
    "weighted_amount": lambda p: Coalesce(Sum(_cents(p) * F(f"{p}stage__probability")), Value(0),
                                          output_field=BigIntegerField()),
    "_deals_with_amount": lambda p: Count(f"{p}amount"),  # the divisor of deal_average_amount
}

METRICS: dict[str, Metric] = {m.key: m for m in (
    Metric("deal_count", "Deals", "Number of deals, whatever their amount.", "count"),
    Metric("deal_amount", "Amount", "Sum of the deals' amounts in their currency; a deal without an amount adds "
           "nothing.", "money", scale=2),
    Metric("weighted_amount", "Weighted amount", "Sum of each deal's amount times the win probability of its "
           "current stage (closed won 100 %, closed lost 0 %), rounded to the cent once, after summing.",
           "money", scale=4),
    Metric("deal_average_amount", "Average amount", "Amount ÷ deals that have an amount, in their currency, "
           "rounded to the cent once, after dividing; deals without an amount are left out.", "money", scale=2,
           mean_of=("deal_amount", "_deals_with_amount")),
)}


def mean_value(metric: Metric, raw: dict) -> Decimal | None:
    """An average from the raw sum and count it divides (`raw` holds both under their keys), to the cent; None
    (shown "—") when there is nothing to average."""
    summed, count = (int(raw.get(key) or 0) for key in metric.mean_of)
    if count == 0:
        return None
    return (Decimal(summed).scaleb(-metric.scale) / count).quantize(CENT, rounding=ROUND_HALF_UP)


def rate_value(metric: Metric, counts: dict[str, int]) -> Decimal | None:
    """A percent metric from the counts it divides, to one decimal place; None (shown "—") when the
    denominator is zero."""
    numerator, denominator = (int(counts.get(key) or 0) for key in metric.rate_of)
    if denominator == 0:
        return None
    return (Decimal(100 * numerator) / Decimal(denominator)).quantize(PERCENT, rounding=ROUND_HALF_UP)


# Sequence engagement: counts over one row per enrolled contact (touchline.sequences.analytics), so a contact
# enrolled several times counts once and its events from all those enrollments count. Opens and clicks are
# human unless a report is asked to include machine events (privacy proxies, link scanners, bots).
SEQUENCE_COUNTS = (
    Metric("enrolled_contacts", "Enrolled", "Unique contacts enrolled; a contact enrolled several times counts once. "
           "Scheduled enrollments that have not started are not counted.", "count", sql="COUNT(*)"),
    Metric("opened_contacts", "Opened", "Enrolled contacts who opened any of the sequence's emails at least once.",
           "count", sql="SUM(opened)"),
    Metric("clicked_contacts", "Clicked", "Enrolled contacts who clicked a link in any of the sequence's emails at "
           "least once.", "count", sql="SUM(clicked)"),
    Metric("replied_contacts", "Replied", "Enrolled contacts who replied at least once: any email from the contact "
           "that ended the enrollment automatically, even one that was not a sequence email.", "count",
           sql="SUM(replied)"),
    Metric("met_contacts", "Meetings", "Enrolled contacts who booked a meeting while enrolled, including any meeting "
           "that ended the enrollment automatically.", "count", sql="SUM(met)"),
    Metric("no_response_contacts", "No response", "Enrolled contacts all of whose enrollments have ended (any final "
           "status) with neither a reply nor a meeting; contacts still in progress are not counted.", "count",
           sql="SUM(no_response)"),
)
SEQUENCE_RATES = (
    Metric("open_rate", "Open rate", "Opened ÷ Enrolled.", "percent", rate_of=("opened_contacts", "enrolled_contacts")),
    Metric("click_rate", "Click rate", "Clicked ÷ Enrolled.", "percent",
           rate_of=("clicked_contacts", "enrolled_contacts")),
    Metric("reply_rate", "Reply rate", "Replied ÷ Enrolled.", "percent",
           rate_of=("replied_contacts", "enrolled_contacts")),
    Metric("meeting_rate", "Meeting rate", "Meetings ÷ Enrolled.", "percent",
           rate_of=("met_contacts", "enrolled_contacts")),
    Metric("no_response_rate", "No response", "No response ÷ Enrolled.", "percent",
           rate_of=("no_response_contacts", "enrolled_contacts")),
)
# Email performance counts messages, not contacts (SPEC §1): per template, of the messages sent with it.
MESSAGE_COUNTS = (
    Metric("message_sends", "Sends", "Messages sent with the template.", "count"),
    Metric("message_opens", "Opens", "Sent messages opened at least once (human opens unless machine opens are "
           "included).", "count"),
    Metric("message_clicks", "Clicks", "Sent messages with at least one click on a link.", "count"),
    Metric("message_replies", "Replies", "Sent messages the contact replied to.", "count"),
    Metric("message_meetings", "Meetings", "Meetings booked while the message was its enrollment's latest sent one.",
           "count"),
)
MESSAGE_RATES = (
    Metric("message_open_rate", "Open rate", "Opens ÷ Sends.", "percent", rate_of=("message_opens", "message_sends")),
    Metric("message_click_rate", "Click rate", "Clicks ÷ Sends.", "percent",
           rate_of=("message_clicks", "message_sends")),
    Metric("message_reply_rate", "Reply rate", "Replies ÷ Sends.", "percent",
           rate_of=("message_replies", "message_sends")),
    Metric("message_meeting_rate", "Meeting rate", "Meetings ÷ Sends.", "percent",
           rate_of=("message_meetings", "message_sends")),
)
# The sender score (SPEC §1 library): per enrolling user, over their ended enrollments.
SENDER_RATES = (
    Metric("sender_reply_rate", "Reply rate", "Ended enrollments that ended by a reply ÷ ended enrollments "
           "(good: 7–13 %).", "percent", rate_of=("replied", "ended")),
    Metric("sender_bounce_rate", "Bounce rate", "Ended enrollments that ended by a bounce ÷ ended enrollments "
           "(good: under 3 %).", "percent", rate_of=("bounced", "ended")),
)
METRICS |= {m.key: m for m in SEQUENCE_COUNTS + SEQUENCE_RATES + MESSAGE_COUNTS + MESSAGE_RATES + SENDER_RATES}
# Campaign metrics (SPEC §2 Performance tab, §3 Campaign crediting); computed by campaigns/analytics.py.
CAMPAIGN_COUNTS = (
    Metric("campaign_sessions", "Sessions", "Sessions that landed with the campaign's utm_campaign or viewed a page "
           "associated with the campaign after its association; counted in the range by session start.", "count"),
    Metric("campaign_new_contacts", "New contacts", "Contacts created in the range whose first session (first "
           "touch) — or whose last interaction at or before creation (last touch) — belongs to the campaign.",
           "count"),
    Metric("campaign_influenced_contacts", "Influenced contacts", "Unique contacts, new or existing, who interacted "
           "with a campaign asset after its association or had a campaign session; with a range, counted when "
           "first influenced inside it.", "count"),
    Metric("page_views", "Views", "Page views (each one, repeats included).", "count"),
    Metric("new_visitor_sessions", "New visitor sessions", "Sessions that were their visitor's first session.",
           "count"),
    Metric("first_touch_contacts", "Contacts (first touch)", "Identified contacts whose first session is one of "
           "the sessions counted.", "count"),
    Metric("form_submissions", "Submissions", "Form submissions, resubmissions of the same id counted once.",
           "count"),
    Metric("form_new_contacts", "New contacts", "Contacts created by a submission of the form.", "count"),
)
METRICS |= {m.key: m for m in CAMPAIGN_COUNTS}
# The custom report builder's sources (touchline/reports/queries/custom.py): one count per source, a few sums. Each
# expression aggregates rows of its source's model (contacts, companies, enrollments, events, sessions,
# interactions, attribution credits); enrolled_contacts, page_views and new_visitor_sessions above are reused
# over enrollments and sessions with the same meaning.
BUILDER_METRICS = (
    Metric("contact_count", "Contacts", "Number of contacts.", "count"),
    Metric("company_count", "Companies", "Number of companies.", "count"),
    Metric("enrollment_count", "Enrollments", "Number of enrollments, scheduled ones that have not started left out; "
           "a contact enrolled twice counts twice.", "count"),
    Metric("event_count", "Events", "Engagement events in the sequence log (sends, opens, clicks, replies, …); "
           "machine opens and clicks only when included.", "count"),
    Metric("event_contacts", "Contacts with events", "Unique contacts with at least one of the events counted.",
           "count"),
    Metric("session_count", "Sessions", "Website sessions, counted by session start.", "count"),
    Metric("interaction_count", "Interactions", "Interactions in the attribution log (page views, form "
           "submissions, sequence clicks and replies, meetings).", "count"),
    Metric("interaction_contacts", "Contacts with interactions", "Unique identified contacts with at least one of "
           "the interactions counted.", "count"),
    Metric("credited_conversions", "Attributed conversions", "Sum of the credit weights under one model and "
           "lookback window: each conversion adds exactly 1, split over its interactions.", "decimal", scale=9),
    Metric("attributed_revenue", "Attributed revenue", "Sum of the revenue credits (closed-won amounts split over "
           "their interactions) in the deal's currency, summed in cents.", "money", scale=2),
)
METRICS |= {m.key: m for m in BUILDER_METRICS}
EXPRESSIONS |= {
    "contact_count": lambda p: Count(f"{p}id"),
    "company_count": lambda p: Count(f"{p}id"),
    "enrollment_count": lambda p: Count(f"{p}id"),
    "enrolled_contacts": lambda p: Count(f"{p}contact_id", distinct=True),  # over enrollments
    "event_count": lambda p: Count(f"{p}id"),
    "event_contacts": lambda p: Count(f"{p}contact_id", distinct=True),
    "session_count": lambda p: Count(f"{p}id"),
    "page_views": lambda p: Coalesce(Sum(f"{p}page_views"), Value(0)),  # over sessions: their page-view counts
    "new_visitor_sessions": lambda p: Count(f"{p}id", filter=Q(**{f"{p}is_first": True})),
    "interaction_count": lambda p: Count(f"{p}id"),
    "interaction_contacts": lambda p: Count(f"{p}contact_id", distinct=True),
    "credited_conversions": lambda p: Coalesce(Sum(f"{p}weight_nano"), Value(0), output_field=BigIntegerField()),
    "attributed_revenue": lambda p: Coalesce(Sum(f"{p}amount_cents"), Value(0), output_field=BigIntegerField()),
}
CLICK_METRICS = frozenset({"clicked_contacts", "click_rate", "message_clicks", "message_click_rate"})


def metrics_markdown() -> str:
    lines = ["# Metrics", "",
             "Every number Touchline reports, defined once. Generated from `touchline/reports/metrics.py` by",
             "`python -m touchline.reports.metrics > docs/metrics.md`; a test keeps this page and the code in step.",
             "", "| key | label | unit | definition |", "|---|---|---|---|"]
    lines += [f"| `{m.key}` | {m.label} | {m.unit} | {m.definition} |" for m in METRICS.values()]
    return "\n".join(lines) + "\n" + INTERPRETATIONS


# Where SPEC §1 leaves room, what Touchline decided and why (kept here so the doc is generated in one piece).
INTERPRETATIONS = """
## Decisions where the spec leaves room

- **Contacts, not enrollments.** Sequence rates divide contacts by contacts: a contact enrolled several times in the
  selection counts once, and opened/clicked/replied/met if any of its enrollments did.
- **No response** counts a contact only when *all* its selected enrollments have ended and none had a reply or a
  meeting. A contact with one ended and one running enrollment is still in progress.
- **A colleague's reply** (the sequence setting "unenroll contacts of the same company") ends the colleague's
  enrollments as `unenrolled`, so it is not counted as their reply; reply and meeting rates count people who replied
  or booked.
- **Meetings per template** belong to the message that was the enrollment's latest sent one when the meeting was
  booked (the meeting event is recorded on it).
- **Human by default.** Opens and clicks by Apple's privacy proxy, link scanners, prefetching and bots are recorded
  but counted only with "include machine" (`machine=1`). A human click with no human open records an open, so
  clicked ⊆ opened in both views (docs/tracking.md).
- **Scheduled enrollments** that have not started are in no report.
- **Rates** are shown to one decimal place, rounded half up; a zero denominator shows "—" (JSON `null`).
- **Sender score** lists users with at least 100 ended enrollments; "good" means a reply rate of 7–13 % and a bounce
  rate under 3 %, both over ended enrollments.
- **Highly engaged contacts** are ranked by 5 points per reply or meeting, 2 per human click and 1 per human open,
  ties broken by the latest event (a contact with no recorded event time after those with one, on both databases),
  then by contact id; the top 50 are listed.
- **Enrollments by month** uses the enrollment date in the account's time zone and counts enrollments (a contact
  enrolled twice in a month counts twice there; "Contacts enrolled" counts them once).
- **Deals by stage** never adds amounts across currencies; the weighted amount is rounded once, after summing.
- **Custom reports** use these same metrics over their data source: a money metric adds the currency to the
  grouping and its total is left out when the rows are in several currencies; totals are computed without the
  dimensions (a contact in two rows counts once in the total of a unique count); attribution credits are summed
  within one lookback window, one conversion kind and one model unless the model is a dimension.
"""


if __name__ == "__main__":
    print(metrics_markdown(), end="")
