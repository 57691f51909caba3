"""Campaigns, their assets and the timestamped associations between them, and tracking URLs.

An asset exists once per account (a page, a form, a sequence…) and may be associated with several campaigns.
Each association has `associated_at` and, once removed, `removed_at`: campaign metrics count an asset's data
only inside that window (SPEC §2), and associating it again opens a new window rather than back-filling the
gap (docs/campaigns.md).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from touchline.core.models import AccountOwned


class AssetType(models.TextChoices):
    """SPEC §3 stable asset-type identifiers."""

    LANDING_PAGE = "landing_page", "Landing page"
    WEBSITE_PAGE = "website_page", "Website page"
    BLOG_POST = "blog_post", "Blog post"
    FORM = "form", "Form"
    MARKETING_EMAIL = "marketing_email", "Marketing email"
    CTA = "cta", "CTA"
    AD = "ad", "Ad"
    SOCIAL_POST = "social_post", "Social post"
    SEQUENCE = "sequence", "Sequence"
    STATIC_LIST = "static_list", "Static list"
    WORKFLOW = "workflow", "Workflow"
    TRACKING_URL = "tracking_url", "Tracking URL"


# Asset types identified by a page of the site: their page views are the asset's views.
PAGE_TYPES = (AssetType.LANDING_PAGE, AssetType.WEBSITE_PAGE, AssetType.BLOG_POST)


def page_key(url: str) -> str:
    """What identifies a page: lower-case host without www., and the path without a trailing slash or query —
    the same value `tracking.PageView.page` stores, so a page asset matches its views by equality."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    path = parts.path.rstrip("/") or "/"
    return f"{host}{path}"


class Campaign(AccountOwned):
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    utm_campaign = models.CharField(
        max_length=100, help_text="the utm_campaign value of this campaign's traffic (unique in the account)")
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    budget = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    notes = models.TextField(blank=True)
    goal_sessions = models.PositiveIntegerField(null=True, blank=True)
    goal_new_contacts = models.PositiveIntegerField(null=True, blank=True)
    goal_influenced_contacts = models.PositiveIntegerField(null=True, blank=True)
    goal_revenue = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    archived_at = models.DateTimeField(null=True, blank=True)
    rollup_time_zone = models.CharField(
        max_length=64, blank=True, editable=False,
        help_text="the zone CampaignSession.started_on is in (the account's at the last rebuild); reports read "
        "started_on only while it is still the account's zone")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "utm_campaign"], name="campaign_unique_utm"),
            models.CheckConstraint(condition=Q(end_date__isnull=True) | Q(start_date__isnull=True)
                                   | Q(end_date__gte=models.F("start_date")), name="campaign_dates_in_order"),
        ]

    def __str__(self) -> str:
        return self.name


class Asset(AccountOwned):
    """Something a campaign can be credited through. Pages are identified by `page` (see page_key); forms and
    sequences point at their Touchline object; the other types are records of things that live elsewhere
    (ads, social posts…) whose interactions arrive by import or API."""

    asset_type = models.CharField(max_length=20, choices=AssetType.choices)
    name = models.CharField(max_length=300)
    url = models.CharField(max_length=2000, blank=True)
    page = models.CharField(max_length=1000, blank=True, help_text="page_key(url) for page and tracking-URL types")
    form = models.OneToOneField("tracking.Form", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="asset")
    sequence = models.OneToOneField("sequences.Sequence", null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="asset")
    external_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["asset_type", "name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "asset_type", "page"], condition=Q(page__gt="")
                                    & ~Q(asset_type="tracking_url"), name="asset_unique_page"),
            models.UniqueConstraint(fields=["account", "external_id"], condition=~Q(external_id=""),
                                    name="asset_unique_external_id"),
        ]
        indexes = [models.Index(fields=["account", "page"])]

    def __str__(self) -> str:
        return self.name


class Association(AccountOwned):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="associations")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="associations")
    associated_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)
    associated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+")

    class Meta:
        ordering = ["associated_at"]
        constraints = [
            # At most one open window per campaign and asset.
            models.UniqueConstraint(fields=["campaign", "asset"], condition=Q(removed_at__isnull=True),
                                    name="association_one_open"),
            models.CheckConstraint(condition=Q(removed_at__isnull=True) | Q(removed_at__gte=models.F("associated_at")),
                                   name="association_window_in_order"),
        ]
        indexes = [models.Index(fields=["campaign", "asset"])]


class TrackingUrl(AccountOwned):
    """A page URL with the campaign's UTM values, handed out in emails, ads and posts. Its asset (type
    tracking_url) is associated with the campaign when it is created."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="tracking_urls")
    asset = models.OneToOneField(Asset, on_delete=models.CASCADE, related_name="tracking_url")
    page_url = models.CharField(max_length=2000)
    utm_source = models.CharField(max_length=100)
    utm_medium = models.CharField(max_length=100)
    utm_term = models.CharField(max_length=100, blank=True)
    utm_content = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    @property
    def full_url(self) -> str:
        return tracking_url_build(page_url=self.page_url, utm_campaign=self.campaign.utm_campaign,
                                  utm_source=self.utm_source, utm_medium=self.utm_medium, utm_term=self.utm_term,
                                  utm_content=self.utm_content)


def tracking_url_build(*, page_url: str, utm_campaign: str, utm_source: str, utm_medium: str, utm_term: str = "",
                       utm_content: str = "") -> str:
    """The page URL with the UTM parameters added (keeping its own query and fragment)."""
    parts = urlsplit(page_url)
    utm = {"utm_campaign": utm_campaign, "utm_source": utm_source, "utm_medium": utm_medium,
           "utm_term": utm_term, "utm_content": utm_content}
    query = "&".join(q for q in (parts.query, urlencode({k: v for k, v in utm.items() if v})) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class CampaignSession(AccountOwned):
    """Rollup: the sessions that belong to a campaign (SPEC §3 campaign crediting), kept as they happen — a
    session landing with the campaign's utm_campaign, or viewing an associated page inside its window — and
    rebuilt for the campaign whenever its associations or UTM value change (services.campaign_sessions_rebuild).
    Reports read it instead of testing every session of the account; tests prove it equals the definition."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    session = models.ForeignKey("tracking.WebSession", on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField(help_text="the session's start, for date ranges")
    started_on = models.DateField(null=True, help_text="the session's start day in the campaign's "
                                  "rollup_time_zone, so the daily chart groups without converting each row")
    contact = models.ForeignKey("crm.Contact", null=True, on_delete=models.SET_NULL, related_name="+",
                                db_index=False, help_text="the contact of the session's visitor, kept when the "
                                "visitor is identified (services.campaign_sessions_identify)")
    touched_at = models.DateTimeField(null=True, help_text="the session's first touch of the campaign: its start, "
                                      "or an earlier view of an associated page inside its window (a late hit can "
                                      "predate its session's start) — what influenced contacts take the minimum of")
    # The session's own columns the Traffic report groups and sums, copied so it reads the campaign's rows through
    # one covering index instead of every UTM session and its visitor: a session's source and first-ness never
    # change; page_views follows the session's as views are recorded (services.campaign_sessions_note).
    landed = models.BooleanField(default=False, help_text="the session landed with the campaign's utm_campaign "
                                 "(the Traffic report's sessions)")
    source = models.CharField(max_length=20, blank=True)
    source_detail = models.CharField(max_length=255, blank=True)
    source_subdetail = models.CharField(max_length=255, blank=True)
    page_views = models.PositiveIntegerField(default=0)
    is_first = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "session"], name="campaign_session_unique")]
        indexes = [
            # Covering for the Overview count (range on started_at) and the chart (grouped by started_on).
            models.Index(fields=["campaign", "started_at", "started_on"], name="campaign_session_start"),
            # The campaign's sessions of identified visitors, for its contact sets (a few percent of its rows).
            models.Index(fields=["campaign", "contact", "started_at", "session", "touched_at"],
                         name="campaign_session_contacts", condition=models.Q(contact__isnull=False)),
            # Covering for the Traffic report (landed is read from it too): its sessions in source (and detail) order,
            # with their range column and sums — no sort, no row read.
            models.Index(fields=["account", "campaign", "source", "source_detail", "source_subdetail", "started_at",
                                 "page_views", "is_first", "contact", "landed"], name="campaign_session_traffic",
                         condition=models.Q(landed=True)),
        ]


class CampaignDay(AccountOwned):
    """Rollup: how many of the campaign's sessions started on each day in its rollup_time_zone — the CampaignSession
    rows counted by started_on, kept with them (services.campaign_sessions_note, campaign_sessions_rebuild). Ranges
    are whole local days (core.timeframes), so the Overview's sessions and the chart's series read a few hundred
    rows instead of every session of the campaign."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    sessions = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "day"], name="campaign_day_unique")]
        indexes = [models.Index(fields=["campaign", "day", "sessions"], name="campaign_day_sessions")]


class PageTotal(AccountOwned):
    """Rollup: each page's views and sessions over its whole history (the page-asset reports), counted as views
    are recorded (services.page_rollups_note) instead of counting the page's views at report time; rebuilt by
    services.page_rollups_rebuild. Per site, because a site's views go when the site does."""

    site = models.ForeignKey("tracking.Site", on_delete=models.CASCADE, related_name="+")
    page = models.CharField(max_length=1000)
    views = models.PositiveBigIntegerField(default=0)
    sessions = models.PositiveBigIntegerField(default=0, help_text="sessions with at least one view of the page")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "page"], name="page_total_unique")]
        indexes = [models.Index(fields=["account", "page", "views", "sessions"], name="page_total_page")]


class PageVisitor(AccountOwned):
    """Rollup: the pages each identified visitor has viewed, with the visitor's contact (followed when the visitor
    is identified or moves to another contact), so a page's contacts are counted from its few identified
    visitors instead of looking up the visitor of each of its views. Anonymous visitors have no rows."""

    visitor = models.ForeignKey("tracking.Visitor", on_delete=models.CASCADE, related_name="+")
    page = models.CharField(max_length=1000)
    contact = models.ForeignKey("crm.Contact", on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["visitor", "page"], name="page_visitor_unique")]
        indexes = [models.Index(fields=["account", "page", "contact"], name="page_visitor_contacts")]


class ContactLastTouch(AccountOwned):
    """Rollup: each contact's last interaction at or before its creation (SPEC §2 new contacts, last touch) — a page
    view, a form submission, or a human click or reply in a sequence — whichever campaign it credits. Kept as
    interactions are recorded and visitors identified, recomputed for a contact whose creation time changes
    (services.last_touch_note, last_touch_recompute), rebuilt by services.last_touch_rebuild. Last-touch new
    contacts are then the rows pointing at one of the campaign's sessions, or at an associated form or sequence
    inside its window, instead of every interaction of every contact the campaign touched ranked at report time."""

    contact = models.OneToOneField("crm.Contact", on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    rank = models.PositiveSmallIntegerField(help_text="analytics.RANK_*: at one instant a submission follows the "
                                            "view it was made on, a sequence event sits between them")
    ref = models.BigIntegerField(help_text="the interaction's id in its table: the later recorded wins a tie")
    session = models.ForeignKey("tracking.WebSession", null=True, on_delete=models.CASCADE, related_name="+",
                                help_text="a page view's session")
    form = models.ForeignKey("tracking.Form", null=True, on_delete=models.CASCADE, related_name="+", db_index=False)
    sequence = models.ForeignKey("sequences.Sequence", null=True, on_delete=models.CASCADE, related_name="+",
                                 db_index=False)
    created_at = models.DateTimeField(help_text="the contact's creation, which the report's range filters")

    class Meta:
        indexes = [
            models.Index(fields=["form", "at", "contact", "created_at"], name="last_touch_form",
                         condition=models.Q(form__isnull=False)),
            models.Index(fields=["sequence", "at", "contact", "created_at"], name="last_touch_sequence",
                         condition=models.Q(sequence__isnull=False)),
        ]


class ContactFirstSession(AccountOwned):
    """Rollup: each identified contact's first session — the earliest by start (then id) of all its visitors'
    sessions, the one that first brought it to the site (SPEC §2 new contacts, first touch) — with the contact's
    creation time. Kept as sessions start and visitors are identified (services.first_session_note,
    first_session_identify), rebuilt by services.first_session_rebuild. First-touch new contacts are then the
    campaign's sessions of identified visitors that are their contact's first, started by its creation."""

    contact = models.OneToOneField("crm.Contact", on_delete=models.CASCADE, related_name="+")
    session = models.ForeignKey("tracking.WebSession", on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField()
    created_at = models.DateTimeField(help_text="the contact's creation (followed when the contact is saved)")
