"""Stored attribution: the unified interaction log, the conversions, and every interaction's credit under every
model and lookback window (docs/attribution.md).

- `Interaction` is one row per credit-earning touch, copied set-based from where each kind is recorded (page views,
  form submissions, sequence clicks and replies, meetings booked) with what campaign crediting needs: the session,
  the page, the form or the sequence. A page view of an anonymous visitor has no contact until the visitor is
  identified; the contact is filled in then, and that contact's conversions are recomputed.
- `Conversion` is a contact created, a deal created or a deal closed won, with its value (1 contact, 1 deal, or
  the deal's amount).
- `Credit` is (conversion, interaction, model, lookback) → weight and, for revenue, money. Reports sum credits; they
  never recompute journeys. Credits are recomputed whenever a conversion's journey or value changes.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from touchline.core.models import AccountOwned


class InteractionType(models.TextChoices):
    """SPEC §3 interaction identifiers (those Touchline records itself)."""

    PAGE_VIEW = "page_view", "Page view"
    FORM_SUBMISSION = "form_submission", "Form submission"
    SEQUENCE_EMAIL_CLICK = "sequence_email_click", "Sequence email click"
    SEQUENCE_REPLY = "sequence_reply", "Sequence reply"
    MEETING_BOOKED = "meeting_booked", "Meeting booked"


class Interaction(AccountOwned):
    source_key = models.CharField(max_length=40, help_text='where it was copied from, e.g. "pv:123", "fs:7"')
    interaction_type = models.CharField(max_length=30, choices=InteractionType.choices)
    occurred_at = models.DateTimeField()
    contact = models.ForeignKey("crm.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    visitor = models.ForeignKey("tracking.Visitor", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="+")
    channel = models.CharField(max_length=20, blank=True, help_text="traffic source of the session (data-driven)")
    session = models.ForeignKey("tracking.WebSession", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="+")
    page = models.CharField(max_length=1000, blank=True)
    form = models.ForeignKey("tracking.Form", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    sequence = models.ForeignKey("sequences.Sequence", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "source_key"], name="interaction_unique_source")]
        indexes = [models.Index(fields=["account", "contact", "occurred_at"]), models.Index(fields=["visitor"]),
                   # Campaign crediting reads an asset's interactions inside its windows (selectors): a page's
                   # views, a form's submissions, a sequence's clicks and replies; UTM traffic goes by session.
                   models.Index(fields=["account", "page", "interaction_type", "occurred_at"],
                                name="interaction_by_page"),
                   models.Index(fields=["form", "occurred_at"], name="interaction_by_form"),
                   models.Index(fields=["sequence", "occurred_at"], name="interaction_by_sequence")]


class Conversion(AccountOwned):
    kind = models.CharField(max_length=20, choices=[("contact_create", "Contact create"),
                                                    ("deal_create", "Deal create"), ("revenue", "Revenue")])
    contact = models.ForeignKey("crm.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    deal = models.ForeignKey("crm.Deal", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    converted_at = models.DateTimeField()
    value = models.DecimalField(max_digits=16, decimal_places=2, help_text="1 contact, 1 deal, or the amount")
    currency = models.CharField(max_length=3, blank=True)
    touches = models.PositiveIntegerField(default=0, help_text="interactions in its full journey (0: unattributed)")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "contact"], condition=models.Q(contact__isnull=False),
                                    name="conversion_unique_contact"),
            models.UniqueConstraint(fields=["kind", "deal"], condition=models.Q(deal__isnull=False),
                                    name="conversion_unique_deal"),
        ]
        indexes = [models.Index(fields=["account", "kind", "converted_at"])]


class Credit(AccountOwned):
    conversion = models.ForeignKey(Conversion, on_delete=models.CASCADE, related_name="credits")
    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE, related_name="credits")
    model = models.CharField(max_length=20)
    lookback_days = models.PositiveIntegerField(help_text="0 = all of the journey")
    # Integers, so sums are exact in SQL on SQLite too (its decimals are floats): a weight in billionths, split
    # like money so a conversion's weights add up to exactly 1,000,000,000; revenue in cents (SPEC rule 4).
    weight_nano = models.BigIntegerField(help_text="weight × 10⁹; a conversion's weights sum to exactly 10⁹")
    amount_cents = models.BigIntegerField(help_text="revenue share in cents; 0 for contact and deal creation")

    class Meta:
        # The campaign reports read the credits of the campaign's interactions under one model and window, from
        # this index alone (it holds every column they read).
        indexes = [models.Index(fields=["account", "model", "lookback_days", "conversion"]),
                   models.Index(fields=["interaction", "model", "lookback_days", "conversion", "account",
                                        "weight_nano", "amount_cents"], name="credit_by_interaction")]


class ChannelEffect(AccountOwned):
    """The data-driven model's removal effect of each channel, learned over the account's journeys of one
    conversion kind within one lookback window (SPEC §3)."""

    kind = models.CharField(max_length=20)
    lookback_days = models.PositiveIntegerField()
    channel = models.CharField(max_length=20)
    removal_effect = models.FloatField()
    fitted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "kind", "lookback_days", "channel"],
                                               name="channel_effect_unique")]
