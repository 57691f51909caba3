"""The engagement rollup: per enrollment and per sent message, how many opens, clicks, replies and meetings the
append-only log holds for it (`EngagementCounts` in models.py), and for an enrollment when its latest event of
any kind occurred. The sequence reports read these columns instead of searching the log (docs/sequences.md).

The contract, which `touchline/sequences/tests/test_engagement_rollup.py` checks against the log itself:

    enrollment.human_opens  = events of the enrollment with kind open and not is_machine
    enrollment.all_opens    = events of the enrollment with kind open
    enrollment.human_clicks / all_clicks   likewise for click
    enrollment.replies_received = events of the enrollment with kind reply
    enrollment.meetings_booked  = events of the enrollment with kind meeting_booked
    enrollment.last_event_at = the latest occurred_at of any event of the enrollment (None without events)
    message.<same counts>   = the same over the events whose message is it

Two ways keep it so, both set-based and both in the transaction that writes the events:

- `engagement_rollup_add(events)` after events are inserted — one at a time (`services.event_record`, the
  import) or in bulk (`sending._sent_record`): it adds each row's increments with `col = col + n`, one UPDATE per
  distinct increment (a batch of sends is one UPDATE). Increments, never recounts, so concurrent writers cannot
  overwrite each other's counts (each UPDATE works on the row version it locked).
- `enrollment_engagement_rebuild(account=...)` recomputes an account's rollup from the log in four statements
  (per table: zero rows without events, then one grouped pass over the events, writing only rows that differ).
  For repairs, after bulk loads that bypass the services (bench), and as the migration's backfill (its grouped
  pass, copied into 0006).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F, Q, Value, When
from django.db.models.expressions import Case

from touchline.core.db import is_postgresql
from touchline.sequences.models import ROLLUP_COLUMNS, EngagementEvent, Enrollment, EventKind, SentMessage
from touchline.sequences.signals import events_recorded

# column → (event kind, whether machine events count)
COUNTED: dict[str, tuple[str, bool]] = {
    "human_opens": (EventKind.OPEN, False), "all_opens": (EventKind.OPEN, True),
    "human_clicks": (EventKind.CLICK, False), "all_clicks": (EventKind.CLICK, True),
    "replies_received": (EventKind.REPLY, True), "meetings_booked": (EventKind.MEETING_BOOKED, True),
}
assert tuple(COUNTED) == ROLLUP_COLUMNS


def event_increments(kind: str, is_machine: bool) -> tuple[str, ...]:
    """The rollup columns one event of `kind` adds 1 to."""
    return tuple(column for column, (counted, machine) in COUNTED.items()
                 if counted == kind and (machine or not is_machine))


def _later(at: datetime) -> Case:
    return Case(When(Q(last_event_at__isnull=True) | Q(last_event_at__lt=at), then=Value(at)),
                default=F("last_event_at"))


def engagement_rollup_add(events: Iterable[EngagementEvent]) -> None:
    """Add just-inserted events to the rollup of their enrollments and messages. Call it in the transaction that
    inserted them. Rows that get the same increments (and, for enrollments, the same latest time) share one
    UPDATE: a batch of `sent` events at one instant is one statement whatever its size."""
    events = list(events)
    per_enrollment: dict[int, Counter] = defaultdict(Counter)
    latest: dict[int, datetime] = {}
    per_message: dict[int, Counter] = defaultdict(Counter)
    for event in events:
        increments = event_increments(event.kind, event.is_machine)
        if event.enrollment_id is not None:
            per_enrollment[event.enrollment_id].update(increments)
            at = latest.get(event.enrollment_id)
            latest[event.enrollment_id] = event.occurred_at if at is None else max(at, event.occurred_at)
        if event.message_id is not None and increments:
            per_message[event.message_id].update(increments)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for pk, counts in per_enrollment.items():
        groups[(tuple(sorted(counts.items())), latest[pk])].append(pk)
    for (counts, at), ids in groups.items():
        Enrollment.all_accounts.filter(pk__in=ids).update(last_event_at=_later(at),
                                                          **{c: F(c) + n for c, n in counts})
    groups = defaultdict(list)
    for pk, counts in per_message.items():
        groups[tuple(sorted(counts.items()))].append(pk)
    for counts, ids in groups.items():
        SentMessage.all_accounts.filter(pk__in=ids).update(**{c: F(c) + n for c, n in counts})
    events_recorded.send(sender=EngagementEvent, events=events)


def _sums(link: str) -> str:
    """The grouped pass over the log: per `link` (enrollment_id or message_id), each rollup column."""
    sums = ", ".join(
        f"SUM(CASE WHEN kind = '{kind}'{'' if machine else ' AND NOT is_machine'} THEN 1 ELSE 0 END) AS {column}"
        for column, (kind, machine) in COUNTED.items())
    latest = ", MAX(occurred_at) AS last_event_at" if link == "enrollment_id" else ""
    return (f"SELECT {link} AS row_id, {sums}{latest} FROM {EngagementEvent._meta.db_table} "
            f"WHERE account_id = %s AND {link} IS NOT NULL GROUP BY {link}")


def rebuild_statements(account_id: int) -> list[tuple[str, list]]:
    """The SQL of a rebuild, in order, per table: zero the rollup of rows that have no event but a non-zero
    rollup, then set it from one grouped pass over the account's events (UPDATE … FROM: SQLite ≥ 3.33 and
    PostgreSQL) where it differs. Rows already right are not written: on PostgreSQL every row written is a new
    row version in each of its indexes."""
    statements = []
    events = EngagementEvent._meta.db_table
    for model, link, extra in ((Enrollment, "enrollment_id", ("last_event_at",)), (SentMessage, "message_id", ())):
        table = model._meta.db_table
        columns = (*ROLLUP_COLUMNS, *extra)
        reset = ", ".join(f"{c} = {'NULL' if c == 'last_event_at' else '0'}" for c in columns)
        nonzero = " OR ".join(f"{c} IS NOT NULL" if c == "last_event_at" else f"{c} <> 0" for c in columns)
        assign = ", ".join(f"{c} = per_row.{c}" for c in columns)
        differs = " OR ".join(f"{table}.{c} IS DISTINCT FROM per_row.{c}" for c in columns)
        statements.append((f"UPDATE {table} SET {reset} WHERE account_id = %s AND ({nonzero}) AND NOT EXISTS "
                           f"(SELECT 1 FROM {events} e WHERE e.{link} = {table}.id)", [account_id]))
        statements.append((f"UPDATE {table} SET {assign} FROM ({_sums(link)}) per_row "
                           f"WHERE {table}.id = per_row.row_id AND ({differs})", [account_id]))
    return statements


@transaction.atomic
def enrollment_engagement_rebuild(*, account) -> dict[str, int]:
    """Recompute the account's engagement rollup from its log, set-based. On PostgreSQL the log is locked
    against inserts meanwhile (SHARE mode: reads go on), so no event recorded during the rebuild is missed or
    counted twice; on SQLite the first UPDATE takes the database's write lock, which does the same. Returns how
    many enrollments and messages with events it corrected (all of them after a bulk load)."""
    with connection.cursor() as cursor:
        if is_postgresql():
            cursor.execute(f"LOCK TABLE {EngagementEvent._meta.db_table} IN SHARE MODE")
        updated = []
        for sql, params in rebuild_statements(account.pk):
            cursor.execute(sql, params)
            updated.append(cursor.rowcount)
    return {"enrollments": updated[1], "messages": updated[3]}
