"""Periodic background work on Django's tasks API: a ticker enqueues each registered task every so often,
and the django-tasks-db worker runs it like any other task.

A task is enqueued only when no run of it is waiting or running, so a slow run never piles up copies; a
run left RUNNING by a killed worker stops counting after STALE_AFTER. Several tickers (several worker
processes) are harmless: the tasks themselves are safe to run concurrently.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import close_old_connections
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules
from django_tasks.base import Task, TaskResultStatus

logger = logging.getLogger(__name__)
STALE_AFTER = timedelta(minutes=10)


@dataclass
class Periodic:
    task: Task
    every_seconds: float
    last_enqueued: float = 0.0


PERIODIC: dict[str, Periodic] = {}


def register_periodic(task: Task, *, every_seconds: float) -> Task:
    PERIODIC[task.module_path] = Periodic(task, every_seconds)
    return task


def _pending(task: Task) -> bool:
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(task_path=task.module_path, enqueued_at__gt=timezone.now() - STALE_AFTER,
                                       status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]).exists()


def enqueue_due(now: float | None = None) -> list[str]:
    """Enqueue every periodic task whose interval has passed and that is not already pending."""
    now = time.monotonic() if now is None else now
    enqueued = []
    for path, periodic in PERIODIC.items():
        if now - periodic.last_enqueued < periodic.every_seconds:
            continue
        periodic.last_enqueued = now
        if not _pending(periodic.task):
            periodic.task.enqueue()
            enqueued.append(path)
    return enqueued


class Ticker(threading.Thread):
    def __init__(self, interval: float = 1.0):
        super().__init__(name="touchline-ticker", daemon=True)
        self.interval, self.running = interval, True
        autodiscover_modules("tasks")

    def run(self) -> None:
        while self.running:
            try:
                enqueue_due()
            except Exception:  # a database hiccup must not kill the ticker
                logger.exception("periodic enqueue failed")
            finally:
                close_old_connections()
            time.sleep(self.interval)
