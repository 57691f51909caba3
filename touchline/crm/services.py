"""Writes to companies, contacts, deals and pipelines.

Every function is keyword-only and takes the account (or an object that carries it). Invariants enforced
here and nowhere else:
- emails are validated and normalised, and unique per account (a duplicate raises ValidationError on `email`);
- a deal's status follows its stage's outcome, and `closed_at` is set when it enters a won/lost stage and
  cleared when it is re-opened;
- every object referenced (owner, company, contacts, stage) belongs to the same account.
Callers: views, API, import, demo data. Raise `django.core.exceptions.ValidationError` with field keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from touchline.core.models import Account, Membership
from touchline.crm.models import (
    Company,
    Contact,
    ContactEmail,
    Deal,
    DealContact,
    DealStage,
    DealStatus,
    LifecycleStage,
    Pipeline,
    TrafficSource,
    normalise_domain,
    normalise_email,
)

# The default pipeline of a new account: (name, outcome, win probability %).
DEFAULT_STAGES: tuple[tuple[str, str, int], ...] = (
    ("Appointment scheduled", DealStatus.OPEN, 20),
    ("Qualified to buy", DealStatus.OPEN, 40),
    ("Presentation scheduled", DealStatus.OPEN, 60),
    ("Decision maker bought-in", DealStatus.OPEN, 80),
    ("Contract sent", DealStatus.OPEN, 90),
    ("Closed won", DealStatus.WON, 100),
    ("Closed lost", DealStatus.LOST, 0),
)

COMPANY_FIELDS = {"name", "domain", "industry", "owner", "external_id", "created_at"}
CONTACT_FIELDS = {"email", "first_name", "last_name", "job_title", "phone", "owner", "company", "lifecycle_stage",
                  "original_source", "original_source_detail", "external_id", "created_at"}
DEAL_FIELDS = {"name", "amount", "currency", "owner", "company", "external_id", "created_at"}
MAX_AMOUNT = Decimal(10) ** (Deal._meta.get_field("amount").max_digits - Deal._meta.get_field("amount").decimal_places)


def _check_owner(account: Account, owner) -> None:
    if owner is not None and not Membership.objects.filter(account=account, user=owner).exists():
        raise ValidationError({"owner": "The owner must be a user of this account."})


def _check_text(obj) -> None:
    """Text fields fit their columns and hold no NUL character: PostgreSQL refuses both (a 500 instead of a
    field error), and SQLite would keep what PostgreSQL cannot."""
    for field in obj._meta.concrete_fields:
        value = getattr(obj, field.attname)
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            raise ValidationError({field.name: "Text may not contain NUL characters."})
        if field.max_length is not None and len(value) > field.max_length:
            raise ValidationError({field.name: f"At most {field.max_length} characters."})


def _check_external_id(obj) -> None:
    if obj.external_id and type(obj).objects.filter(account=obj.account, external_id=obj.external_id).exclude(
            pk=obj.pk).exists():
        raise ValidationError({"external_id": f"Another {obj._meta.verbose_name} already has the external_id "
                                              f"{obj.external_id!r}."})


def _check_same_account(account: Account, obj, field: str) -> None:
    if obj is not None and obj.account_id != account.pk:
        raise ValidationError({field: "Not found in this account."})


def _clean_amount(amount) -> Decimal | None:
    if amount is None or amount == "":
        return None
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise ValidationError({"amount": f"{amount!r} is not a number."}) from None
    if not value.is_finite() or value < 0:
        raise ValidationError({"amount": "The amount must be a non-negative number."})
    if value >= MAX_AMOUNT:  # before quantize, which fails on numbers past its precision
        raise ValidationError({"amount": f"The amount must be less than {MAX_AMOUNT:,}."})
    if value != value.quantize(Decimal("0.01")):
        raise ValidationError({"amount": "The amount has more than two decimal places."})
    return value


def _clean_currency(currency: str) -> str:
    value = (currency or "").strip().upper()
    if len(value) != 3 or not value.isalpha():
        raise ValidationError({"currency": "Use a three-letter ISO 4217 code such as USD or EUR."})
    return value


def _clean_created_at(value: datetime | None) -> datetime:
    if value is None:
        return timezone.now()
    if timezone.is_naive(value):
        raise ValidationError({"created_at": "Give a time zone (e.g. 2025-01-31T09:00:00Z)."})
    return value


# Companies -------------------------------------------------------------------------------------------------------


def _company_validate(company: Company) -> None:
    company.name = company.name.strip()
    if not company.name:
        raise ValidationError({"name": "A company needs a name."})
    company.domain = normalise_domain(company.domain)
    _check_text(company)
    _check_external_id(company)
    _check_owner(company.account, company.owner)


def company_create(*, account: Account, name: str, domain: str = "", industry: str = "", owner=None,
                   external_id: str = "", created_at: datetime | None = None) -> Company:
    company = Company(account=account, name=name, domain=domain, industry=industry.strip(), owner=owner,
                      external_id=external_id.strip(), created_at=_clean_created_at(created_at))
    _company_validate(company)
    company.save()
    return company


def company_update(*, company: Company, **fields) -> Company:
    unknown = set(fields) - COMPANY_FIELDS
    if unknown:
        raise ValidationError({f: "Unknown field." for f in unknown})
    for name, value in fields.items():
        setattr(company, name, value)
    _company_validate(company)
    company.save()
    return company


# Contacts --------------------------------------------------------------------------------------------------------


def _contact_validate(contact: Contact) -> None:
    contact.email = normalise_email(contact.email)
    if contact.email:
        try:
            validate_email(contact.email)
        except ValidationError:
            raise ValidationError({"email": f"{contact.email!r} is not a valid email address."}) from None
        clash = Contact.objects.filter(account=contact.account, email=contact.email).exclude(pk=contact.pk)
        if clash.exists():
            raise ValidationError({"email": f"Another contact already has the email {contact.email}."})
        if ContactEmail.all_accounts.filter(account=contact.account, email=contact.email).exclude(
                contact_id=contact.pk).exists():
            raise ValidationError({"email": f"{contact.email} is another address of a different contact."})
    if contact.lifecycle_stage not in LifecycleStage.values:
        raise ValidationError({"lifecycle_stage": f"Unknown lifecycle stage {contact.lifecycle_stage!r}."})
    if contact.original_source and contact.original_source not in TrafficSource.values:
        raise ValidationError({"original_source": f"Unknown traffic source {contact.original_source!r}."})
    if not (contact.email or contact.first_name.strip() or contact.last_name.strip()):
        raise ValidationError({"email": "A contact needs an email or a name."})
    _check_text(contact)
    _check_external_id(contact)
    _check_owner(contact.account, contact.owner)
    _check_same_account(contact.account, contact.company, "company")


@transaction.atomic
def contact_create(*, account: Account, email: str = "", first_name: str = "", last_name: str = "",
                   job_title: str = "", phone: str = "", owner=None, company: Company | None = None,
                   lifecycle_stage: str = LifecycleStage.LEAD, original_source: str = "",
                   original_source_detail: str = "", external_id: str = "",
                   created_at: datetime | None = None, other_emails: Iterable[str] | None = None) -> Contact:
    """Create a contact. Contacts created by hand, import or API have the `offline` original source unless
    one is given (SPEC §3: offline sources); web tracking sets the source of the first session instead."""
    contact = Contact(
        account=account, email=email, first_name=first_name.strip(), last_name=last_name.strip(),
        job_title=job_title.strip(), phone=phone.strip(), owner=owner, company=company,
        lifecycle_stage=lifecycle_stage, original_source=original_source or TrafficSource.OFFLINE,
        original_source_detail=original_source_detail, external_id=external_id.strip(),
        created_at=_clean_created_at(created_at),
    )
    _contact_validate(contact)
    contact.save()
    if other_emails is not None:
        contact_other_emails_set(contact=contact, emails=other_emails)
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, other_emails: Iterable[str] | None = None, **fields) -> Contact:
    """Change the given fields; `other_emails`, when given, replaces the contact's other addresses."""
    unknown = set(fields) - CONTACT_FIELDS
    if unknown:
        raise ValidationError({f: "Unknown field." for f in unknown})
    for name, value in fields.items():
        setattr(contact, name, value)
    _contact_validate(contact)
    contact.save()
    if other_emails is not None:
        contact_other_emails_set(contact=contact, emails=other_emails)
    elif contact.email:  # an address promoted to primary is no longer one of the others
        ContactEmail.all_accounts.filter(account_id=contact.account_id, contact=contact, email=contact.email).delete()
    return contact


@transaction.atomic
def contact_other_emails_set(*, contact: Contact, emails: Iterable[str]) -> list[str]:
    """Make `emails` the contact's other addresses (aliases, personal addresses): inbound mail, bookings and form
    submissions from any of them are the contact's. Each must be a valid address that is no other contact's
    primary or other address; the contact's own primary email is left out. Answers the stored list, sorted."""
    wanted = sorted({normalise_email(e) for e in emails if normalise_email(e)} - {contact.email})
    errors = []
    for email in wanted:
        try:
            validate_email(email)
        except ValidationError:
            errors.append(f"{email!r} is not a valid email address.")
            continue
        if Contact.all_accounts.filter(account_id=contact.account_id, email=email).exclude(pk=contact.pk).exists():
            errors.append(f"{email} is the email of another contact.")
        elif ContactEmail.all_accounts.filter(account_id=contact.account_id, email=email).exclude(
                contact=contact).exists():
            errors.append(f"{email} is another address of a different contact.")
    if errors:
        raise ValidationError({"other_emails": errors})
    current = ContactEmail.all_accounts.filter(account_id=contact.account_id, contact=contact)
    current.exclude(email__in=wanted).delete()
    kept = set(current.values_list("email", flat=True))
    ContactEmail.all_accounts.bulk_create(ContactEmail(account_id=contact.account_id, contact=contact, email=email)
                                          for email in wanted if email not in kept)
    return wanted


# Pipelines and deals ---------------------------------------------------------------------------------------------


@transaction.atomic
def pipeline_default(*, account: Account) -> Pipeline:
    """The account's default pipeline, created with HubSpot's standard sales stages if it has none."""
    pipeline = Pipeline.objects.filter(account=account, is_default=True).first()
    if pipeline is not None:
        return pipeline
    pipeline = Pipeline.objects.create(account=account, name="Sales pipeline", is_default=True)
    DealStage.objects.bulk_create(
        DealStage(account=account, pipeline=pipeline, name=name, position=i, outcome=outcome, probability=prob)
        for i, (name, outcome, prob) in enumerate(DEFAULT_STAGES)
    )
    return pipeline


def _apply_stage(deal: Deal, stage: DealStage, at: datetime | None) -> None:
    if stage.pipeline_id != deal.pipeline_id:
        raise ValidationError({"stage": f"The stage {stage.name!r} is not in the pipeline {deal.pipeline.name!r}."})
    was_open = deal.status == DealStatus.OPEN
    deal.stage = stage
    deal.status = stage.outcome
    if stage.outcome == DealStatus.OPEN:
        deal.closed_at = None
    elif was_open or deal.closed_at is None or at is not None:
        deal.closed_at = at or timezone.now()
    if deal.closed_at is not None and deal.closed_at < deal.created_at:
        raise ValidationError({"closed_at": "A deal cannot close before it was created."})


def _set_contacts(deal: Deal, contacts: Iterable[Contact]) -> None:
    wanted = {c.pk: c for c in contacts}
    for contact in wanted.values():
        _check_same_account(deal.account, contact, "contacts")
    DealContact.objects.filter(deal=deal).exclude(contact_id__in=wanted).delete()
    existing = set(DealContact.objects.filter(deal=deal).values_list("contact_id", flat=True))
    DealContact.objects.bulk_create(
        DealContact(account=deal.account, deal=deal, contact=c) for pk, c in wanted.items() if pk not in existing
    )


@transaction.atomic
def deal_create(*, account: Account, name: str, amount=None, currency: str = "USD",
                pipeline: Pipeline | None = None, stage: DealStage | None = None, owner=None,
                company: Company | None = None, contacts: Iterable[Contact] = (), external_id: str = "",
                created_at: datetime | None = None, closed_at: datetime | None = None) -> Deal:
    """Create a deal in `stage` (default: the pipeline's first stage). A deal created in a won/lost stage
    closes at `closed_at` (default now)."""
    pipeline = pipeline or (stage.pipeline if stage else pipeline_default(account=account))
    _check_same_account(account, pipeline, "pipeline")
    stage = stage or pipeline.stages.order_by("position").first()
    _check_same_account(account, stage, "stage")
    if not name.strip():
        raise ValidationError({"name": "A deal needs a name."})
    _check_owner(account, owner)
    _check_same_account(account, company, "company")
    deal = Deal(account=account, name=name.strip(), amount=_clean_amount(amount), currency=_clean_currency(currency),
                pipeline=pipeline, owner=owner, company=company, external_id=external_id.strip(),
                created_at=_clean_created_at(created_at))
    # A deal created straight into a won/lost stage closed when it was created, unless told otherwise.
    _apply_stage(deal, stage, closed_at or deal.created_at)
    _check_text(deal)
    _check_external_id(deal)
    deal.save()
    _set_contacts(deal, contacts)
    return deal


@transaction.atomic
def deal_update(*, deal: Deal, stage: DealStage | None = None, closed_at: datetime | None = None,
                contacts: Iterable[Contact] | None = None, **fields) -> Deal:
    """Change a deal's fields; moving it to `stage` closes or re-opens it (`closed_at` default now)."""
    unknown = set(fields) - DEAL_FIELDS
    if unknown:
        raise ValidationError({f: "Unknown field." for f in unknown})
    if "amount" in fields:
        fields["amount"] = _clean_amount(fields["amount"])
    if "currency" in fields:
        fields["currency"] = _clean_currency(fields["currency"])
    for name, value in fields.items():
        setattr(deal, name, value)
    if not deal.name.strip():
        raise ValidationError({"name": "A deal needs a name."})
    _check_owner(deal.account, deal.owner)
    _check_same_account(deal.account, deal.company, "company")
    if stage is not None:
        _check_same_account(deal.account, stage, "stage")
        _apply_stage(deal, stage, closed_at)
    elif closed_at is not None:
        if deal.status == DealStatus.OPEN:
            raise ValidationError({"closed_at": "An open deal has no close date."})
        deal.closed_at = closed_at
    _check_text(deal)
    _check_external_id(deal)
    deal.save()
    if contacts is not None:
        _set_contacts(deal, contacts)
    return deal


# Deletion --------------------------------------------------------------------------------------------------------


@transaction.atomic
def company_delete(*, company: Company) -> None:
    """Delete a company; its contacts and deals stay, without a company."""
    company.delete()


@transaction.atomic
def contact_delete(*, contact: Contact) -> None:
    """Delete a contact and its deal associations; the deals stay."""
    contact.delete()


@transaction.atomic
def deal_delete(*, deal: Deal) -> None:
    deal.delete()
