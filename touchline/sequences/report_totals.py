"""Account-wide totals of the sequence reports: the numbers a report shows when nothing but (at most) one
sequence is filtered — the Analyze tab as it opens, the Manage list, a sequence's Performance tab, the library
reports — kept so that reading them does not scan every enrollment of the account (issue #4: 2 M enrollments).

Rates are over *contacts* (a contact in two sequences counts once), so totals cannot be incremented per
event: whether an open adds an "opened" contact depends on the contact's other enrollments. Instead:

- A **part** (`ContactTotalsPart`) is what one contact contributes to one grain key — all sequences (ACCOUNT),
  one sequence, one enrollment month (in the account's zone), one enrolling user, one email template (its sent
  messages) — computed from that contact's not-scheduled enrollments exactly as the scanning reports compute it
  (docs/metrics.md).
- A **total** (`SequenceReportTotal`) is the sum of the parts of a grain key.
- Database triggers on the enrollment and sent-message tables mark a contact dirty whenever one of its
  enrollments is inserted, deleted, or changes sequence, status, date, user or rollup, or one of its messages is
  inserted, deleted or changes template, status or rollup (migration 0007). `sequence_totals_refresh` takes
  the dirty contacts and, set-based, subtracts their old parts from the totals, recomputes their parts from
  their enrollments, and adds the new parts back. Subtract-then-add makes each refresh exact whatever changed.
- Two more kinds of rows are kept by the same refresh, per dirty contact: the day parts, which answer a date range
  and a user per sequence, over every enrollment or one user's ("Date ranges" below; counted per day and set of
  prior days into `DayPriorTotal`, and per day into `SequenceDayTotal`), and email performance's counts per
  template, enrollment day and enrolling user (`TemplateDayPart`, summed into `TemplateDayTotal` like the parts
  into the totals).
- Reports refresh first (`Report.prepare`), so a total is never stale; the worker refreshes every few seconds
  so the report's share of that work stays small. `sequence_totals_rebuild` recomputes an account from scratch
  (first use, a time-zone change, repairs).

`touchline/sequences/tests/test_report_totals.py` proves every report equals its scan over the enrollments on
seeded random histories made through the services, after incremental refreshes and after a rebuild.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from touchline.core.db import local_day_number_sql, sqlite_page_cache
from touchline.core.models import Account
from touchline.sequences.models import (
    DAY_FLAGS,
    DAY_NEVER,
    DAY_NONE,
    NO_EVENT,
    ROLLUP_COLUMNS,
    RUNNING_STATUSES,
    ContactDayPart,
    ContactTotalsPart,
    DayPriorTotal,
    Enrollment,
    EnrollmentStatus,
    MessageStatus,
    SentMessage,
    SequenceDayTotal,
    SequenceReportTotal,
    SequenceTotalsDirty,
    SequenceTotalsState,
    TemplateDayPart,
    TemplateDayTotal,
    TotalsGrain,
    TotalsMeasures,
)

MEASURES = tuple(f.name for f in TotalsMeasures._meta.get_fields())
PART_ONLY = ("opens_human", "opens_all", "clicks_human", "clicks_all", "replies", "meetings", "score_human",
             "score_all", "last_event_at")
SCORE_WEIGHTS = {"replies": 5, "meetings": 5, "clicks": 2, "opens": 1}  # points per event (highly engaged)
CHUNK = 500  # dirty contacts per set of statements: bounded statement size, short lock holds

ENROLLMENTS, MESSAGES = Enrollment._meta.db_table, SentMessage._meta.db_table
PARTS, TOTALS = ContactTotalsPart._meta.db_table, SequenceReportTotal._meta.db_table
DAY_PARTS, DAY_TOTALS = ContactDayPart._meta.db_table, SequenceDayTotal._meta.db_table
TEMPLATE_DAY_PARTS = TemplateDayPart._meta.db_table
DIRTY = SequenceTotalsDirty._meta.db_table


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


def _quoted(values) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _status_is(status: str) -> str:
    return _flag(f"status = '{status}'")


RUNNING = f"status IN ({_quoted(RUNNING_STATUSES)})"
# Each measure and part-only column as an aggregate over one contact's enrollments in one grain key. The contact
# flags are the scanning reports' (`analytics.contact_rollup_sql`): opened if any enrollment opened, no response
# when none is running and none had a reply or meeting.
NO_EVENT_SQL = f"'{NO_EVENT:%Y-%m-%d %H:%M:%S}'"  # as both databases read a UTC time
_SCORE = {kind: " + ".join(f"{weight} * SUM({column})" for column, weight in zip(
    ("replies_received", "meetings_booked", f"{kind}_clicks", f"{kind}_opens"), SCORE_WEIGHTS.values(), strict=True))
    for kind in ("human", "all")}
AGGREGATES = {
    "contacts": "1",
    "enrollments": "COUNT(*)",
    "contacts_opened_human": f"MAX({_flag('human_opens > 0')})",
    "contacts_opened_all": f"MAX({_flag('all_opens > 0')})",
    "contacts_clicked_human": f"MAX({_flag('human_clicks > 0')})",
    "contacts_clicked_all": f"MAX({_flag('all_clicks > 0')})",
    "contacts_replied": f"MAX({_flag('replies_received > 0')})",
    "contacts_met": f"MAX({_flag('meetings_booked > 0')})",
    "contacts_no_response": _flag(
        f"MAX({_flag(RUNNING)}) = 0 AND MAX(replies_received) = 0 AND MAX(meetings_booked) = 0"),
    "enrollments_opened_human": f"SUM({_flag('human_opens > 0')})",
    "enrollments_opened_all": f"SUM({_flag('all_opens > 0')})",
    "enrollments_clicked_human": f"SUM({_flag('human_clicks > 0')})",
    "enrollments_clicked_all": f"SUM({_flag('all_clicks > 0')})",
    "enrollments_replied": f"SUM({_flag('replies_received > 0')})",
    "enrollments_met": f"SUM({_flag('meetings_booked > 0')})",
    "enrollments_unenrolled": f"SUM({_status_is(EnrollmentStatus.UNENROLLED)})",
    "ended": f"SUM({_flag(f'NOT {RUNNING}')})",
    "ended_replied": f"SUM({_status_is(EnrollmentStatus.REPLIED)})",
    "ended_bounced": f"SUM({_status_is(EnrollmentStatus.BOUNCED)})",
    "opens_human": "SUM(human_opens)",
    "opens_all": "SUM(all_opens)",
    "clicks_human": "SUM(human_clicks)",
    "clicks_all": "SUM(all_clicks)",
    "replies": "SUM(replies_received)",
    "meetings": "SUM(meetings_booked)",
    "score_human": _SCORE["human"],
    "score_all": _SCORE["all"],
    # Without any event time the epoch, not NULL: NULL sorts last on SQLite and first on PostgreSQL, and the
    # ranking must be one order on both (NO_EVENT).
    "last_event_at": f"COALESCE(MAX(last_event_at), {NO_EVENT_SQL})",
}
MESSAGE_MEASURES = ("messages_sent", "messages_opened_human", "messages_opened_all", "messages_clicked_human",
                    "messages_clicked_all", "messages_replied", "messages_met")
# The TEMPLATE grain's part: over one contact's sent messages with one template, the email performance counts
# (`email_performance`'s rules: a message opened, clicked, replied to, or that led to a meeting, once or more).
MESSAGE_AGGREGATES = {
    "contacts": "1",
    "messages_sent": "COUNT(*)",
    "messages_opened_human": f"SUM({_flag('m.human_opens > 0')})",
    "messages_opened_all": f"SUM({_flag('m.all_opens > 0')})",
    "messages_clicked_human": f"SUM({_flag('m.human_clicks > 0')})",
    "messages_clicked_all": f"SUM({_flag('m.all_clicks > 0')})",
    "messages_replied": f"SUM({_flag('m.replies_received > 0')})",
    "messages_met": f"SUM({_flag('m.meetings_booked > 0')})",
}
# Every grain's INSERT names every column (the model's defaults are Python's, not the database's): what a grain
# does not measure is 0.
AGGREGATES |= dict.fromkeys(MESSAGE_MEASURES, "0")
MESSAGE_AGGREGATES = {column: MESSAGE_AGGREGATES.get(column, "NULL" if column == "last_event_at" else "0")
                      for column in AGGREGATES}
assert set(AGGREGATES) == set(MEASURES) | set(PART_ONLY)


def month_starts(first: datetime, last: datetime, zone: ZoneInfo) -> list[datetime]:
    """The starts of the local months from the one holding `first` to the one after `last`'s."""
    local = first.astimezone(zone)
    year, month, starts = local.year, local.month, []
    while not starts or starts[-1] <= last:
        starts.append(datetime(year, month, 1, tzinfo=zone))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return starts


def _grain_keys(contacts_sql: str, contacts_params: list, zone: ZoneInfo) -> list[tuple[int, str, list]]:
    """(grain, SQL of the key, its parameters) for the four grains. The month is a CASE over the local month
    starts spanning the enrollments at hand: plain comparisons, which SQLite runs without a Python call per row."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN(enrolled_at), MAX(enrolled_at) FROM {ENROLLMENTS} WHERE {contacts_sql}",
                       contacts_params)
        first, last = cursor.fetchone()
    grains = [(TotalsGrain.ACCOUNT, "0", []), (TotalsGrain.SEQUENCE, "sequence_id", []),
              (TotalsGrain.USER, "COALESCE(enrolled_by_id, 0)", [])]
    if first is not None:
        if isinstance(first, str):  # SQLite hands back text from a raw aggregate
            first, last = (datetime.fromisoformat(first), datetime.fromisoformat(last))
        first, last = (timezone.make_aware(v, UTC) if timezone.is_naive(v) else v for v in (first, last))
        starts = month_starts(first, last, zone)
        whens = " ".join(f"WHEN enrolled_at < %s THEN {start.year * 100 + start.month}"
                         for start, _end in itertools.pairwise(starts))
        grains.append((TotalsGrain.MONTH, f"CASE {whens} END",
                       [connection.ops.adapt_datetimefield_value(end) for _start, end in itertools.pairwise(starts)]))
    return grains


def _parts_insert(account_id: int, contacts_sql: str, contacts_params: list, zone: ZoneInfo) -> None:
    """Compute and insert the parts of the contacts selected by `contacts_sql` (a condition on the enrollment
    table) from their not-scheduled enrollments: one grouped INSERT per grain."""
    columns = ", ".join(AGGREGATES)
    values = ", ".join(AGGREGATES.values())
    read = ", ".join(("contact_id", "status", *ROLLUP_COLUMNS, "last_event_at"))
    with connection.cursor() as cursor:
        for grain, key_sql, key_params in _grain_keys(contacts_sql, contacts_params, zone):
            # The key is computed once in the inner query: PostgreSQL cannot match a parameterised expression in
            # the select list with the same one in GROUP BY.
            cursor.execute(
                f"INSERT INTO {PARTS} (account_id, contact_id, grain, grain_key, {columns}) "
                f"SELECT %s, contact_id, {int(grain)}, grain_key, {values} FROM "
                f"(SELECT {read}, {key_sql} AS grain_key FROM {ENROLLMENTS} WHERE {contacts_sql} AND status <> %s) e "
                f"GROUP BY contact_id, grain_key",
                [account_id, *key_params, *contacts_params, EnrollmentStatus.SCHEDULED])
        # The TEMPLATE grain, from the sent messages of the same enrollments.
        messages, messages_params = _sent_messages(contacts_sql, contacts_params)
        cursor.execute(
            f"INSERT INTO {PARTS} (account_id, contact_id, grain, grain_key, {columns}) "
            f"SELECT %s, e.contact_id, {int(TotalsGrain.TEMPLATE)}, COALESCE(m.template_id, 0), "
            f"{', '.join(MESSAGE_AGGREGATES.values())} {messages} GROUP BY e.contact_id, COALESCE(m.template_id, 0)",
            [account_id, *messages_params])


def _sent_messages(contacts_sql: str, contacts_params: list, columns: str = "", columns_params: tuple = ()
                   ) -> tuple[str, list]:
    """FROM and WHERE of the sent messages (m) of the not-scheduled enrollments (e: id, contact_id and `columns`)
    selected by `contacts_sql`: what the TEMPLATE grain and the template-day parts count."""
    return (f"FROM {MESSAGES} m JOIN (SELECT id, contact_id{columns} FROM {ENROLLMENTS} "
            f"WHERE {contacts_sql} AND status <> %s) e ON m.enrollment_id = e.id WHERE m.status = %s",
            [*columns_params, *contacts_params, EnrollmentStatus.SCHEDULED, MessageStatus.SENT])


# Date ranges ------------------------------------------------------------------------------------------------------
# A date range selects enrollments, and a contact must count once however many of its enrollments fall in it, so no
# sum kept per day can answer it. The day parts (`ContactDayPart`) can: one row per contact, sequence and local day,
# each holding, per flag, the day of the contact's previous row with that flag. Summing "previous day < first day of
# the range" over the range's rows counts each contact once, at its first row in the range, without grouping by
# contact (analytics.day_counts_sql). They are rebuilt per dirty contact with the parts: once over all of the
# contact's enrollments (user key 0), and once per enrolling user over that user's (enrollments without one are
# in the first set only: a user filter never selects them).

# Each flag of one enrollment row; a day row has the flag if any of its enrollments has it (scanning reports' rules).
DAY_FLAG_CONDITIONS = {
    "enrolled": "1 = 1",
    "opened_human": "human_opens > 0",
    "opened_all": "all_opens > 0",
    "clicked_human": "human_clicks > 0",
    "clicked_all": "all_clicks > 0",
    "replied": "replies_received > 0",
    "met": "meetings_booked > 0",
    "live": f"{RUNNING} OR replies_received > 0 OR meetings_booked > 0",  # not a "no response" contact
}
assert tuple(DAY_FLAG_CONDITIONS) == DAY_FLAGS
# The rows before this one, and the rows after it: of the contact across sequences in (day, sequence) order, and
# within its sequence.
_ACROSS = "PARTITION BY contact_id, user_key ORDER BY day, sequence_id"
_WITHIN = "PARTITION BY contact_id, user_key, sequence_id ORDER BY day"
_BEFORE, _AFTER = "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING", "ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING"
DAY_WINDOWS = (f"WINDOW across AS ({_ACROSS} {_BEFORE}), within AS ({_WITHIN} {_BEFORE}), "
               f"across_after AS ({_ACROSS} {_AFTER}), within_after AS ({_WITHIN} {_AFTER}), "
               "from_day AS (PARTITION BY contact_id, user_key ORDER BY day DESC), "  # with the day's other rows
               "on_day AS (PARTITION BY contact_id, user_key, day), "
               "after_day AS (PARTITION BY contact_id, user_key ORDER BY day "
               "RANGE BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)")
# The two sets of day parts: the user key of each, and which enrollments it is made of.
DAY_PART_SETS = (("0", "true"), ("enrolled_by_id", "enrolled_by_id IS NOT NULL"))


def _day_parts_insert(account_id: int, contacts_sql: str, contacts_params: list, time_zone: str) -> None:
    """Compute and insert the day parts of the contacts selected by `contacts_sql` (a condition on the enrollment
    table) from their not-scheduled enrollments."""
    day_sql, day_params = local_day_number_sql("enrolled_at", time_zone)
    has = ", ".join(f"MAX({_flag(condition)}) AS has_{flag}" for flag, condition in DAY_FLAG_CONDITIONS.items())
    priors = ", ".join(
        f"CASE WHEN has_{flag} = 1 THEN COALESCE(MAX(CASE WHEN has_{flag} = 1 THEN day END) OVER {window}, "
        f"{DAY_NONE}) ELSE {DAY_NEVER} END" for window in ("across", "within") for flag in DAY_FLAGS)
    lasts = ", ".join(f"has_{flag} = 1 AND COALESCE(MAX(has_{flag}) OVER {window}, 0) = 0"
                      for window in ("across_after", "within_after") for flag in DAY_FLAGS)
    columns = ", ".join(f"{flag}_{column}" for column in ("prior", "prior_in_sequence", "last", "last_in_sequence")
                        for flag in DAY_FLAGS)
    # The score and latest event of the contact's rows from the row's day on, the contact's latest day (the first
    # row in from_day's order is the contact's latest), its next day, and the score and latest event of its rows
    # on the row's day.
    scores = ", ".join(f"{_SCORE[kind]} AS score_{kind}" for kind in ("human", "all"))
    scores_from = (f"SUM(score_human) OVER from_day, SUM(score_all) OVER from_day, "
                   f"COALESCE(MAX(last_event) OVER from_day, {NO_EVENT_SQL}), MAX(day) OVER from_day, "
                   f"COALESCE(MIN(day) OVER after_day, {DAY_NEVER}), SUM(score_human) OVER on_day, "
                   f"SUM(score_all) OVER on_day, COALESCE(MAX(last_event) OVER on_day, {NO_EVENT_SQL})")
    read = ", ".join(("contact_id", "sequence_id", "status", "last_event_at", *ROLLUP_COLUMNS))
    with connection.cursor() as cursor:
        for user_key, enrollments in DAY_PART_SETS:
            cursor.execute(
                f"INSERT INTO {DAY_PARTS} (account_id, contact_id, user_key, sequence_id, day, {columns}, "
                f"score_human_from, score_all_from, last_event_from, contact_last_day, next_day, score_human_day, "
                f"score_all_day, last_event_day) "
                f"SELECT %s, contact_id, user_key, sequence_id, day, {priors}, {lasts}, {scores_from} FROM "
                f"(SELECT contact_id, user_key, sequence_id, day, {has}, {scores}, MAX(last_event_at) AS last_event "
                f"FROM (SELECT {read}, {user_key} AS user_key, {day_sql} AS day FROM {ENROLLMENTS} "
                f"WHERE {contacts_sql} AND status <> %s AND {enrollments}) e "
                f"GROUP BY contact_id, user_key, sequence_id, day) day_rows {DAY_WINDOWS}",
                [account_id, *day_params, *contacts_params, EnrollmentStatus.SCHEDULED])


def _template_day_parts_insert(account_id: int, contacts_sql: str, contacts_params: list, time_zone: str) -> None:
    """Compute and insert the template-day parts of the contacts selected by `contacts_sql` (a condition on the
    enrollment table): their sent messages' counts per template, enrolling user and enrollment day."""
    day_sql, day_params = local_day_number_sql("enrolled_at", time_zone)
    counts = ", ".join(MESSAGE_AGGREGATES[m] for m in MESSAGE_MEASURES)
    messages, messages_params = _sent_messages(
        contacts_sql, contacts_params, f", COALESCE(enrolled_by_id, 0) AS enrolled_by_id, {day_sql} AS day",
        tuple(day_params))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TEMPLATE_DAY_PARTS} (account_id, contact_id, template_key, enrolled_by_key, day, "
            f"{', '.join(MESSAGE_MEASURES)}) "
            f"SELECT %s, e.contact_id, COALESCE(m.template_id, 0), e.enrolled_by_id, e.day, {counts} {messages} "
            f"GROUP BY e.contact_id, COALESCE(m.template_id, 0), e.enrolled_by_id, e.day",
            [account_id, *messages_params])


@dataclass(frozen=True)
class Rollup:
    """A table of per-contact parts and the table of their sums per key. `keys` and `measures` map each column of
    the totals to the parts' expression it is (keys) or sums (measures); `emptied` is the condition of a total
    left with nothing in it."""

    parts: str
    totals: str
    keys: dict[str, str]
    measures: dict[str, str]
    emptied: str

    @classmethod
    def same_names(cls, parts: str, totals: str, keys: tuple[str, ...], measures: tuple[str, ...],
                   emptied: str) -> Rollup:
        return cls(parts, totals, {k: k for k in keys}, {m: m for m in measures}, emptied)


def _day_totals(sequence_key: str, suffix: str) -> Rollup:
    """The day parts' `_last{suffix}` marks summed per (user key, `sequence_key`, day) into `SequenceDayTotal`."""
    measures = {"rows": "1"} | {f"{flag}_last": _flag(f"{flag}_last{suffix}") for flag in DAY_FLAGS}
    return Rollup(DAY_PARTS, DAY_TOTALS, {"user_key": "user_key", "sequence_key": sequence_key, "day": "day"},
                  measures, "rows = 0")


def _day_priors(sequence_key: str, suffix: str) -> Rollup:
    """The day parts counted per (user key, `sequence_key`, day, their `_prior{suffix}` days) into
    `DayPriorTotal`."""
    priors = {f"{flag}_prior": f"{flag}_prior{suffix}" for flag in DAY_FLAGS}
    keys = {"user_key": "user_key", "sequence_key": sequence_key, "day": "day"} | priors
    return Rollup(DAY_PARTS, DayPriorTotal._meta.db_table, keys, {"rows": "1"}, "rows = 0")


GRAINS = Rollup.same_names(PARTS, TOTALS, ("grain", "grain_key"), MEASURES, "contacts = 0")
TEMPLATE_DAYS = Rollup.same_names(TEMPLATE_DAY_PARTS, TemplateDayTotal._meta.db_table,
                                  ("day", "template_key", "enrolled_by_key"), MESSAGE_MEASURES, "messages_sent = 0")
ROLLUPS = (GRAINS, TEMPLATE_DAYS, _day_totals("0", ""), _day_totals("sequence_id", "_in_sequence"),
           _day_priors("0", ""), _day_priors("sequence_id", "_in_sequence"))


def _totals_apply(rollup: Rollup, account_id: int, contacts_sql: str, contacts_params: list, sign: str) -> None:
    """Add (`sign` '+') or subtract ('-') the parts of the selected contacts to or from the totals."""
    parts, totals, measures = rollup.parts, rollup.totals, tuple(rollup.measures)
    keys = ", ".join(rollup.keys)
    values = ", ".join(f"{expression} AS {column}" for column, expression in (rollup.keys | rollup.measures).items())
    sums = ", ".join(f"SUM({m}) AS {m}" for m in measures)
    per_key = (f"SELECT {keys}, {sums} FROM (SELECT {values} FROM {parts} WHERE account_id = %s AND {contacts_sql}) "
               f"part GROUP BY {keys}")
    with connection.cursor() as cursor:
        if sign == "-":
            assign = ", ".join(f"{m} = {totals}.{m} - per_key.{m}" for m in measures)
            same_key = " AND ".join(f"{totals}.{k} = per_key.{k}" for k in rollup.keys)
            cursor.execute(f"UPDATE {totals} SET {assign} FROM ({per_key}) per_key WHERE {totals}.account_id = %s "
                           f"AND {same_key}", [account_id, *contacts_params, account_id])
            return
        names = ", ".join(measures)
        assign = ", ".join(f"{m} = {totals}.{m} + excluded.{m}" for m in measures)
        cursor.execute(f"INSERT INTO {totals} (account_id, {keys}, {names}) "
                       f"SELECT %s, {keys}, {names} FROM ({per_key}) per_key WHERE true "
                       f"ON CONFLICT (account_id, {keys}) DO UPDATE SET {assign}",
                       [account_id, account_id, *contacts_params])


def _state_locked(account: Account) -> SequenceTotalsState:
    """The account's totals state, made if missing (time zone '': never built) and locked for this transaction
    (PostgreSQL; SQLite's write lock is already the transaction's). Two first refreshes at once meet here: the
    second waits for the first's insert, then for its lock, and finds the totals built."""
    SequenceTotalsState.all_accounts.bulk_create(
        [SequenceTotalsState(account=account, time_zone="", refreshed_at=timezone.now())], ignore_conflicts=True)
    return SequenceTotalsState.all_accounts.select_for_update().get(account=account)


def _dirty_take(account_id: int) -> list[int]:
    """Delete and return the account's dirty contacts committed so far. A mark committed later stays for the
    next refresh: deleting only rows this statement saw means no change is ever dropped."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {DIRTY} WHERE account_id = %s RETURNING contact_id", [account_id])
        return sorted({row[0] for row in cursor.fetchall()})


def _every_part_insert(account: Account, contacts_sql: str, contacts_params: list) -> None:
    """Compute and insert every kind of part — grains, day parts, template-day parts — of the contacts selected
    by `contacts_sql` (a condition on the enrollment table)."""
    _parts_insert(account.pk, contacts_sql, contacts_params, ZoneInfo(account.time_zone))
    _day_parts_insert(account.pk, contacts_sql, contacts_params, account.time_zone)
    _template_day_parts_insert(account.pk, contacts_sql, contacts_params, account.time_zone)


REBUILD_PAGE_CACHE_MIB = 256


@transaction.atomic
def sequence_totals_rebuild(*, account: Account) -> int:
    """Recompute the account's parts and totals from its enrollments. Returns its number of enrolled contacts."""
    with sqlite_page_cache(REBUILD_PAGE_CACHE_MIB):
        return _rebuild(account)


def _rebuild(account: Account) -> int:
    now = timezone.now()
    state = _state_locked(account)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {DIRTY} WHERE account_id = %s", [account.pk])
        for table in dict.fromkeys(table for rollup in ROLLUPS for table in (rollup.totals, rollup.parts)):
            cursor.execute(f"DELETE FROM {table} WHERE account_id = %s", [account.pk])
    _every_part_insert(account, "account_id = %s", [account.pk])
    for rollup in ROLLUPS:
        _totals_apply(rollup, account.pk, "true", [], "+")
    state.time_zone, state.refreshed_at = account.time_zone, now
    state.save(update_fields=["time_zone", "refreshed_at"])
    return ContactTotalsPart.all_accounts.filter(account=account, grain=TotalsGrain.ACCOUNT).count()


def sequence_totals_refresh(*, account: Account) -> int:
    """Bring the account's totals up to date with its enrollments: the dirty contacts' parts are taken off,
    recomputed and added back, in one transaction. The first refresh of an account, or one after its time zone
    changed, rebuilds. Returns how many contacts it recomputed (0 when nothing had changed: no write at all)."""
    if not SequenceTotalsDirty.objects.filter(account_id=account.pk).exists() and \
            SequenceTotalsState.all_accounts.filter(account=account, time_zone=account.time_zone).exists():
        return 0
    with transaction.atomic():
        state = _state_locked(account)
        if state.time_zone != account.time_zone:
            return sequence_totals_rebuild(account=account)
        contacts = _dirty_take(account.pk)
        for start in range(0, len(contacts), CHUNK):
            chunk = contacts[start:start + CHUNK]
            selected = f"contact_id IN ({', '.join(['%s'] * len(chunk))})"
            for rollup in ROLLUPS:
                _totals_apply(rollup, account.pk, selected, chunk, "-")
            with connection.cursor() as cursor:
                for parts in dict.fromkeys(rollup.parts for rollup in ROLLUPS):
                    cursor.execute(f"DELETE FROM {parts} WHERE account_id = %s AND {selected}", [account.pk, *chunk])
            _every_part_insert(account, f"account_id = %s AND {selected}", [account.pk, *chunk])
            for rollup in ROLLUPS:
                _totals_apply(rollup, account.pk, selected, chunk, "+")
        with connection.cursor() as cursor:
            for totals, emptied in dict.fromkeys((rollup.totals, rollup.emptied) for rollup in ROLLUPS):
                cursor.execute(f"DELETE FROM {totals} WHERE account_id = %s AND {emptied}", [account.pk])
        state.refreshed_at = timezone.now()
        state.save(update_fields=["refreshed_at"])
        return len(contacts)


def sequence_totals_refresh_all() -> int:
    """Refresh every account with dirty contacts (the worker's periodic task); marks of deleted accounts go."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT account_id FROM {DIRTY}")
        account_ids = [row[0] for row in cursor.fetchall()]
    refreshed = 0
    accounts = {a.pk: a for a in Account.objects.filter(pk__in=account_ids)}
    for account_id in account_ids:
        if account_id in accounts:
            refreshed += sequence_totals_refresh(account=accounts[account_id])
        else:
            SequenceTotalsDirty.objects.filter(account_id=account_id).delete()
    return refreshed
