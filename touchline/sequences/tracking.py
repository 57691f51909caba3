"""Recording what recipients do with sequence emails — opens (pixel), clicks (redirect), unsubscribes — and
telling people from machines. The full reasoning is in docs/tracking.md.

Every open and click is recorded, each with `is_machine` and a `machine_reason` when no person caused it;
reports count human events by default and all of them when asked for raw numbers (SPEC §1). Reasons:

- `apple_mpp`: Apple Mail Privacy Protection fetches every image of every message when it reaches the device,
  through Apple's proxy (network 17.0.0.0/8, the bare agent `Mozilla/5.0`) — whether or not anyone reads it.
- `bot`: a crawler, script or HTTP library, by its user agent (the `crawlerdetect` library's patterns).
- `link_scanner`: a security gateway or client following links to check them: a click within SCANNER_SECONDS
  of sending, a second link of the message followed within BURST_SECONDS of another, a headless browser or a
  security vendor's agent, or a mail client fetching a link itself (a person's click opens a browser).
- `prefetch`: an open within PREFETCH_SECONDS of sending — nobody reads an email that fast.

Image proxies that fetch when the reader opens the message (Gmail's `GoogleImageProxy`, Yahoo's
`YahooMailProxy`) are *human* opens, as in HubSpot-class tools; the event's detail says which proxy.

A human click on a message with no human open records an open too (images were blocked, but the person
read the email), so "clicked" is always a subset of "opened". At most MAX_HITS_PER_MINUTE events of one kind
are recorded per message per minute, so a proxy or a loop fetching the pixel cannot flood the log.
"""

from __future__ import annotations

import ipaddress
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from functools import lru_cache

from crawlerdetect import CrawlerDetect
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_scopes import scope, scopes_disabled
from ua_parser import parse as parse_user_agent

from touchline.core.db import execute_one
from touchline.sequences import services
from touchline.sequences.models import EngagementEvent, EventKind, MessageStatus, PendingEmailHit, SentMessage

# A security gateway follows the links of a message as it is delivered, a few seconds after we hand it to
# SMTP; a person needs longer than this to receive, open, read and click.
SCANNER_SECONDS = 10
# Scanners follow every link of a message in one go; a person needs more than two seconds to go back to
# the email and click a second, different link.
BURST_SECONDS = 2
# Delivery alone takes about this long; an open sooner than this after sending was fetched on arrival.
PREFETCH_SECONDS = 2
# The cap on events of one kind per message per minute: a person opens an email a few times, a prefetch
# loop thousands of times. 20 keeps every plausible human hit and bounds the log.
MAX_HITS_PER_MINUTE = 20
RATE_WINDOW = timedelta(minutes=1)
# Apple's own network, from which Mail Privacy Protection's proxy fetches images.
APPLE_NETWORK = ipaddress.ip_network("17.0.0.0/8")
# The whole user agent of Apple's privacy proxy: no browser sends just this.
APPLE_PROXY_AGENT = "Mozilla/5.0"
# Real agents are under 300 characters; longer ones are cut before classifying and storing.
MAX_AGENT_LENGTH = 1000

# Image proxies that fetch when the reader opens the message (so the open is a person's): agent marker -> name.
READER_PROXIES = {"GoogleImageProxy": "Gmail image proxy", "YahooMailProxy": "Yahoo Mail proxy"}
# Desktop and mobile mail clients (ua-parser families) that load images themselves when a person opens the
# message. crawlerdetect lists some of them (Outlook's agent mentions "ms-office"), so they are checked first.
MAIL_CLIENTS = frozenset({"Outlook", "Thunderbird", "Apple Mail", "Windows Live Mail", "Lotus Notes", "Airmail",
                          "Superhuman"})
# Agents of security gateways and sandboxes that follow links to check them (lower case substrings).
SCANNER_MARKERS = ("barracuda", "mimecast", "proofpoint", "messagelabs", "symantec", "trendmicro", "trend micro",
                   "zscaler", "forcepoint", "fireeye", "ironport", "sophos", "safelinks", "bitdefender",
                   "checkpoint", "paloalto", "cloudmark", "vade")

_crawlers = CrawlerDetect()


class Agent(Enum):
    """What a user agent string alone says about who is asking."""

    BROWSER = "browser"  # a person's browser, or anything not known as a machine
    MAIL_CLIENT = "mail_client"
    READER_PROXY = "reader_proxy"
    APPLE_PROXY = "apple_proxy"
    SCANNER = "scanner"
    BOT = "bot"


@dataclass(frozen=True)
class Verdict:
    is_machine: bool
    reason: str = ""  # the machine_reason: apple_mpp, bot, link_scanner, prefetch
    detail: str = ""


@lru_cache(maxsize=4096)
def agent_kind(user_agent: str) -> tuple[Agent, str]:
    """The kind of agent and, for a reader proxy, its name. Cached per agent string: the hits of a campaign
    come from a few hundred distinct agents, and parsing one costs far more than the lookup."""
    agent = user_agent.strip()
    if agent == APPLE_PROXY_AGENT:
        return Agent.APPLE_PROXY, ""
    for marker, name in READER_PROXIES.items():
        if marker in agent:
            return Agent.READER_PROXY, name
    lowered = agent.lower()
    if any(marker in lowered for marker in SCANNER_MARKERS):
        return Agent.SCANNER, ""
    family = parse_user_agent(agent).user_agent
    family = family.family if family is not None else ""
    if family in MAIL_CLIENTS:
        return Agent.MAIL_CLIENT, family
    if family == "HeadlessChrome":  # gateways open links in a headless browser to detonate them
        return Agent.SCANNER, ""
    if not agent or _crawlers.isCrawler(agent):
        return Agent.BOT, ""
    return Agent.BROWSER, ""


def is_apple_network(ip: str | None) -> bool:
    try:
        return ip is not None and ipaddress.ip_address(ip) in APPLE_NETWORK
    except ValueError:
        return False


def hit_classify(*, kind: str, user_agent: str, ip: str | None, sent_at: datetime | None, now: datetime,
                 other_link_just_clicked: bool = False) -> Verdict:
    """Person or machine, for an open or click of a message sent at `sent_at` arriving at `now`.
    `other_link_just_clicked`: a different link of the same message was clicked within BURST_SECONDS."""
    agent, name = agent_kind(user_agent[:MAX_AGENT_LENGTH])
    elapsed = (now - sent_at).total_seconds() if sent_at is not None else None
    if kind == EventKind.CLICK:
        if agent is Agent.APPLE_PROXY or agent is Agent.BOT:
            return Verdict(True, "bot")
        if agent is Agent.SCANNER:
            return Verdict(True, "link_scanner", "security scanner agent")
        if agent in (Agent.MAIL_CLIENT, Agent.READER_PROXY):
            return Verdict(True, "link_scanner", f"{name} fetched the link itself")
        if elapsed is not None and elapsed < SCANNER_SECONDS:
            return Verdict(True, "link_scanner", f"clicked {elapsed:.0f} s after sending")
        if other_link_just_clicked:
            return Verdict(True, "link_scanner", "several links clicked at once")
        return Verdict(False)
    if agent is Agent.APPLE_PROXY:
        return Verdict(True, "apple_mpp")
    if is_apple_network(ip):
        return Verdict(True, "apple_mpp", "from Apple's network")
    if agent is Agent.BOT:
        return Verdict(True, "bot")
    if agent is Agent.SCANNER:
        return Verdict(True, "link_scanner", "security scanner agent")
    if elapsed is not None and elapsed < PREFETCH_SECONDS:
        return Verdict(True, "prefetch", f"opened {elapsed:.1f} s after sending")
    return Verdict(False, detail=f"via {name}" if agent is Agent.READER_PROXY else "")


def _events(kind: str):
    return EngagementEvent.all_accounts.filter(message=OuterRef("pk"), kind=kind).order_by()


def _message_for_hit(message_id: int, kind: str, url: str, now: datetime) -> SentMessage | None:
    """The sent message with what classifying and capping need, in one query: `recent_hits` of this kind in
    the rate window, and for a click whether it has opens and whether another link was just clicked."""
    recent = _events(kind).filter(occurred_at__gt=now - RATE_WINDOW).values("message").annotate(n=Count("pk"))
    messages = (SentMessage.all_accounts
                .select_related("account", "enrollment__contact")
                .filter(pk=message_id, status=MessageStatus.SENT)
                .annotate(recent_hits=Coalesce(Subquery(recent.values("n")), 0)))
    if kind == EventKind.CLICK:
        opens = _events(EventKind.OPEN)
        messages = messages.annotate(
            has_open=Exists(opens), has_human_open=Exists(opens.filter(is_machine=False)),
            other_link_just_clicked=Exists(_events(EventKind.CLICK).exclude(url=url).filter(
                occurred_at__gte=now - timedelta(seconds=BURST_SECONDS))))
    with scopes_disabled():  # the signed token is the authority; the rest runs in the message's account
        return messages.first()


def _clean_ip(ip: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        return None


def hit_record(*, kind: str, message_id: int, user_agent: str = "", ip: str | None = None, url: str = "",
               now: datetime | None = None) -> EngagementEvent | None:
    """Record an open or a click (`url`) of a sent message: one query to load and classify, one insert (two
    for a click that implies an open). None when the message is unknown or not sent, or the rate cap is hit."""
    now = now or timezone.now()
    message = _message_for_hit(message_id, kind, url, now)
    if message is None or message.recent_hits >= MAX_HITS_PER_MINUTE:
        return None
    user_agent, ip = user_agent[:MAX_AGENT_LENGTH], _clean_ip(ip)
    verdict = hit_classify(kind=kind, user_agent=user_agent, ip=ip, sent_at=message.sent_at, now=now,
                           other_link_just_clicked=getattr(message, "other_link_just_clicked", False))
    contact = message.enrollment.contact
    fields = {"is_machine": verdict.is_machine, "machine_reason": verdict.reason, "user_agent": user_agent, "ip": ip}
    # A person's click proves a person read the email even when their client blocked the pixel; a machine
    # click implies a machine open only when there is no open at all, so clicks stay a subset of opens in
    # both the human and the raw numbers.
    implies_open = kind == EventKind.CLICK and not (
        message.has_open if verdict.is_machine else message.has_human_open)
    with scope(account=message.account), transaction.atomic() if implies_open else nullcontext():
        if implies_open:
            services.event_record(contact=contact, kind=EventKind.OPEN, message=message, occurred_at=now,
                                  detail="implied by a click (the images were not loaded)", **fields)
        return services.event_record(contact=contact, kind=kind, message=message, occurred_at=now, url=url,
                                     detail=verdict.detail, **fields)


PENDING_INSERT = (f"INSERT INTO {PendingEmailHit._meta.db_table} (kind, message_id, user_agent, ip, url, received_at) "
                  "VALUES (%s, %s, %s, %s, %s, %s)")
PENDING_BATCH = 2_000


def hit_enqueue(*, kind: str, message_id: int, user_agent: str = "", ip: str | None = None, url: str = "",
                now: datetime | None = None) -> None:
    """What the pixel and the click redirect do per request: one INSERT of the hit as received (plain SQL: this
    runs once per hit and the ORM's insert costs more than the insert). The worker records it with hit_record,
    as of its arrival time, within seconds."""
    received_at = connection.ops.adapt_datetimefield_value(now or timezone.now())
    execute_one(PENDING_INSERT, [kind, message_id, user_agent[:MAX_AGENT_LENGTH], _clean_ip(ip), url, received_at])


def pending_email_hits_process(limit: int = PENDING_BATCH) -> int:
    """Classify and record up to `limit` pending hits in order of arrival, then delete them; returns how many.
    A batch interrupted half-way runs again: its hits are recorded again, which the per-minute cap and the
    reports' "contacts who opened" (a distinct count) tolerate; raw counts may then count that hit twice."""
    batch = list(PendingEmailHit.objects.order_by("received_at", "pk")[:limit])
    for hit in batch:
        hit_record(kind=hit.kind, message_id=hit.message_id, user_agent=hit.user_agent, ip=hit.ip, url=hit.url,
                   now=hit.received_at)
    PendingEmailHit.objects.filter(pk__in=[hit.pk for hit in batch]).delete()
    return len(batch)


def pending_email_hits_drain() -> int:
    total = 0
    while processed := pending_email_hits_process():
        total += processed
    return total


def unsubscribe_message(message_id: int) -> SentMessage | None:
    """The message an unsubscribe link was made for, in any sending state: once an email with the link may
    have gone out, its unsubscribe must work."""
    with scopes_disabled():
        return SentMessage.all_accounts.select_related("account", "enrollment__contact") \
            .filter(pk=message_id).first()


def unsubscribe_record(*, message_id: int, one_click: bool = False, now: datetime | None = None) -> bool:
    """Unsubscribe the message's recipient: suppress the address and end their running enrollments as
    unsubscribed (services.contact_unsubscribed, idempotent). False when the message is unknown."""
    message = unsubscribe_message(message_id)
    if message is None:
        return False
    with scope(account=message.account):
        services.contact_unsubscribed(contact=message.enrollment.contact, message=message, at=now,
                                      detail="one-click unsubscribe (RFC 8058)" if one_click
                                      else "unsubscribe page")
    return True
