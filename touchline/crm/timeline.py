"""The activity timeline of a contact, company or deal, merged from every app that has something to say.

Apps register a source: a function `(account, subject) -> iterable of TimelineEntry`, where subject is a
Contact, Company or Deal. The CRM registers its own below; the sequence and tracking apps add theirs when
they exist. Each source runs one query (or a few) per subject, never one per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse

from touchline.core.models import Account
from touchline.crm.models import Company, Contact, Deal, DealStatus

MAX_ENTRIES = 200


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    title: str
    detail: str = ""
    url: str = ""


TimelineSource = Callable[[Account, Contact | Company | Deal], Iterable[TimelineEntry]]
_sources: list[TimelineSource] = []


def register_timeline_source(source: TimelineSource) -> TimelineSource:
    if source not in _sources:
        _sources.append(source)
    return source


def timeline_for(account: Account, subject: Contact | Company | Deal) -> list[TimelineEntry]:
    """Every registered source's entries for the subject, newest first, at most MAX_ENTRIES."""
    entries = [entry for source in _sources for entry in source(account, subject)]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:MAX_ENTRIES]


def _deal_entries(deal: Deal) -> list[TimelineEntry]:
    url = reverse("crm:deal-detail", args=[deal.pk])
    amount = f"{deal.amount:,.2f} {deal.currency}" if deal.amount is not None else "no amount"
    entries = [TimelineEntry(deal.created_at, "deal_created", f"Deal created: {deal.name}", amount, url)]
    if deal.closed_at is not None:
        verb = "won" if deal.status == DealStatus.WON else "lost"
        entries.append(TimelineEntry(deal.closed_at, f"deal_{verb}", f"Deal closed {verb}: {deal.name}", amount, url))
    return entries


@register_timeline_source
def crm_entries(account: Account, subject: Contact | Company | Deal) -> list[TimelineEntry]:
    if isinstance(subject, Contact):
        entries = [TimelineEntry(subject.created_at, "created", "Contact created",
                                 subject.get_original_source_display() or "")]
        deals = Deal.objects.filter(account=account, contact_links__contact=subject)
    elif isinstance(subject, Company):
        entries = [TimelineEntry(subject.created_at, "created", "Company created")]
        contacts = Contact.objects.filter(account=account, company=subject).order_by("-created_at")[:MAX_ENTRIES]
        entries += [TimelineEntry(c.created_at, "contact_created", f"Contact created: {c}", c.email,
                                  reverse("crm:contact-detail", args=[c.pk])) for c in contacts]
        deals = Deal.objects.filter(account=account, company=subject)
    else:
        entries = []
        deals = Deal.objects.filter(account=account, pk=subject.pk)
        contacts = Contact.objects.filter(account=account, deal_links__deal=subject)
        entries += [TimelineEntry(c.created_at, "contact_created", f"Contact created: {c}", c.email,
                                  reverse("crm:contact-detail", args=[c.pk])) for c in contacts]
    for deal in deals.order_by("-created_at")[:MAX_ENTRIES]:
        entries += _deal_entries(deal)
    return entries
