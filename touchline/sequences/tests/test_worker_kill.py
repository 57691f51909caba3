"""A worker process killed (SIGKILL) in the middle of an SMTP conversation, then the engine restarted: the
email is not sent a second time. The SMTP sink holds its answer to DATA long enough to kill the sender while
it waits; the message has reached the server, so a resend would be a duplicate."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from touchline.sequences import sending, services
from touchline.sequences.models import Enrollment, EnrollmentStatus, MessageStatus, SentMessage

ROOT = Path(__file__).resolve().parents[3]
WORKER = """
import django
django.setup()
from touchline.sequences.sending import sequences_tick
sequences_tick()
"""


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_send_does_not_send_twice_after_restart(cadence, sink, settings):
    with scope(account=cadence.account):
        cadence.sequence.send_window_start, cadence.sequence.send_window_end = \
            timezone.datetime.min.time(), timezone.datetime.max.time()
        cadence.sequence.business_days_only = False
        cadence.sequence.save()
        [enrollment] = services.enrollments_create(sequence=cadence.sequence,
                                                   contacts=[cadence.contact("grace@navy.test")],
                                                   inbox=cadence.inbox, enrolled_by=cadence.user).enrolled
    sink.hold_seconds = 3
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings", DATABASE_URL=_database_url(),
               SMTP_URL=sink.url, PUBLIC_URL=settings.PUBLIC_URL)
    worker = subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, env=env)
    try:
        # Kill the worker once the message's DATA has reached the server, while the server holds its answer.
        if not sink.data_arrived.wait(timeout=30):
            pytest.fail("the worker never sent DATA")
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=10)
    deadline = time.monotonic() + sink.hold_seconds + 10
    while not sink.received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sink.received) == 1  # it reached the server before the worker died
    with scopes_disabled():
        assert SentMessage.all_accounts.get().status == MessageStatus.SENDING  # the worker died mid-conversation

    sink.hold_seconds = 0
    later = timezone.now() + sending.SENDING_LEASE + timedelta(seconds=1)
    result = sending.sequences_tick(now=later)  # the restarted engine
    assert (result.interrupted, result.sent) == (1, 0)
    assert len(sink.received) == 1
    with scopes_disabled():
        enrollment = Enrollment.all_accounts.get(pk=enrollment.pk)
    assert enrollment.status == EnrollmentStatus.ERROR and "not resent" in enrollment.status_detail
