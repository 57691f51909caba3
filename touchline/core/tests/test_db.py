import pytest
from django.db import connection

from touchline.core.db import QueryTimeout, time_budget

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
