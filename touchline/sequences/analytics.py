"""The read side of sequence analytics (SPEC §1 "Reports"): which enrollments a report looks at, and what
each of them did. Every sequence report is built from these pieces, in SQL.

- `EngagementFilter` selects enrollments: by sequence, the contact's company at enrollment, the enrolling
  user and the enrollment date. Scheduled enrollments that have not started are never counted.
- What an enrollment (or a sent message) did is its engagement rollup (`touchline.sequences.engagement`): counts
  of its opens and clicks — human only, and with machine events — replies and meetings, kept with the log.
  "Opened" is one open or more: `human_opens > 0`, or `all_opens > 0` when the filter includes machine events;
  likewise clicked, replied (`replies_received > 0`) and met (`meetings_booked > 0`). The rollup columns and
  every filter column are in the enrollment's two report indexes, so these queries read an index, never the log.
- Rates are over enrolled *contacts*: a contact enrolled several times counts once, and its events from all
  those enrollments count (`contact_rollup_sql` groups the flags by contact).
- When a report filters nothing but its sequences it reads the account-wide totals instead
  (`touchline.sequences.report_totals`): the same numbers, kept per contact and summed per sequence, month and
  user, so it does not scan every enrollment. `totals_of`, `totals_counts` and `totals_top_contacts` read them.
  Filtered by enrollment date, or by a user per sequence, they read the day parts kept with the totals instead
  (`day_counts_sql`): over every enrollment, or over one enrolling user's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Sum, Value, When

from touchline.core.db import local_day_number, serial_plans
from touchline.core.timeframes import Timeframe
from touchline.sequences.models import (
    DAY_NEVER,
    DAY_NONE,
    NO_EVENT,
    RUNNING_STATUSES,
    ContactDayPart,
    ContactTotalsPart,
    DayPriorTotal,
    Enrollment,
    EnrollmentStatus,
    Sequence,
    SequenceDayTotal,
    SequenceReportTotal,
    TemplateDayTotal,
    TotalsGrain,
)

ALL_TIME = Timeframe("all_time", "All time", None, None)


@dataclass(frozen=True)
class EngagementFilter:
    account_id: int
    sequence_ids: tuple[int, ...] = ()
    company_id: int | None = None
    enrolled_by_id: int | None = None
    enrolled: Timeframe = ALL_TIME
    include_machine: bool = False  # count opens and clicks of proxies, scanners and bots too


def enrollments_selected(f: EngagementFilter) -> QuerySet[Enrollment]:
    qs = Enrollment.objects.filter(account_id=f.account_id).exclude(status=EnrollmentStatus.SCHEDULED)
    if f.sequence_ids:
        qs = qs.filter(sequence_id__in=f.sequence_ids)
    if f.company_id is not None:
        qs = qs.filter(company_at_enrollment_id=f.company_id)
    if f.enrolled_by_id is not None:
        qs = qs.filter(enrolled_by_id=f.enrolled_by_id)
    if f.enrolled.start is not None:
        qs = qs.filter(enrolled_at__gte=f.enrolled.start)
    if f.enrolled.end is not None:
        qs = qs.filter(enrolled_at__lt=f.enrolled.end)
    return qs


def opens_column(f: EngagementFilter) -> str:
    """The rollup column of opens a report counts: human ones, or all with machine events included."""
    return "all_opens" if f.include_machine else "human_opens"


def clicks_column(f: EngagementFilter) -> str:
    return "all_clicks" if f.include_machine else "human_clicks"


def positive(column: str) -> Case:
    """1 when the row's rollup `column` counts one event or more, else 0: whether it opened, clicked, …"""
    return Case(When(**{f"{column}__gt": 0}, then=Value(1)), default=Value(0), output_field=IntegerField())


def count_having(column: str) -> Sum:
    """In a grouped query: how many rows of the group have one event or more in rollup `column`."""
    return Sum(positive(column))


def enrollment_flags(f: EngagementFilter) -> QuerySet[Enrollment]:
    """Selected enrollments with 0/1 columns opened, clicked, replied, met, running."""
    return enrollments_selected(f).annotate(
        opened=positive(opens_column(f)), clicked=positive(clicks_column(f)), replied=positive("replies_received"),
        met=positive("meetings_booked"),
        running=Case(When(status__in=RUNNING_STATUSES, then=Value(1)), default=Value(0), output_field=IntegerField()))


def contact_rollup_sql(flags: QuerySet[Enrollment], group_by: tuple[str, ...] = ()) -> tuple[str, list]:
    """SQL of one row per contact (per `group_by` columns too, e.g. sequence_id) with the contact's flags over
    all its selected enrollments: opened/clicked/replied/met if any enrollment did; `no_response` when every
    enrollment has ended and none had a reply or meeting."""
    columns = ("contact_id", *group_by)
    inner, params = flags.values(*columns, "opened", "clicked", "replied", "met", "running").query.sql_with_params()
    keys = ", ".join(columns)
    sql = (f"SELECT {keys}, MAX(opened) AS opened, MAX(clicked) AS clicked, MAX(replied) AS replied, "
           f"MAX(met) AS met, CASE WHEN MAX(running) = 0 AND MAX(replied) = 0 AND MAX(met) = 0 THEN 1 ELSE 0 END "
           f"AS no_response FROM ({inner}) enrollment_flags GROUP BY {keys}")
    return sql, list(params)


def enrollments_at_step(f: EngagementFilter, *, step_id: int, status: str) -> QuerySet[Enrollment]:
    """The enrollments behind one segment of "Enrollment status by step": current step and status."""
    return (enrollments_selected(f).filter(current_step_id=step_id, status=status)
            .select_related("contact", "company_at_enrollment", "sequence").order_by("-enrolled_at"))


def totals_of(f: EngagementFilter, grain: TotalsGrain) -> QuerySet[SequenceReportTotal]:
    """The account's totals of one grain (a row per sequence, month or user; one row for ACCOUNT)."""
    return SequenceReportTotal.objects.filter(account_id=f.account_id, grain=grain, contacts__gt=0)


def engagement_kind(f: EngagementFilter) -> str:
    """Which of the totals' opened/clicked columns the filter counts: `human`, or `all` with machine events."""
    return "all" if f.include_machine else "human"


def totals_counts(f: EngagementFilter) -> dict[str, F]:
    """The SEQUENCE_COUNTS metrics (enrolled_contacts, opened_contacts, …) as columns of a totals row."""
    kind = engagement_kind(f)
    return {"enrolled_contacts": F("contacts"), "opened_contacts": F(f"contacts_opened_{kind}"),
            "clicked_contacts": F(f"contacts_clicked_{kind}"), "replied_contacts": F("contacts_replied"),
            "met_contacts": F("contacts_met"), "no_response_contacts": F("contacts_no_response")}


RANK_BATCH = 1000  # ranked rows read per step of `top_contacts_in_range`
# A step of the walk (reading RANK_BATCH ranked rows, scoring the few contacts among them that need it) costs
# about as much as the scan reading this many of the range's rows, or less: at 2 M enrollments on SQLite, 10-30 ms
# a step (the deeper into the ranking, the fewer of its rows are in the range) against 1.6 µs a row.
RANK_STEP_ROWS = 20_000


def rank_steps(scanned_rows: int) -> int:
    """How many steps the walk may take before giving up to a scan of `scanned_rows` rows: as many as cost less
    than the scan (none for a range of fewer rows than one step costs)."""
    return scanned_rows // RANK_STEP_ROWS


def rank_key(row: dict) -> tuple[int, int, int]:
    """Python's order of the ranking (score, then latest event, highest first; then contact id)."""
    return -row["score"], -((row["last_event"] - NO_EVENT) // timedelta(microseconds=1)), row["contact_id"]


def top_contacts_in_range(f: EngagementFilter, time_zone: str, per_contact: Callable[[list[int]], QuerySet],
                          limit: int) -> list[dict] | None:
    """The top `limit` contacts by engagement over the enrollments of `f`'s date range (all sequences), found by
    walking a ranking of the day parts instead of grouping the whole range by contact. `per_contact(ids)` gives
    those contacts' ranking rows over the range, as the scan computes them.

    Exact: a contact's first day part in the range [a, b) (its only one there with `enrolled_prior < a`) holds
    its score and latest event from day a on, which bound its score and latest event in the range — and are
    them when it has no row from day b on. When its next day is b or later, its score and latest event on that
    day are them. The walk reads those rows in the order of that bound (the ranking index), RANK_BATCH at a time;
    the other contacts (several days in the range, and rows after it) are scored over the range. It stops once
    the `limit`-th best ranks ahead of the last row read: no contact after it can enter. Returns None when the walk
    has not stopped within the steps that cost less than the scan (`rank_steps`; none for a range of few rows):
    the caller scans. The scan reads every user's enrollments in the range (the by-date index), so that is the
    rows it is costed by, with a user filter too."""
    first, after_last = day_range(f, time_zone)
    every_user = dataclasses.replace(f, enrolled_by_id=None)
    best: list[dict] = []
    last_read = None
    for _step in range(rank_steps(range_day_parts(every_user, time_zone)["in_range"])):
        with serial_plans():
            walked = list(range_ranking(f, first, after_last, after=last_read)[:RANK_BATCH])
        last_read = walked[-1] if walked else last_read
        ranked_rows, bounded = [], []
        for row in walked:
            if row["contact_last_day"] < after_last:
                ranked_rows.append(row)
            elif row["next_day"] >= after_last:
                if row["day_score"] > 0:
                    ranked_rows.append(row | {"score": row["day_score"], "last_event": row["day_last_event"]})
            else:
                bounded.append(row["contact_id"])
        if bounded:
            ranked_rows += per_contact(bounded)
        best = sorted([*best, *ranked_rows], key=rank_key)[:limit]
        if len(walked) < RANK_BATCH or len(best) == limit and rank_key(best[-1]) < rank_key(walked[-1]):
            # Every contact with a score in the range was walked, or none after the last one read can enter.
            return sorted(per_contact([row["contact_id"] for row in best]), key=rank_key)
    return None


def range_ranking(f: EngagementFilter, first: int, after_last: int, after: dict | None = None
                  ) -> QuerySet[ContactDayPart]:
    """The contacts' first day parts in the range of days [first, after_last), by the rank they bound; with
    `after` (a row of it), those ranked after that row. A contact has one such row, so (score, latest event,
    contact) orders them strictly, and each step of the walk starts where the last one stopped instead of
    reading past the rows before it again (as an OFFSET would: 65 ms for the sixth step of 1,000)."""
    kind = engagement_kind(f)
    score = f"score_{kind}_from"
    later = Q()
    if after is not None:
        same_score = Q(**{score: after["score"]})
        later = Q(**{f"{score}__lte": after["score"]}) & (
            Q(**{f"{score}__lt": after["score"]}) | same_score & Q(last_event_from__lt=after["last_event"])
            | same_score & Q(last_event_from=after["last_event"], contact_id__gt=after["contact_id"]))
    # The day is compared as an expression so that no index serves it: SQLite then reads the ranking index in
    # order (and stops at the batch's end) instead of the range's rows and a sort.
    return (ContactDayPart.objects.filter(later, account_id=f.account_id, user_key=day_parts_user_key(f),
                                          **{f"{score}__gt": 0})
            .alias(range_day=F("day") + 0).filter(range_day__gte=first, range_day__lt=after_last,
                                                   enrolled_prior__lt=first)
            .order_by(f"-{score}", "-last_event_from", "contact_id")
            .values("contact_id", "contact_last_day", "next_day", score=F(score),
                    last_event=F("last_event_from"), day_score=F(f"score_{kind}_day"),
                    day_last_event=F("last_event_day")))


def totals_top_contacts(f: EngagementFilter) -> QuerySet[ContactTotalsPart]:
    """Contacts across all sequences — all their enrollments, or those by `f`'s enrolling user — by engagement
    score, highest first (read in the ranking index's order), each with its event counts: "Highly engaged
    contacts" account-wide or of one user."""
    kind = engagement_kind(f)
    grain, key = (TotalsGrain.ACCOUNT, 0) if f.enrolled_by_id is None else (TotalsGrain.USER, f.enrolled_by_id)
    return (ContactTotalsPart.objects.filter(account_id=f.account_id, grain=grain, grain_key=key,
                                             **{f"score_{kind}__gt": 0})
            .order_by(f"-score_{kind}", "-last_event_at", "contact_id")
            .values("contact_id", "replies", "meetings", opens=F(f"opens_{kind}"), clicks=F(f"clicks_{kind}"),
                    last_event=F("last_event_at"), score=F(f"score_{kind}")))


def day_range(f: EngagementFilter, time_zone: str) -> tuple[int, int]:
    """The filter's enrollment date range as day numbers (the first day, the day after the last), as the totals'
    day columns hold them. An open end is the first or last day a prior can mean: every day part is in range."""
    zone = ZoneInfo(time_zone)
    first, after_last = (None if moment is None else local_day_number(moment.astimezone(zone).date())
                         for moment in (f.enrolled.start, f.enrolled.end))
    return DAY_NONE + 1 if first is None else first, DAY_NEVER if after_last is None else after_last


def day_parts_user_key(f: EngagementFilter) -> int:
    """The set of day parts (`ContactDayPart.user_key`) that answers `f`: its enrolling user's, or every one's."""
    return f.enrolled_by_id or 0


# How `day_counts_sql` reads a range of days [a, b): the day parts in it, or the day totals from a on and the day
# parts from b on (for a range ending near the latest enrollment, a few rows whatever its length).
IN_RANGE, AFTER_RANGE = "in_range", "after_range"
# Each SEQUENCE_COUNTS metric counted from the day parts, and its flag ({kind}: human or all).
DAY_COUNTED = {"enrolled_contacts": "enrolled", "opened_contacts": "opened_{kind}",
               "clicked_contacts": "clicked_{kind}", "replied_contacts": "replied", "met_contacts": "met",
               "live_contacts": "live"}


def range_day_parts(f: EngagementFilter, time_zone: str) -> dict[str, int]:
    """How many day parts `f`'s date range has (`in_range`), how many come after it (`after_range`), and how many
    days have any from its first day on (`days_from_first`): from the all-sequence day totals, one row per day."""
    first, after_last = day_range(f, time_zone)
    return SequenceDayTotal.objects.filter(account_id=f.account_id, user_key=day_parts_user_key(f),
                                           sequence_key=0).aggregate(
        in_range=Sum("rows", filter=Q(day__gte=first, day__lt=after_last), default=0),
        after_range=Sum("rows", filter=Q(day__gte=after_last), default=0),
        days_from_first=Count("pk", filter=Q(day__gte=first)))


def day_count_plan(f: EngagementFilter, time_zone: str, *, per_sequence: bool = False) -> str:
    """The cheaper way for `day_counts_sql` to count `f`'s range, by the rows each reads (day parts standing for
    the sets of priors they are counted in)."""
    days = range_day_parts(f, time_zone)
    sequences = (len(f.sequence_ids) or Sequence.objects.filter(account_id=f.account_id).count()) if per_sequence else 1
    totals_read = days["days_from_first"] * sequences
    return AFTER_RANGE if days["after_range"] + totals_read < days["in_range"] else IN_RANGE


def day_counts_sql(f: EngagementFilter, time_zone: str, *, per_sequence: bool = False, plan: str | None = None
                   ) -> tuple[str, list]:
    """SQL of the SEQUENCE_COUNTS metrics over the enrollment date range of `f` (any, all time included), of its
    enrolling user or of every one, from the day parts (`ContactDayPart`), as counted per day and set of prior
    days (`DayPriorTotal`) and per day (`SequenceDayTotal`): one row across all sequences, or with `per_sequence`
    one per sequence (`sequence_id`; `f`'s sequences, or all) with contacts in the range. `f` may not choose a
    company, nor sequences unless `per_sequence`. `plan` (default: `day_count_plan`'s) says which rows are read;
    both give the same.

    A contact counts once per flag — across sequences, or within each — at its first day row in the range with
    that flag, the only one whose prior day is before the range's first day a. IN_RANGE sums that over the rows
    in the range [a, b). AFTER_RANGE counts the same contacts as those whose last row with the flag is on or
    after a (the day totals' `_last` sums from a on), less those whose first row with the flag from a on is on or
    after b (the rows from b on whose prior is before a)."""
    first, after_last = day_range(f, time_zone)
    plan = plan or day_count_plan(f, time_zone, per_sequence=per_sequence)
    kind = engagement_kind(f)
    counted = {key: flag.format(kind=kind) for key, flag in DAY_COUNTED.items()}
    if plan == IN_RANGE:
        counts, params = _day_parts_counts(f, counted, first, "d.day >= %s AND d.day < %s", [first, after_last],
                                           per_sequence)
    else:
        from_first, from_first_params = _day_totals_from(f, counted, first, per_sequence)
        after, after_params = _day_parts_counts(f, counted, first, "d.day >= %s", [after_last], per_sequence)
        differences = ", ".join(f"COALESCE(t.{key}, 0) - COALESCE(p.{key}, 0) AS {key}" for key in counted)
        if per_sequence:
            counts = (f"SELECT t.sequence_id, {differences} FROM ({from_first}) t "
                      f"LEFT JOIN ({after}) p ON p.sequence_id = t.sequence_id")
        else:
            counts = f"SELECT {differences} FROM ({from_first}) t CROSS JOIN ({after}) p"
        params = [*from_first_params, *after_params]
    # No response: enrolled contacts without a live enrollment in the range.
    metrics = ", ".join(key for key in counted if key != "live_contacts")
    keys, only_enrolled = ("sequence_id, ", " WHERE c.enrolled_contacts > 0") if per_sequence else ("", "")
    return (f"SELECT {keys}{metrics}, enrolled_contacts - live_contacts AS no_response_contacts "
            f"FROM ({counts}) c{only_enrolled}", params)


def _day_set(f: EngagementFilter) -> tuple[str, list]:
    """The condition on a day table (alias d) picking `f`'s set of rows: its account's, of its user key."""
    return "d.account_id = %s AND d.user_key = %s", [f.account_id, day_parts_user_key(f)]


def _per_sequence(f: EngagementFilter, table: str, counts: str, condition: str) -> tuple[str, list]:
    """`counts` over `table` (alias d) of `f`'s user key for each of `f`'s sequences (or all the account's), one
    range of an index starting with (account, user key, sequence) each: CROSS JOIN keeps that order on SQLite,
    and the rows are grouped as they are read."""
    chosen = f" AND id IN ({', '.join(['%s'] * len(f.sequence_ids))})" if f.sequence_ids else ""
    day_set, day_set_params = _day_set(f)
    return (f"SELECT s.id AS sequence_id, {counts} FROM (SELECT id FROM {Sequence._meta.db_table} "
            f"WHERE account_id = %s{chosen}) s CROSS JOIN {table} d WHERE {day_set} AND {condition} GROUP BY s.id",
            [f.account_id, *f.sequence_ids, *day_set_params])


def _day_parts_counts(f: EngagementFilter, counted: dict[str, str], first: int, days: str, days_params: list,
                      per_sequence: bool) -> tuple[str, list]:
    """Per counted flag, the day parts on `days` whose prior day with the flag is before `first`: summed from the
    counts of the day parts per day and set of priors (`DayPriorTotal`)."""
    counts = ", ".join(f"SUM(CASE WHEN d.{flag}_prior < %s THEN d.rows ELSE 0 END) AS {key}"
                       for key, flag in counted.items())
    counts_params = [first] * len(counted)
    table = DayPriorTotal._meta.db_table
    if not per_sequence:
        day_set, day_set_params = _day_set(f)
        return (f"SELECT {counts} FROM {table} d WHERE {day_set} AND d.sequence_key = 0 AND {days}",
                [*counts_params, *day_set_params, *days_params])
    sql, params = _per_sequence(f, table, counts, f"d.sequence_key = s.id AND {days}")
    return sql, [*counts_params, *params, *days_params]


def _day_totals_from(f: EngagementFilter, counted: dict[str, str], first: int, per_sequence: bool
                     ) -> tuple[str, list]:
    """Per counted flag, the contacts whose last day part with it is on or after day `first`."""
    sums = ", ".join(f"SUM(d.{flag}_last) AS {key}" for key, flag in counted.items())
    table = SequenceDayTotal._meta.db_table
    if not per_sequence:
        day_set, day_set_params = _day_set(f)
        return (f"SELECT {sums} FROM {table} d WHERE {day_set} AND d.sequence_key = 0 AND d.day >= %s",
                [*day_set_params, first])
    sql, params = _per_sequence(f, table, sums, "d.sequence_key = s.id AND d.day >= %s")
    return sql, [*params, first]


def template_day_counts(f: EngagementFilter, time_zone: str) -> QuerySet[TemplateDayTotal]:
    """Email performance's counts per template (`template_id`, None for a deleted one) over all sequences, from the
    per template, day and user totals: within the filter's enrollment date range and/or of its enrolling user."""
    totals = TemplateDayTotal.objects.filter(account_id=f.account_id)
    if f.enrolled.start is not None:
        first, after_last = day_range(f, time_zone)
        totals = totals.filter(day__gte=first, day__lt=after_last)
    if f.enrolled_by_id is not None:
        totals = totals.filter(enrolled_by_key=f.enrolled_by_id)
    kind = engagement_kind(f)
    return (totals.values(template_id=Case(When(template_key=0, then=None), default=F("template_key")))
            .order_by("template_id").annotate(
                message_sends=Sum("messages_sent"), message_opens=Sum(f"messages_opened_{kind}"),
                message_clicks=Sum(f"messages_clicked_{kind}"), message_replies=Sum("messages_replied"),
                message_meetings=Sum("messages_met")))
