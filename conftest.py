"""Fixtures shared by every test layer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django_scopes import scope, scopes_disabled

from touchline.core.accounts import account_create, user_create
from touchline.core.models import Plan, Role
from touchline.crm.services import company_create, contact_create
from touchline.sequences.models import Enrollment, EventKind, Inbox, Sequence, Step, StepType
from touchline.sequences.services import event_record

HISTORY_NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
MARCH_3 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def account(db):
    with scopes_disabled():
        return account_create(name="Acme", plan=Plan.PROFESSIONAL, time_zone="Europe/Berlin")


@pytest.fixture
def other_account(db):
    with scopes_disabled():
        return account_create(name="Globex", plan=Plan.PROFESSIONAL)


@pytest.fixture
def user(account):
    return user_create(username="ada", email="ada@acme.test", password="correct horse battery", account=account,
                       role=Role.ADMIN, first_name="Ada", last_name="Lovelace")


@pytest.fixture
def account_scope(account):
    """Run the test body inside the account's scope, as request code runs."""
    with scope(account=account):
        yield account


@pytest.fixture
def logged_in_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Tests don't run collectstatic; the hashed-manifest storage of production needs it.
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture
def history(account, user):
    """A hand-built sequence history; touchline/reports/tests/test_sequence_engagement.py works out its numbers."""
    with scope(account=account):
        bob = user_create(username="bob", email="bob@acme.test", password="another long passphrase", account=account)
        navy = company_create(account=account, name="Navy")
        inbox = Inbox.objects.create(account=account, user=user, from_name="Ada", from_email="ada@acme.test")
        outbound = Sequence.objects.create(account=account, name="Outbound", owner=user)
        nurture = Sequence.objects.create(account=account, name="Nurture", owner=user)
        step = {s: Step.objects.create(account=account, sequence=s, position=1, step_type=StepType.AUTOMATED_EMAIL)
                for s in (outbound, nurture)}
        c = {i: contact_create(account=account, email=f"c{i}@example.test", company=navy if i <= 2 else None)
             for i in range(1, 7)}

        def enrollment(contact, sequence, status, at=MARCH_3, by=user):
            ended = status not in ("active", "paused", "scheduled")
            return Enrollment.objects.create(
                account=account, sequence=sequence, contact=contact, enrolled_by=by, inbox=inbox,
                company_at_enrollment=contact.company, current_step=step[sequence], status=status, enrolled_at=at,
                ended_at=HISTORY_NOW if ended else None)

        def event(e, kind, **fields):
            event_record(contact=e.contact, kind=kind, enrollment=e, occurred_at=MARCH_3, **fields)

        e1 = enrollment(c[1], outbound, "replied")
        event(e1, EventKind.OPEN)
        event(e1, EventKind.REPLY)
        e2 = enrollment(c[2], outbound, "active", by=bob)
        event(e2, EventKind.OPEN, is_machine=True, machine_reason="apple_mpp")
        event(e2, EventKind.CLICK)
        e3 = enrollment(c[3], outbound, "finished", at=datetime(2026, 1, 10, 9, 0, tzinfo=UTC))
        event(e3, EventKind.OPEN)
        e4 = enrollment(c[4], outbound, "meeting_booked")
        event(e4, EventKind.MEETING_BOOKED)
        enrollment(c[5], outbound, "unenrolled", at=datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
        enrollment(c[5], outbound, "active", at=datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
        enrollment(c[6], outbound, "scheduled")
        enrollment(c[4], nurture, "active")
        e8 = enrollment(c[1], nurture, "replied")
        event(e8, EventKind.REPLY)
    return {"outbound": outbound, "nurture": nurture, "navy": navy, "bob": bob}


