"""Fixtures of the sequence tests: a real SMTP sink, and a small sequence ready to enroll contacts in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import pytest
from django_scopes import scope

from touchline.crm.models import Contact
from touchline.crm.services import company_create, contact_create
from touchline.sequences.mailsink import MailSink
from touchline.sequences.models import EmailTemplate, Inbox, Sequence, Step, StepType


@pytest.fixture
def sink(settings):
    server = MailSink().start()
    settings.SMTP_URL = server.url
    settings.PUBLIC_URL = "https://touchline.example"
    yield server
    server.stop()


@dataclass
class Cadence:
    """A three-step sequence: email, call task after 2 days, follow-up email after 3 days."""

    account: object
    user: object
    inbox: Inbox
    sequence: Sequence
    steps: list[Step]
    intro: EmailTemplate
    follow_up: EmailTemplate

    def contact(self, email: str, first_name: str = "Grace", company=None) -> Contact:
        with scope(account=self.account):
            return contact_create(account=self.account, email=email, first_name=first_name, last_name="Hopper",
                                  company=company)

    def company(self, name: str):
        with scope(account=self.account):
            return company_create(account=self.account, name=name, domain=f"{name.lower()}.test")


@pytest.fixture
def cadence(account, user) -> Cadence:
    with scope(account=account):
        inbox = Inbox.objects.create(account=account, user=user, from_name="Ada Lovelace",
                                     from_email="ada@acme.test", time_zone="Europe/Berlin")
        sequence = Sequence.objects.create(account=account, name="Outbound Q1", owner=user,
                                           send_window_start=time(8, 0), send_window_end=time(18, 0))
        intro = EmailTemplate.objects.create(
            account=account, name="Intro", subject="Quick question, {{ contact.first_name | there }}",
            body="Hi {{ contact.first_name | there }},\n\nHave a look at https://acme.test/tour?ref=seq.\n\n"
                 "{{ sender.first_name }}")
        follow_up = EmailTemplate.objects.create(account=account, name="Follow-up", subject="Following up",
                                                 body="Hi {{ contact.first_name }}, any thoughts?")
        steps = [
            Step.objects.create(account=account, sequence=sequence, position=1,
                                step_type=StepType.AUTOMATED_EMAIL, template=intro),
            Step.objects.create(account=account, sequence=sequence, position=2, step_type=StepType.CALL,
                                delay_days=2, task_title="Call about the tour"),
            Step.objects.create(account=account, sequence=sequence, position=3,
                                step_type=StepType.AUTOMATED_EMAIL, delay_days=3, template=follow_up),
        ]
    return Cadence(account, user, inbox, sequence, steps, intro, follow_up)
