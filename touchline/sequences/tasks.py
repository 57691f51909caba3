"""Background entry points of the sequence engine (thin: the work is in sending.py)."""

from dataclasses import asdict

from django_tasks import task

from touchline.core.periodic import register_periodic
from touchline.sequences import report_totals, sending, tracking

TICK_SECONDS = 15  # how late a due step may start; the send window and limits are far coarser


@task()
def sequences_tick() -> dict:
    """Run due steps and send claimed emails across all accounts."""
    return asdict(sending.sequences_tick())


register_periodic(sequences_tick, every_seconds=TICK_SECONDS)

# How stale opens and clicks may be in reports: the pixel and the redirect only queue the hit.
EMAIL_HITS_SECONDS = 5


@task()
def email_hits_record() -> int:
    """Classify and record the opens and clicks the public endpoints queued."""
    return tracking.pending_email_hits_drain()


register_periodic(email_hits_record, every_seconds=EMAIL_HITS_SECONDS)

# Reports refresh the totals they read before reading them; refreshing in the background keeps that share small.
TOTALS_SECONDS = 10


@task()
def sequence_totals_refresh() -> int:
    """Fold the enrollments changed since the last refresh into the sequence reports' account-wide totals."""
    return report_totals.sequence_totals_refresh_all()


register_periodic(sequence_totals_refresh, every_seconds=TOTALS_SECONDS)
