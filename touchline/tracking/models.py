"""Web tracking tables: sites that carry the snippet, visitors (one first-party cookie each), sessions with their
traffic source, page views, forms and their submissions, and the collector's count of what it dropped.

Shapes that matter for the reports:
- A visitor belongs to a contact once identified (a form submission); every session and page view of that
  visitor then belongs to the contact through `visitor.contact`, earlier ones included (SPEC §0).
- A page view carries the client's hit id, unique per site: the snippet retries until it gets a 2xx, and a
  retried hit is stored once.
- A session's `is_first` marks the visitor's first session ("new visitor session").
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from touchline.core.models import Account, AccountOwned
from touchline.crm.models import TrafficSource


def _new_public_key() -> str:
    # Public (it sits in every page of the site) but unguessable, so nobody can write into another account by
    # counting ids.
    return secrets.token_urlsafe(12)


class Site(AccountOwned):
    name = models.CharField(max_length=200)
    key = models.CharField(max_length=32, unique=True, default=_new_public_key)
    domains = models.TextField(
        help_text="Hostnames the snippet may report from, one per line (subdomains included). Hits from other "
        "hosts are dropped, and a referrer on these hosts does not start a new session."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="site_unique_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(h.strip().lower().removeprefix("www.") for h in self.domains.split() if h.strip())

    def allows_host(self, host: str) -> bool:
        host = host.lower().removeprefix("www.")
        return any(host == h or host.endswith("." + h) for h in self.hosts)


class Visitor(AccountOwned):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="visitors")
    key = models.CharField(max_length=64, help_text="the snippet's first-party cookie value")
    contact = models.ForeignKey(
        "crm.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="visitors"
    )
    first_seen_at = models.DateTimeField()
    identified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "key"], name="visitor_unique_key")]
        indexes = [models.Index(fields=["account", "contact"])]


class WebSession(AccountOwned):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="sessions")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="sessions")
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    page_views = models.PositiveIntegerField(default=0)
    is_first = models.BooleanField(help_text="the visitor's first session (a new visitor session)")
    landing_url = models.CharField(max_length=2000)
    referrer = models.CharField(max_length=2000, blank=True)
    source = models.CharField(max_length=20, choices=TrafficSource.choices)
    source_detail = models.CharField(max_length=255, blank=True)
    source_subdetail = models.CharField(max_length=255, blank=True)
    utm_campaign = models.CharField(max_length=255, blank=True)
    utm_source = models.CharField(max_length=255, blank=True)
    utm_medium = models.CharField(max_length=255, blank=True)
    utm_term = models.CharField(max_length=255, blank=True)
    utm_content = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["account", "started_at"]),
            models.Index(fields=["visitor", "-last_seen_at"]),
            models.Index(fields=["account", "utm_campaign", "started_at"]),
        ]


class PageView(AccountOwned):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    session = models.ForeignKey(WebSession, on_delete=models.CASCADE, related_name="views")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="+")
    hit_id = models.CharField(max_length=64, help_text="the snippet's id of this hit; a retry is stored once")
    occurred_at = models.DateTimeField()
    url = models.CharField(max_length=2000)
    page = models.CharField(
        max_length=1000, help_text="host and path, lower-case host, no query: what page assets match"
    )
    title = models.CharField(max_length=500, blank=True)
    referrer = models.CharField(max_length=2000, blank=True)
    screen_width = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "hit_id"], name="pageview_unique_hit")]
        indexes = [
            # Covering for what page assets read: campaign windows (session_id, visitor_id by page and time)
            # and the asset reports (views, distinct sessions and visitors of a page).
            models.Index(fields=["account", "page", "occurred_at", "session", "visitor"], name="pageview_page"),
            # A contact's views in time order with what last-touch ranking reads (page, session), covering.
            models.Index(fields=["visitor", "occurred_at", "page", "session"], name="pageview_visitor"),
            models.Index(fields=["account", "occurred_at"]),
        ]


class PendingHit(AccountOwned):
    """A page view the collector accepted and has not sessionised yet: the collector's one durable, idempotent
    insert (a retried hit id is ignored). The worker turns pending hits into sessions and page views in time
    order and deletes them (services.pending_hits_process).

    Every index is written on each hit, so it has only the ones its readers use: the unique hit id (which also
    serves the site's foreign key), time order for the worker, and a visitor's hits for a form submission. The
    account's foreign key has none: the table is a queue, empty between worker runs, so deleting an account scans
    what little waits in it."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+", db_index=False)
    hit_id = models.CharField(max_length=64)
    visitor_key = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    url = models.CharField(max_length=2000)
    title = models.CharField(max_length=500, blank=True)
    referrer = models.CharField(max_length=2000, blank=True)
    screen_width = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "hit_id"], name="pendinghit_unique_hit")]
        indexes = [models.Index(fields=["occurred_at", "id"]), models.Index(fields=["site", "visitor_key"])]


class DropReason(models.TextChoices):
    UNKNOWN_SITE = "unknown_site", "Unknown site key"
    FOREIGN_HOST = "foreign_host", "Page not on the site's domains"
    BOT = "bot", "Bot or crawler"
    INVALID = "invalid", "Malformed payload"
    TOO_LARGE = "too_large", "Payload too large"
    RATE_LIMITED = "rate_limited", "Rate limited"
    DO_NOT_TRACK = "do_not_track", "Do Not Track"


class CollectorDrop(models.Model):
    """How many hits the collector refused, per day, site and reason. Not AccountOwned: a hit with an unknown
    key has no account (`site_key` is then empty — an attacker's made-up keys are not stored)."""

    account = models.ForeignKey(Account, null=True, on_delete=models.CASCADE, related_name="+")
    site_key = models.CharField(max_length=32, blank=True)
    day = models.DateField()
    reason = models.CharField(max_length=20, choices=DropReason.choices)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site_key", "day", "reason"], name="drop_unique_site_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.site_key or '(unknown site)'} {self.reason}: {self.count}"


class Form(AccountOwned):
    """A form asset: its fields are shown by the embed script and validated by the submission endpoint."""

    name = models.CharField(max_length=200)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="forms")
    key = models.CharField(max_length=32, unique=True, default=_new_public_key)
    fields = models.JSONField(
        help_text='[{"name": "email", "label": "Email", "type": "email", "required": true}, …]; contact '
        "properties by name (email, first_name, last_name, job_title, phone, company); others are "
        "kept with the submission"
    )
    thank_you = models.CharField(max_length=500, default="Thanks, we'll be in touch.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class FormSubmission(AccountOwned):
    form = models.ForeignKey(Form, on_delete=models.RESTRICT, related_name="submissions")
    contact = models.ForeignKey("crm.Contact", on_delete=models.CASCADE, related_name="form_submissions")
    visitor = models.ForeignKey(Visitor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    submission_id = models.CharField(max_length=64, help_text="the embed's id of this submission (idempotency)")
    submitted_at = models.DateTimeField()
    page_url = models.CharField(max_length=2000, blank=True)
    created_contact = models.BooleanField(help_text="this submission created the contact")
    data = models.JSONField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["form", "submission_id"], name="submission_unique_id")]
        indexes = [
            models.Index(fields=["account", "submitted_at"]),
            # Covering for a form's submissions in a time window (campaign influenced contacts from an associated
            # form) and for the form-asset report's counts: no submission row is read.
            models.Index(fields=["form", "submitted_at", "contact", "created_contact", "account"],
                         name="submission_form_time"),
        ]
