"""JSON endpoints for companies, contacts and deals: list (cursor-paginated, searchable), create, read,
partial update, delete. Writes go through `touchline.crm.services`, reads through `touchline.crm.selectors`,
exactly as the pages do; related records are referenced by id (`company_id`, `stage_id`, `contact_ids`) and
owners by their email.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from ninja import Router, Schema, Status

from touchline.api.errors import ApiError
from touchline.api.pagination import DEFAULT_LIMIT, paginate
from touchline.crm import selectors, services
from touchline.crm.models import Company, Contact, DealStage, LifecycleStage

router = Router(tags=["CRM"])


# Shared ----------------------------------------------------------------------------------------------------------


def _owner(account, email: str | None):
    if not email:
        return None
    owner = get_user_model().objects.filter(memberships__account=account, email__iexact=email.strip()).first()
    if owner is None:
        raise ApiError(422, "invalid", f"No user with the email {email} in this account.", {"owner_email": "unknown"})
    return owner


def _company(account, company_id: int | None) -> Company | None:
    if company_id is None:
        return None
    company = Company.objects.filter(account=account, pk=company_id).first()
    if company is None:
        raise ApiError(422, "invalid", f"No company {company_id} in this account.", {"company_id": "unknown"})
    return company


# What a PATCH may set to null: references and values that may be empty. A text is emptied with "", and a null
# for anything else (a name, a create date) is refused, not written as a NULL its column refuses (a 500).
PATCH_NULLABLE = {"owner_email", "company_id", "amount", "stage_id", "closed_at", "contact_ids", "other_emails"}


def _service_fields(request, payload: Schema, *, related: dict, patch: bool = False) -> dict:
    """The fields the payload sets, as service keyword arguments. `related` maps a payload reference
    (`company_id`) to the service argument it becomes and the function resolving it in the account."""
    fields = payload.dict(exclude_unset=True)
    if patch and (nulls := sorted(k for k, v in fields.items() if v is None and k not in PATCH_NULLABLE)):
        raise ApiError(422, "invalid", f"{', '.join(nulls)}: cannot be null.", dict.fromkeys(nulls, "cannot be null"))
    for key, (argument, resolve) in related.items():
        if key in fields:
            fields[argument] = resolve(request.account, fields.pop(key))
    return fields


class Page(Schema):
    next_cursor: str | None


# Companies -------------------------------------------------------------------------------------------------------


class CompanyIn(Schema):
    name: str
    domain: str = ""
    industry: str = ""
    owner_email: str | None = None
    external_id: str = ""
    created_at: datetime | None = None


class CompanyPatch(Schema):
    name: str | None = None
    domain: str | None = None
    industry: str | None = None
    owner_email: str | None = None
    external_id: str | None = None
    created_at: datetime | None = None


class CompanyOut(Schema):
    id: int
    name: str
    domain: str
    industry: str
    owner_email: str | None
    external_id: str
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_owner_email(obj) -> str | None:
        return obj.owner.email if obj.owner else None


class CompanyPage(Page):
    items: list[CompanyOut]


COMPANY_RELATED = {"owner_email": ("owner", _owner)}


@router.get("/companies", response=CompanyPage, summary="List companies")
def company_list(request, q: str = "", industry: str = "", cursor: str | None = None, limit: int = DEFAULT_LIMIT):
    params = selectors.ListParams(q=q, filters=(("industry", industry),) if industry else ())
    return paginate(selectors.company_list(request.account, params), cursor=cursor, limit=limit)


@router.post("/companies", response={201: CompanyOut}, summary="Create a company")
def company_create(request, payload: CompanyIn):
    fields = _service_fields(request, payload, related=COMPANY_RELATED)
    return Status(201, services.company_create(account=request.account, **fields))


@router.get("/companies/{company_id}", response=CompanyOut, summary="Read a company")
def company_read(request, company_id: int):
    return selectors.company_get(request.account, company_id)


@router.patch("/companies/{company_id}", response=CompanyOut, summary="Change a company's fields")
def company_patch(request, company_id: int, payload: CompanyPatch):
    company = selectors.company_get(request.account, company_id)
    fields = _service_fields(request, payload, related=COMPANY_RELATED, patch=True)
    return services.company_update(company=company, **fields)


@router.delete("/companies/{company_id}", response={204: None}, summary="Delete a company")
def company_delete(request, company_id: int):
    services.company_delete(company=selectors.company_get(request.account, company_id))
    return Status(204, None)


# Contacts --------------------------------------------------------------------------------------------------------


class ContactIn(Schema):
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    job_title: str = ""
    phone: str = ""
    owner_email: str | None = None
    company_id: int | None = None
    lifecycle_stage: LifecycleStage = LifecycleStage.LEAD
    external_id: str = ""
    created_at: datetime | None = None
    other_emails: list[str] | None = None  # aliases or personal addresses; mail from them is the contact's


class ContactPatch(Schema):
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    job_title: str | None = None
    phone: str | None = None
    owner_email: str | None = None
    company_id: int | None = None
    lifecycle_stage: LifecycleStage | None = None
    external_id: str | None = None
    created_at: datetime | None = None
    other_emails: list[str] | None = None  # replaces the contact's other addresses


class ContactOut(Schema):
    id: int
    email: str
    first_name: str
    last_name: str
    job_title: str
    phone: str
    owner_email: str | None
    company_id: int | None
    lifecycle_stage: str
    original_source: str
    original_source_detail: str
    external_id: str
    created_at: datetime
    updated_at: datetime
    other_emails: list[str]

    @staticmethod
    def resolve_owner_email(obj) -> str | None:
        return obj.owner.email if obj.owner else None

    @staticmethod
    def resolve_other_emails(obj) -> list[str]:
        return sorted(e.email for e in obj.other_emails.all())


class ContactPage(Page):
    items: list[ContactOut]


CONTACT_RELATED = {"owner_email": ("owner", _owner), "company_id": ("company", _company)}


@router.get("/contacts", response=ContactPage, summary="List contacts")
def contact_list(request, q: str = "", lifecycle_stage: str = "", company_id: int | None = None,
                 cursor: str | None = None, limit: int = DEFAULT_LIMIT):
    filters = tuple((k, str(v)) for k, v in (("lifecycle_stage", lifecycle_stage), ("company", company_id)) if v)
    params = selectors.ListParams(q=q, filters=filters)
    return paginate(selectors.contact_list(request.account, params).prefetch_related("other_emails"), cursor=cursor,
                    limit=limit)


@router.post("/contacts", response={201: ContactOut}, summary="Create a contact")
def contact_create(request, payload: ContactIn):
    fields = _service_fields(request, payload, related=CONTACT_RELATED)
    return Status(201, services.contact_create(account=request.account, **fields))


@router.get("/contacts/{contact_id}", response=ContactOut, summary="Read a contact")
def contact_read(request, contact_id: int):
    return selectors.contact_get(request.account, contact_id)


@router.patch("/contacts/{contact_id}", response=ContactOut, summary="Change a contact's fields")
def contact_patch(request, contact_id: int, payload: ContactPatch):
    contact = selectors.contact_get(request.account, contact_id)
    fields = _service_fields(request, payload, related=CONTACT_RELATED, patch=True)
    return services.contact_update(contact=contact, **fields)


@router.delete("/contacts/{contact_id}", response={204: None}, summary="Delete a contact")
def contact_delete(request, contact_id: int):
    services.contact_delete(contact=selectors.contact_get(request.account, contact_id))
    return Status(204, None)


# Deals -----------------------------------------------------------------------------------------------------------


def _stage(account, stage_id: int | None) -> DealStage | None:
    if stage_id is None:
        return None
    stage = DealStage.objects.filter(account=account, pk=stage_id).select_related("pipeline").first()
    if stage is None:
        raise ApiError(422, "invalid", f"No deal stage {stage_id} in this account.", {"stage_id": "unknown"})
    return stage


def _contacts(account, contact_ids: list[int] | None) -> list[Contact]:
    if contact_ids is None:
        return []
    wanted = set(contact_ids)
    found = list(Contact.objects.filter(account=account, pk__in=wanted))
    missing = sorted(wanted - {c.pk for c in found})
    if missing:
        raise ApiError(422, "invalid", f"No contact {', '.join(map(str, missing))} in this account.",
                       {"contact_ids": "unknown"})
    return found


class DealIn(Schema):
    name: str
    amount: Decimal | None = None
    currency: str = "USD"
    stage_id: int | None = None
    owner_email: str | None = None
    company_id: int | None = None
    contact_ids: list[int] = []
    external_id: str = ""
    created_at: datetime | None = None
    closed_at: datetime | None = None


class DealPatch(Schema):
    name: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    stage_id: int | None = None
    owner_email: str | None = None
    company_id: int | None = None
    contact_ids: list[int] | None = None
    external_id: str | None = None
    created_at: datetime | None = None
    closed_at: datetime | None = None


class DealOut(Schema):
    id: int
    name: str
    amount: Decimal | None
    currency: str
    pipeline_id: int
    stage_id: int
    stage: str
    status: str
    owner_email: str | None
    company_id: int | None
    contact_ids: list[int]
    external_id: str
    created_at: datetime
    closed_at: datetime | None
    updated_at: datetime

    @staticmethod
    def resolve_owner_email(obj) -> str | None:
        return obj.owner.email if obj.owner else None

    @staticmethod
    def resolve_stage(obj) -> str:
        return obj.stage.name

    @staticmethod
    def resolve_contact_ids(obj) -> list[int]:
        return sorted(link.contact_id for link in obj.contact_links.all())


class DealPage(Page):
    items: list[DealOut]


DEAL_RELATED = {"owner_email": ("owner", _owner), "company_id": ("company", _company), "stage_id": ("stage", _stage),
                "contact_ids": ("contacts", _contacts)}


def _deal_rows(account):
    return selectors.deal_list(account, selectors.ListParams()).prefetch_related("contact_links")


@router.get("/deals", response=DealPage, summary="List deals")
def deal_list(request, q: str = "", status: str = "", stage_id: int | None = None, cursor: str | None = None,
              limit: int = DEFAULT_LIMIT):
    filters = tuple((k, str(v)) for k, v in (("status", status), ("stage", stage_id)) if v)
    rows = selectors.deal_list(request.account, selectors.ListParams(q=q, filters=filters))
    return paginate(rows.prefetch_related("contact_links"), cursor=cursor, limit=limit)


@router.post("/deals", response={201: DealOut}, summary="Create a deal")
def deal_create(request, payload: DealIn):
    fields = _service_fields(request, payload, related=DEAL_RELATED)
    deal = services.deal_create(account=request.account, **fields)
    return Status(201, _deal_rows(request.account).get(pk=deal.pk))


@router.get("/deals/{deal_id}", response=DealOut, summary="Read a deal")
def deal_read(request, deal_id: int):
    return _deal_rows(request.account).get(pk=deal_id)


@router.patch("/deals/{deal_id}", response=DealOut, summary="Change a deal's fields, move it to a stage")
def deal_patch(request, deal_id: int, payload: DealPatch):
    deal = selectors.deal_get(request.account, deal_id)
    fields = _service_fields(request, payload, related=DEAL_RELATED, patch=True)
    services.deal_update(deal=deal, **fields)
    return _deal_rows(request.account).get(pk=deal_id)


@router.delete("/deals/{deal_id}", response={204: None}, summary="Delete a deal")
def deal_delete(request, deal_id: int):
    services.deal_delete(deal=selectors.deal_get(request.account, deal_id))
    return Status(204, None)
