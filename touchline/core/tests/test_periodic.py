"""The ticker enqueues periodic tasks through Django's tasks API and the real database worker runs them."""

import pytest
from django.utils.module_loading import autodiscover_modules
from django_tasks.base import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from touchline.core import periodic

TICK = "touchline.sequences.tasks.sequences_tick"


@pytest.fixture
def registered(monkeypatch):
    autodiscover_modules("tasks")
    for entry in periodic.PERIODIC.values():
        monkeypatch.setattr(entry, "last_enqueued", 0.0)
    return periodic.PERIODIC


@pytest.mark.django_db(transaction=True)
def test_ticker_enqueues_a_periodic_task_once_until_the_worker_has_run_it(registered):
    assert TICK in registered
    every = registered[TICK].every_seconds
    assert TICK in periodic.enqueue_due(now=10_000)
    assert periodic.enqueue_due(now=10_000 + every / 2) == []  # its interval has not passed
    assert TICK not in periodic.enqueue_due(now=10_000 + every)  # due again, but the first run still waits
    Worker(queue_names=["*"], interval=0, batch=True, backend_name="default", startup_delay=False, max_tasks=None,
           worker_id="test", excluded_queue_names=[]).run()
    result = DBTaskResult.objects.get(task_path=TICK)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value["steps_run"] == 0
    assert TICK in periodic.enqueue_due(now=10_000 + 2 * every)
