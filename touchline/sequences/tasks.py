"""Background entry points of the sequence engine (thin: the work is in sending.py)."""

from dataclasses import asdict

from django_tasks import task

from touchline.core.periodic import register_periodic
from touchline.sequences import sending

TICK_SECONDS = 15  # how late a due step may start; the send window and limits are far coarser


@task()
def sequences_tick() -> dict:
    """Run due steps and send claimed emails across all accounts."""
    return asdict(sending.sequences_tick())


register_periodic(sequences_tick, every_seconds=TICK_SECONDS)
