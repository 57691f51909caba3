import pytest
from django.db import connection, transaction

from touchline.core.db import QueryTimeout, is_postgresql, is_sqlite, serial_plans, sqlite_page_cache, time_budget

# A query that takes far longer than the budget on both databases: a large cross join counted.
SLOW_SQL = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
            "SELECT COUNT(*) FROM n a, n b, n c")


@pytest.mark.django_db
def test_time_budget_stops_a_query_when_it_runs_past_the_budget():
    with pytest.raises(QueryTimeout), time_budget(50), connection.cursor() as cursor:
        cursor.execute(SLOW_SQL)
        cursor.fetchall()


@pytest.mark.django_db
def test_time_budget_leaves_the_connection_usable_after_a_timeout():
    with pytest.raises(QueryTimeout), time_budget(50), connection.cursor() as cursor:
        cursor.execute(SLOW_SQL)
        cursor.fetchall()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 + 1")
        assert cursor.fetchone() == (2,)


@pytest.mark.django_db
def test_time_budget_lets_a_query_finish_when_it_is_within_the_budget():
    with time_budget(5000), connection.cursor() as cursor:
        cursor.execute("SELECT 40 + 2")
        assert cursor.fetchone() == (42,)


ZONES = ("Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata", "Australia/Lord_Howe", "America/Santiago",
         "Asia/Kathmandu", "Pacific/Apia", "UTC")


@pytest.mark.django_db
@pytest.mark.parametrize("time_zone", ZONES)
def test_local_trunc_sql_gives_the_day_and_month_djangos_truncation_gives_at_every_transition_and_at_random(
        time_zone):
    """Every instant a second either side of each of the zone's offset changes since 1970, random instants over
    the span, and instants outside it (Django's own function there): the fast SQL equals Django's per row."""
    import random
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from touchline.core.db import LOCAL_SPAN, local_day_number, local_day_number_sql, local_trunc_sql, zone_offsets

    rng = random.Random(time_zone)
    moments = [moment + timedelta(seconds=delta) for moment, _ in zone_offsets(time_zone)[1:]
               for delta in (-1, 0, 1)]
    start, end = LOCAL_SPAN
    moments += [start + (end - start) * rng.random() for _ in range(300)]
    moments += [datetime(1969, 12, 31, 23, 30, tzinfo=UTC), datetime(1950, 6, 1, 12, tzinfo=UTC),
                datetime(2100, 1, 1, tzinfo=UTC), datetime(2150, 7, 1, 3, tzinfo=UTC), start, end]
    if time_zone != "UTC":
        assert len(zone_offsets(time_zone)) > 1 or time_zone == "Asia/Kolkata"
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE instants (at TIMESTAMP)" if connection.vendor == "sqlite" else
                       "CREATE TEMPORARY TABLE instants (at TIMESTAMP WITH TIME ZONE)")
        cursor.executemany("INSERT INTO instants (at) VALUES (%s)", [(adapt(m),) for m in moments])
        for unit in ("day", "month"):
            fast, fast_params = local_trunc_sql("i.at", unit, time_zone)
            slow, slow_params = connection.ops.datetime_trunc_sql(unit, "i.at", (), time_zone)
            cursor.execute(f"SELECT i.at, {fast}, {slow} FROM instants i", (*fast_params, *slow_params))
            rows = cursor.fetchall()
            assert len(rows) == len(moments)
            assert [(at, a) for at, a, b in rows if a != b] == []
        # The local day as a day number, as the totals' day parts keep it and the reports compute it in Python.
        day_number, day_params = local_day_number_sql("i.at", time_zone)
        cursor.execute(f"SELECT {day_number} FROM instants i ORDER BY i.at", day_params)
        assert [row[0] for row in cursor.fetchall()] == [
            local_day_number(moment.astimezone(ZoneInfo(time_zone)).date()) for moment in sorted(moments)]
        cursor.execute("DROP TABLE instants")


@pytest.mark.django_db
def test_local_day_and_month_sql_can_sit_in_a_parameterised_statement_that_django_logs():
    """Django's SQL logging formats the statement with its parameters (`sql % params`): a strftime "%Y" in it would
    raise there, though the statement itself runs."""
    from datetime import UTC, datetime

    from django.test.utils import CaptureQueriesContext

    from touchline.core.db import local_day_number_sql, local_trunc_sql

    sqls = [local_trunc_sql("at", unit, "Europe/Berlin") for unit in ("day", "month")]
    sqls.append(local_day_number_sql("at", "Europe/Berlin"))
    instant = "%s" if connection.vendor == "sqlite" else "CAST(%s AS timestamp with time zone)"
    at = connection.ops.adapt_datetimefield_value(datetime(2026, 3, 29, 1, 30, tzinfo=UTC))
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        for sql, params in sqls:
            cursor.execute(f"SELECT {sql} FROM (SELECT {instant} AS at) t", (*params, at))
            assert cursor.fetchone()[0] is not None
    assert len(captured.captured_queries) == 3


@pytest.mark.django_db
def test_sqlite_page_cache_is_raised_meanwhile_and_restored_after_even_on_an_error():
    def cache_size() -> int | None:
        if not is_sqlite():
            return None
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            return cursor.fetchone()[0]

    before = cache_size()
    with sqlite_page_cache(64):
        assert cache_size() == (-64 * 1024 if is_sqlite() else None)
    assert cache_size() == before
    with pytest.raises(ZeroDivisionError), sqlite_page_cache(8):
        1 / 0  # noqa: B018
    assert cache_size() == before


@pytest.mark.django_db(transaction=True)
def test_serial_plans_turn_parallel_workers_off_meanwhile_and_back_after_even_on_an_error():
    def workers() -> str | None:
        if not is_postgresql():
            return None
        with connection.cursor() as cursor:
            cursor.execute("SHOW max_parallel_workers_per_gather")
            return cursor.fetchone()[0]

    with transaction.atomic():  # as a report runs, inside time_budget's transaction
        before = workers()
        with serial_plans():
            assert workers() == ("0" if is_postgresql() else None)
        assert workers() == before
        with pytest.raises(ZeroDivisionError), serial_plans():
            1 / 0  # noqa: B018
        assert workers() == before
