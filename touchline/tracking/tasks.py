"""Background entry points of web tracking (thin: the work is in services.py)."""

from django_tasks import task

from touchline.core.periodic import register_periodic
from touchline.tracking import services

# How stale the reports' web numbers may be: accepted hits become sessions and page views within this.
SESSIONISE_SECONDS = 5


@task()
def pending_hits_drain() -> int:
    """Turn every accepted hit into sessions and page views."""
    return services.pending_hits_drain()


register_periodic(pending_hits_drain, every_seconds=SESSIONISE_SECONDS)
