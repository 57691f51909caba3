"""Companies, contacts, deals and their pipelines.

Invariants kept here (services keep the rest):
- a contact's email is stored lower-cased and trimmed, and is unique per account when present;
- a deal's `status` mirrors its stage's outcome (open / won / lost), and `closed_at` is set exactly when the
  deal is won or lost;
- `external_id` is the key imports use to stay idempotent (unique per account and object type when set).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from touchline.core.models import AccountOwned


class TrafficSource(models.TextChoices):
    """The stable traffic-source identifiers of SPEC §3."""

    ORGANIC_SEARCH = "organic_search", "Organic search"
    PAID_SEARCH = "paid_search", "Paid search"
    ORGANIC_SOCIAL = "organic_social", "Organic social"
    PAID_SOCIAL = "paid_social", "Paid social"
    EMAIL_MARKETING = "email_marketing", "Email marketing"
    REFERRALS = "referrals", "Referrals"
    OTHER_CAMPAIGNS = "other_campaigns", "Other campaigns"
    DIRECT = "direct", "Direct traffic"
    AI_REFERRALS = "ai_referrals", "AI referrals"
    OFFLINE = "offline", "Offline sources"


class LifecycleStage(models.TextChoices):
    SUBSCRIBER = "subscriber", "Subscriber"
    LEAD = "lead", "Lead"
    MQL = "marketing_qualified_lead", "Marketing qualified lead"
    SQL = "sales_qualified_lead", "Sales qualified lead"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    EVANGELIST = "evangelist", "Evangelist"
    OTHER = "other", "Other"


def normalise_email(email: str | None) -> str:
    return (email or "").strip().lower()


def normalise_domain(domain: str | None) -> str:
    value = (domain or "").strip().lower()
    for prefix in ("https://", "http://"):
        value = value.removeprefix(prefix)
    return value.split("/", 1)[0].removeprefix("www.")


class Company(AccountOwned):
    name = models.CharField(max_length=255)
    domain = models.CharField(max_length=255, blank=True, db_index=True)
    industry = models.CharField(max_length=100, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    external_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "external_id"], condition=~Q(external_id=""),
                                    name="company_unique_external_id"),
        ]
        indexes = [models.Index(fields=["account", "name"])]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.domain = normalise_domain(self.domain)
        super().save(*args, **kwargs)


class Contact(AccountOwned):
    email = models.CharField(max_length=254, blank=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts")
    lifecycle_stage = models.CharField(max_length=30, choices=LifecycleStage.choices, default=LifecycleStage.LEAD)
    original_source = models.CharField(max_length=20, choices=TrafficSource.choices, blank=True)
    original_source_detail = models.CharField(max_length=255, blank=True)
    external_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "email"], condition=~Q(email=""),
                                    name="contact_unique_email"),
            models.UniqueConstraint(fields=["account", "external_id"], condition=~Q(external_id=""),
                                    name="contact_unique_external_id"),
        ]
        indexes = [
            models.Index(fields=["account", "created_at"]),
            models.Index(fields=["account", "last_name", "first_name"]),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or f"Contact {self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def save(self, *args, **kwargs):
        self.email = normalise_email(self.email)
        super().save(*args, **kwargs)



class ContactEmail(AccountOwned):
    """Another address of a contact (an alias, a personal address): mail from it is the contact's (SPEC §1: replies
    count from an alias or another address of the contact). Unique in the account, and never another contact's
    primary email — `crm.services` checks both ways."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="other_emails")
    email = models.CharField(max_length=254)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(fields=["account", "email"], name="contact_email_unique")]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs):
        self.email = normalise_email(self.email)
        super().save(*args, **kwargs)

class Pipeline(AccountOwned):
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="pipeline_unique_name")]

    def __str__(self) -> str:
        return self.name


class DealStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Closed won"
    LOST = "lost", "Closed lost"


class DealStage(AccountOwned):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=10, choices=DealStatus.choices, default=DealStatus.OPEN)
    probability = models.PositiveSmallIntegerField(default=0, help_text="Win probability, in percent")

    class Meta:
        ordering = ["pipeline", "position"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "name"], name="dealstage_unique_name"),
            models.UniqueConstraint(fields=["pipeline", "position"], name="dealstage_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline.name}: {self.name}"


class Deal(AccountOwned):
    name = models.CharField(max_length=255)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.RESTRICT, related_name="deals")
    stage = models.ForeignKey(DealStage, on_delete=models.RESTRICT, related_name="deals")
    status = models.CharField(max_length=10, choices=DealStatus.choices, default=DealStatus.OPEN)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals")
    contacts = models.ManyToManyField(Contact, through="DealContact", related_name="deals", blank=True)
    external_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "external_id"], condition=~Q(external_id=""),
                                    name="deal_unique_external_id"),
            models.CheckConstraint(
                condition=(Q(status=DealStatus.OPEN, closed_at__isnull=True)
                           | (~Q(status=DealStatus.OPEN) & Q(closed_at__isnull=False))),
                name="deal_closed_at_matches_status",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "status", "closed_at"]),
            models.Index(fields=["account", "created_at"]),
        ]

    def __str__(self) -> str:
        return self.name


class DealContact(AccountOwned):
    """Association of a contact with a deal (a deal's journey is the union of its contacts' interactions)."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="contact_links")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="deal_links")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deal", "contact"], name="dealcontact_unique")]
