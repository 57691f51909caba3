"""Sequence history for the demo account, made by the engine itself.

Sales reps get inboxes, templates and a handful of sequences; contacts are enrolled over the last four
months, and the clock is then played forward tick by tick: the real engine (`sequences_tick`) renders and
sends every email over SMTP to a private, throw-away sink (historic emails must not land in the operator's
outbox), tasks are completed or skipped by their reps, and synthetic recipients answer through the same
services inbound mail and tracking use — opens (some by Apple's privacy proxy), clicks (some by link
scanners), replies, out-of-office answers, bounces, unsubscribes and booked meetings. So every report sees
histories the product itself would have written.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Min
from django.db.models.functions import Coalesce
from django.test.utils import override_settings

from touchline.core.demo import DemoContext, register_demo_extension
from touchline.crm.models import Contact
from touchline.sequences import sending, services, tracking
from touchline.sequences.mailsink import MailSink
from touchline.sequences.models import (
    RUNNING_STATUSES,
    BounceType,
    EmailTemplate,
    Enrollment,
    EventKind,
    Inbox,
    MeetingSource,
    MessageStatus,
    SentMessage,
    Sequence,
    Step,
    StepType,
    Task,
    TaskStatus,
)

# Every email goes through the real engine and SMTP, so these stay modest: the demo is for looking around,
# bench/ makes its own volume. (medium must still build in under a minute, CRM included.)
ENROLLMENTS = {"tiny": 12, "small": 250, "medium": 150, "large": 300}
HISTORY_DAYS = 120
TICK_HOURS = (9, 11, 14, 16)  # local times the simulated worker runs; ample for 08:00–18:00 windows

TEMPLATES = {
    "intro": ("Intro — pain", "{{ company.name | your team }} and pipeline visibility",
              "Hi {{ contact.first_name | there }},\n\nTeams like {{ company.name | yours }} tell us their reps "
              "lose hours chasing follow-ups. We fixed that for 300 sales teams: https://northwind.example/customers"
              "\n\nWorth a 15-minute call?\n\n{{ sender.first_name }}"),
    "case": ("Case study", "How Fabrikam cut response time in half",
             "Hi {{ contact.first_name | there }},\n\nA short read on what Fabrikam changed: "
             "https://northwind.example/case/fabrikam\n\nHappy to walk you through it.\n\n{{ sender.first_name }}"),
    "bump": ("Gentle bump", "Re: quick question", "Hi {{ contact.first_name | there }}, floating this to the top "
             "of your inbox — does next week work?\n\n{{ sender.first_name }}"),
    "meeting": ("Meeting request", "15 minutes next week?",
                "Hi {{ contact.first_name | there }},\n\nHere is my calendar: "
                "https://northwind.example/meet/{{ sender.first_name }}\n\n{{ sender.full_name }}"),
    "breakup": ("Break-up", "Should I close your file?",
                "Hi {{ contact.first_name | there }},\n\nI haven't heard back, so I'll assume the timing isn't "
                "right. If that changes: https://northwind.example/contact\n\n{{ sender.first_name }}"),
}
# name → steps as (step type, delay in days, template key or task title)
SEQUENCES = {
    "Outbound — new logos": [(StepType.AUTOMATED_EMAIL, 0, "intro"), (StepType.AUTOMATED_EMAIL, 3, "case"),
                             (StepType.CALL, 2, "Call: ask about their follow-up process"),
                             (StepType.AUTOMATED_EMAIL, 4, "bump"), (StepType.AUTOMATED_EMAIL, 7, "breakup")],
    "Inbound lead follow-up": [(StepType.AUTOMATED_EMAIL, 0, "meeting"), (StepType.CALL, 1, "Call the new lead"),
                               (StepType.AUTOMATED_EMAIL, 2, "case"), (StepType.AUTOMATED_EMAIL, 5, "bump")],
    "Event attendees": [(StepType.LINKEDIN, 0, "Connect on LinkedIn"), (StepType.AUTOMATED_EMAIL, 1, "intro"),
                        (StepType.AUTOMATED_EMAIL, 4, "meeting")],
    "Re-engage closed-lost": [(StepType.AUTOMATED_EMAIL, 0, "case"), (StepType.TASK, 5, "Check for news"),
                              (StepType.AUTOMATED_EMAIL, 2, "breakup")],
}
# Per email sent, the chance of a bounce or an out-of-office answer; per human open, of a reply, a meeting or an
# unsubscribe (a recipient answers at most once). About 10 % of enrollments end replied, as in B2B outbound.
P_BOUNCE, P_AUTO_REPLY, P_REPLY, P_MEETING, P_UNSUBSCRIBE = 0.03, 0.04, 0.12, 0.04, 0.02
P_PROXY_OPEN, P_HUMAN_OPEN, P_CLICK, P_SCANNER = 0.35, 0.45, 0.18, 0.04
APPLE_PROXY_AGENT = "Mozilla/5.0"
HUMAN_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/126.0 Safari/537.36")
SCANNER_AGENT = "Mozilla/5.0 (compatible; ProofpointURLDefense/1.0)"
APPLE_PROXY_IP, HUMAN_IP, SCANNER_IP = "17.58.63.10", "203.0.113.7", "198.51.100.9"  # documentation ranges + Apple


@dataclass(order=True)
class _Due:
    at: datetime
    order: int
    action: str = field(compare=False)
    target: object = field(compare=False)
    extra: dict = field(compare=False, default_factory=dict)


class _Simulation:
    def __init__(self, ctx: DemoContext):
        self.ctx, self.rng, self.queue, self.counter = ctx, ctx.rng, [], itertools.count()
        self.answered: set[int] = set()  # enrollments whose contact has answered

    def later(self, at: datetime, action: str, target, **extra) -> None:
        heapq.heappush(self.queue, _Due(at, next(self.counter), action, target, extra))

    def react_to(self, message: SentMessage) -> None:
        """Decide, once per sent email, what its recipient and their mail system do, and when."""
        rng, sent = self.rng, message.sent_at
        if rng.random() < P_BOUNCE and message.step.position <= 2:
            self.later(sent + timedelta(seconds=rng.uniform(5, 90)), "bounce", message)
            return
        if rng.random() < P_PROXY_OPEN:
            self.later(sent + timedelta(seconds=rng.uniform(2, 40)), "open", message, agent=APPLE_PROXY_AGENT,
                       ip=APPLE_PROXY_IP)
        if rng.random() < P_SCANNER:
            self.later(sent + timedelta(seconds=rng.uniform(1, 6)), "click", message, agent=SCANNER_AGENT,
                       ip=SCANNER_IP)
        if rng.random() < P_AUTO_REPLY:
            self.later(sent + timedelta(minutes=rng.uniform(1, 3)), "auto_reply", message)
        if rng.random() >= P_HUMAN_OPEN:
            return
        opened = sent + timedelta(hours=rng.lognormvariate(1.0, 1.2))
        self.later(opened, "open", message, agent=HUMAN_AGENT, ip=HUMAN_IP)
        if rng.random() < P_CLICK:
            self.later(opened + timedelta(minutes=rng.uniform(0.5, 10)), "click", message, agent=HUMAN_AGENT,
                       ip=HUMAN_IP)
        roll = rng.random()
        if roll < P_REPLY:
            self.later(opened + timedelta(hours=rng.uniform(0.2, 30)), "reply", message)
        elif roll < P_REPLY + P_MEETING:
            self.later(opened + timedelta(hours=rng.uniform(1, 48)), "meeting", message)
        elif roll < P_REPLY + P_MEETING + P_UNSUBSCRIBE:
            self.later(opened + timedelta(minutes=rng.uniform(1, 30)), "unsubscribe", message)

    def apply(self, due: _Due) -> None:
        message, at = due.target, due.at
        if isinstance(message, Task):
            sending.task_finish(task=message, skipped=due.extra["skip"], by=message.assignee, now=at)
            return
        contact, enrollment = message.enrollment.contact, message.enrollment
        if due.action in ("open", "click"):  # through the tracking endpoints' service, so they are classified
            tracking.hit_record(kind=EventKind.OPEN if due.action == "open" else EventKind.CLICK,
                                message_id=message.pk, user_agent=due.extra["agent"], ip=due.extra["ip"], now=at,
                                url="https://northwind.example/customers" if due.action == "click" else "")
        elif due.action == "auto_reply":
            services.contact_auto_replied(contact=contact, message=message, at=at, detail="Automatic reply: away")
        elif enrollment.pk in self.answered:
            return
        elif due.action == "bounce":
            self.answered.add(enrollment.pk)
            services.contact_bounced(contact=contact, bounce_type=BounceType.HARD, message=message, at=at,
                                     detail="550 5.1.1 The email account that you tried to reach does not exist")
        elif due.action == "reply":
            self.answered.add(enrollment.pk)
            services.contact_replied(contact=contact, message=message, at=at, detail=f"Re: {message.subject}")
        elif due.action == "unsubscribe":
            self.answered.add(enrollment.pk)
            services.contact_unsubscribed(contact=contact, message=message, at=at, detail="one-click unsubscribe")
        elif due.action == "meeting":
            self.answered.add(enrollment.pk)
            start = (at + timedelta(days=self.rng.randint(1, 6))).replace(minute=0, second=0, microsecond=0)
            services.meeting_record(contact=contact, host=enrollment.enrolled_by, starts_at=start,
                                    ends_at=start + timedelta(minutes=30), source=MeetingSource.BOOKING_PAGE,
                                    title="Intro call", at=at)


def _setup(ctx: DemoContext) -> tuple[list[Sequence], dict[int, Inbox]]:
    account = ctx.account
    inboxes = {u.pk: Inbox.objects.create(account=account, user=u, from_name=u.get_full_name() or u.username,
                                          from_email=u.email, time_zone=account.time_zone)
               for u in ctx.users}
    templates = {key: EmailTemplate.objects.create(account=account, name=name, subject=subject, body=body,
                                                   owner=ctx.users[0], created_at=ctx.now - timedelta(days=200))
                 for key, (name, subject, body) in TEMPLATES.items()}
    sequences = []
    for n, (name, steps) in enumerate(SEQUENCES.items()):
        sequence = Sequence.objects.create(account=account, name=name, owner=ctx.users[1 + n % (len(ctx.users) - 1)],
                                           created_at=ctx.now - timedelta(days=HISTORY_DAYS + 10 - n),
                                           send_window_start=time(8, 0), send_window_end=time(18, 0))
        for position, (step_type, delay, what) in enumerate(steps, start=1):
            Step.objects.create(account=account, sequence=sequence, position=position, step_type=step_type,
                                delay_days=0 if position == 1 else delay,
                                template=templates[what] if step_type == StepType.AUTOMATED_EMAIL else None,
                                task_title="" if step_type == StepType.AUTOMATED_EMAIL else what)
        sequences.append(sequence)
    return sequences, inboxes


def _ticks(start: datetime, now: datetime, zone: ZoneInfo):
    """The simulated worker's run times from `start` to `now`: TICK_HOURS of every local day."""
    day = start.astimezone(zone).date()
    while True:
        for hour in TICK_HOURS:
            tick = datetime.combine(day, time(hour), tzinfo=zone)
            if tick > now:
                return
            yield tick
        day += timedelta(days=1)


def _next_work(sim: _Simulation, plan: list, next_enrollment: int, account) -> datetime:
    """The earliest moment anything happens: an enrollment, a recipient's reaction, or a due step or retry."""
    candidates = [sim.queue[0].at] if sim.queue else []
    if next_enrollment < len(plan):
        candidates.append(plan[next_enrollment][0])
    due = Enrollment.objects.filter(account=account, status__in=RUNNING_STATUSES, next_due_at__isnull=False)
    candidates += [d for d in (due.aggregate(first=Min("next_due_at"))["first"],
                               SentMessage.objects.filter(account=account, status=MessageStatus.CLAIMED).aggregate(
                                   first=Min(Coalesce("retry_at", "claimed_at")))["first"]) if d is not None]
    return min(candidates) if candidates else datetime.max.replace(tzinfo=UTC)


@register_demo_extension
def sequences_demo(ctx: DemoContext) -> dict[str, int]:
    rng, now, zone = ctx.rng, ctx.now, ZoneInfo(ctx.account.time_zone)
    sequences, inboxes = _setup(ctx)
    start = now - timedelta(days=HISTORY_DAYS)
    pool = list(Contact.objects.filter(account=ctx.account).exclude(email="").filter(created_at__lt=start)
                .order_by("id").values_list("id", flat=True))
    chosen = rng.sample(pool, k=min(ENROLLMENTS[ctx.size], len(pool)))
    contacts = Contact.objects.in_bulk(chosen)
    plan = sorted((start + timedelta(days=rng.uniform(0, HISTORY_DAYS - 1)), contact_id) for contact_id in chosen)
    reps = ctx.users[1:]
    sim = _Simulation(ctx)
    sink = MailSink().start()
    try:
        with override_settings(SMTP_URL=sink.url):
            next_enrollment = 0
            for tick in _ticks(start, now, zone):
                if tick < _next_work(sim, plan, next_enrollment, ctx.account):
                    continue  # nothing to do at this tick: skip its queries
                while next_enrollment < len(plan) and plan[next_enrollment][0] <= tick:
                    at, contact_id = plan[next_enrollment]
                    rep = rng.choice(reps)
                    services.enrollments_create(sequence=rng.choice(sequences), contacts=[contacts[contact_id]],
                                                inbox=inboxes[rep.pk], enrolled_by=rep, now=at)
                    next_enrollment += 1
                while sim.queue and sim.queue[0].at <= tick:
                    sim.apply(heapq.heappop(sim.queue))
                sending.sequences_tick(now=tick)
                for message in SentMessage.objects.filter(account=ctx.account, sent_at=tick,
                                                          status=MessageStatus.SENT).select_related(
                                                              "enrollment__contact", "step"):
                    sim.react_to(message)
                for task in Task.objects.filter(account=ctx.account, status=TaskStatus.OPEN, due_at=tick):
                    sim.later(tick + timedelta(hours=rng.uniform(1, 30)), "task", task, skip=rng.random() < 0.15)
    finally:
        sink.stop()
    return {"sequences": len(sequences), "enrollments": Enrollment.objects.filter(account=ctx.account).count(),
            "emails sent": len(sink.received)}
