"""Database-specific code lives here and nowhere else (STYLE rule 13)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

from django.db import OperationalError, connection, transaction

# SQLite calls the progress handler every this many virtual-machine instructions; small enough to stop
# within milliseconds of the budget, large enough to cost nothing measurable.
SQLITE_PROGRESS_STEP = 10_000


class QueryTimeout(Exception):
    """A read ran past its time budget and was stopped by the database."""


def is_sqlite() -> bool:
    return connection.vendor == "sqlite"


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


@contextmanager
def time_budget(milliseconds: int) -> Iterator[None]:
    """Stop the queries run inside after `milliseconds` in all, raising QueryTimeout.

    PostgreSQL enforces it with a transaction-local statement_timeout; SQLite with a progress handler
    that interrupts the running statement once the deadline has passed. Meant for reads: on PostgreSQL the
    block runs in its own transaction (a savepoint when one is open), which a timeout rolls back.
    """
    connection.ensure_connection()
    if is_postgresql():
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(int(milliseconds))])
                yield
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) == "57014":  # query_canceled
                raise QueryTimeout(f"stopped after {milliseconds} ms") from error
            raise
        return
    if is_sqlite():
        deadline = time.monotonic() + milliseconds / 1000
        raw = connection.connection
        raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, SQLITE_PROGRESS_STEP)
        try:
            yield
        except OperationalError as error:
            if "interrupted" in str(error):
                raise QueryTimeout(f"stopped after {milliseconds} ms") from error
            raise
        finally:
            raw.set_progress_handler(None, SQLITE_PROGRESS_STEP)
        return
    yield


def execute_one(sql: str, params: list) -> None:
    """Run one write statement as its own unit: in autocommit mode the statement is atomic by itself (no
    BEGIN/COMMIT round trips — this is the per-hit write of the public tracking endpoints); inside a caller's
    transaction it runs in a savepoint, so a failure leaves that transaction usable."""
    if connection.in_atomic_block:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def rows_insert(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Insert plain tuples (in the order of `columns`) into `table`: the bulk write of stored results, without a
    model instance or a compiled INSERT per row. Runs in the caller's transaction, so a failure leaves nothing
    half-written when the caller is atomic.

    PostgreSQL copies the rows in (COPY FROM STDIN, psycopg 3); SQLite runs one prepared INSERT over all of them
    (executemany: 18 s for 10 M rows in PERFORMANCE.md). Values go in as they are: ints, strings, None."""
    names = ", ".join(columns)
    with connection.cursor() as cursor:
        if is_postgresql():
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(columns))
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows)


def rows_update(model, fields: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Set `fields` of many rows of `model`, each to its own values: every row is (a value per field..., pk). One
    prepared UPDATE … WHERE pk = %s run over all of them (executemany; psycopg pipelines it) instead of the CASE
    per field and row that `bulk_update` compiles. Values are prepared by the model's fields, as the ORM does
    (a datetime or a duration on SQLite); a foreign key takes its id. Bypasses the account scope: the caller
    passes rows it loaded in scope. Runs in the caller's transaction."""
    meta, quote = model._meta, connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    assignments = ", ".join(f"{quote(column.column)} = %s" for column in columns)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    prepared = [[column.get_db_prep_save(value, connection) for column, value in zip(columns, row[:-1], strict=True)]
                + [row[-1]] for row in rows]
    if prepared:
        with connection.cursor() as cursor:
            cursor.executemany(sql, prepared)


class Statement:
    """One write statement written once as SQL and run with each call's values: for the engine's per-row
    conditional UPDATEs, where building and compiling a queryset per call cost more than running it. `sql` names
    the table as `{table}`; `fields` are the model fields whose values fill its `%s`s, in order, so each value
    is prepared as the ORM prepares it (a datetime on SQLite). `run` returns how many rows changed. The SQL must
    mean the same on SQLite and PostgreSQL; it bypasses the account scope, so the caller's ids come from rows it
    read in scope. Runs in the caller's transaction, or commits by itself in autocommit."""

    def __init__(self, model, sql: str, fields: Sequence[str]):
        self.model, self.template, self.names = model, sql, tuple(fields)

    @cached_property
    def _compiled(self) -> tuple[str, list]:  # on first use: models may not be ready when the statement is made
        meta = self.model._meta
        return (self.template.format(table=connection.ops.quote_name(meta.db_table)),
                [meta.get_field(name) for name in self.names])

    def run(self, *values) -> int:
        sql, fields = self._compiled
        params = [field.get_db_prep_value(value, connection) for field, value in zip(fields, values, strict=True)]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount


@contextmanager
def serial_plans() -> Iterator[None]:
    """On PostgreSQL, plan the queries run inside without parallel workers: for a short read the planner can
    overestimate (an index walk stopped by a LIMIT, under a filter it cannot estimate), and starting workers
    costs 25-30 ms, more than the read. A no-op elsewhere."""
    if not is_postgresql():
        yield
        return
    setting = "max_parallel_workers_per_gather"
    # A transaction-local setting, in a savepoint of its own: an error inside rolls it back with the savepoint,
    # and on the way out it is set back to what it was.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting(%s), set_config(%s, '0', true)", [setting, setting])
            previous = cursor.fetchone()[0]
        yield
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [setting, previous])


@contextmanager
def sqlite_page_cache(mebibytes: int) -> Iterator[None]:
    """On SQLite, give this connection a page cache of `mebibytes` meanwhile (the default is 2 MiB): a statement
    writing millions of rows into several indexes then keeps their pages in memory instead of spilling and
    reading them back (a rebuild of the sequence totals at 2 M enrollments: a third less time). No-op elsewhere."""
    if not is_sqlite():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (previous,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = {-1024 * int(mebibytes)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


@contextmanager
def bulk_load(models: Sequence) -> Iterator[None]:
    """Load many rows into the tables of `models` (a bench's synthetic history, a one-off import): their secondary
    indexes are dropped on entry and built again on exit, once over all rows instead of updated row by row, and
    explicit primary keys are allowed (PostgreSQL's sequences are moved past them on exit). On SQLite the journal
    is the rollback journal meanwhile: pages appended to the file are not journaled, where WAL writes every new
    page twice (a 3M-view bench grew a 6 GB WAL). Not for a database in use: nothing else may write meanwhile."""
    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        if is_sqlite():
            marks = ", ".join(["%s"] * len(tables))
            cursor.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                           f"AND tbl_name IN ({marks})", tables)
            indexes = cursor.fetchall()
            cursor.execute("PRAGMA journal_mode=DELETE")
            cursor.execute("PRAGMA synchronous=OFF")
        else:
            # Indexes backing a constraint (primary keys, unique constraints) stay: they are the constraint.
            cursor.execute("SELECT indexname, indexdef FROM pg_indexes i WHERE tablename = ANY(%s) AND NOT EXISTS "
                           "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", [tables])
            indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for _, sql in indexes:
                cursor.execute(sql)
            if is_sqlite():
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA journal_mode=WAL")
            else:
                from django.core.management.color import no_style

                for sql in connection.ops.sequence_reset_sql(no_style(), list(models)):
                    cursor.execute(sql)


# Local days and months without a Python call per row -------------------------------------------------------------

# SQLite has no time zones: Django truncates in a zone through a Python function called for every row (~10 us, most
# of a chart over 20,000 rows). Inside this span the zone's offsets are known ahead, so the shift is chosen in SQL.
LOCAL_SPAN = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
# The local start of the day or month as Django writes it on SQLite, by date() and its modifiers: no strftime
# format, whose "%" would trip Django's SQL logging (`sql % params`) in a parameterised statement.
LOCAL_STARTS = {"day": "date({column}, {shift})", "month": "date({column}, {shift}, 'start of month')"}
_SCAN = timedelta(hours=12)  # no zone changes its offset twice within 12 hours


@lru_cache(maxsize=64)
def zone_offsets(time_zone: str) -> tuple[tuple[datetime, int], ...]:
    """(from, offset in seconds) for each stretch of the zone's UTC offset inside LOCAL_SPAN, in time order: the
    zone's transitions, found by scanning every 12 hours and bisecting to the second (about 0.1 s, once per zone
    and process)."""
    zone = ZoneInfo(time_zone)

    def offset(moment: datetime) -> int:
        return int(moment.astimezone(zone).utcoffset().total_seconds())

    start, end = LOCAL_SPAN
    stretches = [(start, offset(start))]
    moment = start
    while moment < end:
        after = min(moment + _SCAN, end)
        if offset(after) != stretches[-1][1]:
            low, high = moment, after  # whole seconds; offset(low) is the old offset, offset(high) the new one
            while high - low > timedelta(seconds=1):
                middle = (low + (high - low) / 2).replace(microsecond=0)
                low, high = (middle, high) if offset(middle) == stretches[-1][1] else (low, middle)
            stretches.append((high, offset(high)))
        moment = after
    return tuple(stretches)


def _sqlite_local_sql(column: str, time_zone: str, inside: str, outside: str) -> str:
    """SQLite: `inside` (a template over {column} and {shift}, the zone's offset at that time as a date modifier)
    within LOCAL_SPAN, the offset picked by a binary tree of CASEs over the zone's transitions; `outside` beyond."""
    stretches = zone_offsets(time_zone)
    stored = connection.ops.adapt_datetimefield_value

    def pick(low: int, high: int) -> str:  # the shift of the stretch containing `column`, among low..high-1
        if high - low == 1:
            return f"'{stretches[low][1]:+d} seconds'"
        middle = (low + high) // 2
        return (f"CASE WHEN {column} < '{stored(stretches[middle][0])}' THEN {pick(low, middle)} "
                f"ELSE {pick(middle, high)} END")

    first, last = (stored(moment) for moment in LOCAL_SPAN)
    return (f"CASE WHEN {column} < '{first}' OR {column} >= '{last}' THEN {outside} "
            f"ELSE {inside.format(column=column, shift=pick(0, len(stretches)))} END")


def local_trunc_sql(column: str, unit: str, time_zone: str) -> tuple[str, tuple]:
    """SQL truncating the datetime `column` to the start of its day or month in `time_zone`, as Django's
    datetime_trunc_sql does ('YYYY-MM-DD 00:00:00' text on SQLite). PostgreSQL converts natively, so it gets
    Django's SQL; on SQLite the offset is picked in SQL and applied by date(), with Django's per-row function
    only for times outside LOCAL_SPAN. Same values (test_db.py)."""
    if not is_sqlite() or unit not in LOCAL_STARTS:
        return connection.ops.datetime_trunc_sql(unit, column, (), time_zone)
    outside, params = connection.ops.datetime_trunc_sql(unit, column, (), time_zone)
    return _sqlite_local_sql(column, time_zone, f"{LOCAL_STARTS[unit]} || ' 00:00:00'", outside), params


EPOCH_DAY = date(1970, 1, 1)
JULIAN_EPOCH = 2440587.5  # SQLite's julianday() of 1970-01-01 00:00


def local_day_number_sql(column: str, time_zone: str) -> tuple[str, tuple]:
    """SQL of the local day of the datetime `column` in `time_zone` as a whole number of days since 1970-01-01
    (`local_day_number` of the same day): compact and cheap to compare in a report's range condition. On SQLite
    it takes no format string, so the SQL can sit in any parameterised statement."""
    day, params = connection.ops.datetime_trunc_sql("day", column, (), time_zone)
    if not is_sqlite():
        return f"(CAST({day} AS date) - DATE '1970-01-01')", params
    # julianday() of a date is a whole day plus .5 exactly: the difference is a whole number, also before 1970.
    return _sqlite_local_sql(column, time_zone,
                             f"CAST(julianday(date({{column}}, {{shift}})) - {JULIAN_EPOCH} AS INTEGER)",
                             f"CAST(julianday(substr({day}, 1, 10)) - {JULIAN_EPOCH} AS INTEGER)"), params


def local_day_number(day: date) -> int:
    return (day - EPOCH_DAY).days
