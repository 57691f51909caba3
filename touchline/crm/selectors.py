"""Reads of companies, contacts and deals: list pages (search, filter, sort) and detail rows.

Every selector takes the account first and returns querysets with their joins done, so templates never
trigger a query per row. Sorting is by whitelisted keys only: a key maps to model fields, and the id breaks
ties so pagination is stable.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from touchline.core.models import Account
from touchline.crm.models import Company, Contact, ContactEmail, Deal, DealStage, Pipeline, normalise_email


@dataclass(frozen=True)
class ListParams:
    """What a list page asks for: free-text search, a sort key (prefix '-' for descending), filters."""

    q: str = ""
    sort: str = ""
    filters: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_mapping(cls, data, filter_keys: tuple[str, ...]) -> ListParams:
        filters = tuple((key, data.get(key, "").strip()) for key in filter_keys if data.get(key, "").strip())
        return cls(q=data.get("q", "").strip(), sort=data.get("sort", "").strip(), filters=filters)

    def filter(self, key: str) -> str:
        return dict(self.filters).get(key, "")


def _order(qs: QuerySet, params: ListParams, sort_keys: dict[str, tuple[str, ...]], default: str) -> QuerySet:
    sort = params.sort if params.sort.lstrip("-") in sort_keys else default
    descending = sort.startswith("-")
    fields = sort_keys[sort.lstrip("-")]
    return qs.order_by(*[f"-{f}" if descending else f for f in fields], "-id" if descending else "id")


CONTACT_SORTS = {
    "name": ("last_name", "first_name"),
    "email": ("email",),
    "company": ("company__name",),
    "stage": ("lifecycle_stage",),
    "created": ("created_at",),
    "owner": ("owner__last_name", "owner__first_name"),
}
CONTACT_FILTERS = ("lifecycle_stage", "owner", "company")


def contact_list(account: Account, params: ListParams) -> QuerySet[Contact]:
    qs = Contact.objects.filter(account=account).select_related("company", "owner")
    if params.q:
        words = params.q.split()
        for word in words:
            other_email = ContactEmail.all_accounts.filter(contact=OuterRef("pk"), email__icontains=word)
            qs = qs.filter(Q(email__icontains=word) | Q(first_name__icontains=word) | Q(last_name__icontains=word)
                           | Q(company__name__icontains=word) | Exists(other_email))
    if stage := params.filter("lifecycle_stage"):
        qs = qs.filter(lifecycle_stage=stage)
    if (owner := params.filter("owner")).isdigit():
        qs = qs.filter(owner_id=int(owner))
    if (company := params.filter("company")).isdigit():
        qs = qs.filter(company_id=int(company))
    return _order(qs, params, CONTACT_SORTS, "-created")


COMPANY_SORTS = {
    "name": ("name",),
    "domain": ("domain",),
    "industry": ("industry",),
    "contacts": ("contact_count",),
    "created": ("created_at",),
}
COMPANY_FILTERS = ("industry", "owner")


def company_list(account: Account, params: ListParams) -> QuerySet[Company]:
    qs = (Company.objects.filter(account=account).select_related("owner")
          .annotate(contact_count=Count("contacts", distinct=True)))
    if params.q:
        qs = qs.filter(Q(name__icontains=params.q) | Q(domain__icontains=params.q))
    if industry := params.filter("industry"):
        qs = qs.filter(industry=industry)
    if (owner := params.filter("owner")).isdigit():
        qs = qs.filter(owner_id=int(owner))
    return _order(qs, params, COMPANY_SORTS, "name")


DEAL_SORTS = {
    "name": ("name",),
    "amount": ("amount",),
    "stage": ("pipeline__name", "stage__position"),
    "company": ("company__name",),
    "created": ("created_at",),
    "closed": ("closed_at",),
}
DEAL_FILTERS = ("status", "stage", "pipeline", "owner")


def deal_list(account: Account, params: ListParams) -> QuerySet[Deal]:
    qs = Deal.objects.filter(account=account).select_related("company", "stage", "pipeline", "owner")
    if params.q:
        qs = qs.filter(Q(name__icontains=params.q) | Q(company__name__icontains=params.q))
    if status := params.filter("status"):
        qs = qs.filter(status=status)
    if (stage := params.filter("stage")).isdigit():
        qs = qs.filter(stage_id=int(stage))
    if (pipeline := params.filter("pipeline")).isdigit():
        qs = qs.filter(pipeline_id=int(pipeline))
    if (owner := params.filter("owner")).isdigit():
        qs = qs.filter(owner_id=int(owner))
    return _order(qs, params, DEAL_SORTS, "-created")


def contact_get(account: Account, pk: int) -> Contact:
    """The contact with its company and owner; raises Contact.DoesNotExist outside the account."""
    return Contact.objects.select_related("company", "owner").get(account=account, pk=pk)


def company_get(account: Account, pk: int) -> Company:
    return Company.objects.select_related("owner").get(account=account, pk=pk)


def deal_get(account: Account, pk: int) -> Deal:
    return Deal.objects.select_related("company", "stage", "pipeline", "owner").get(account=account, pk=pk)


def contact_deals(account: Account, contact: Contact) -> QuerySet[Deal]:
    return (Deal.objects.filter(account=account, contact_links__contact=contact)
            .select_related("stage", "company").order_by("-created_at"))


def company_contacts(account: Account, company: Company) -> QuerySet[Contact]:
    return Contact.objects.filter(account=account, company=company).select_related("owner").order_by("last_name")


def company_deals(account: Account, company: Company) -> QuerySet[Deal]:
    return Deal.objects.filter(account=account, company=company).select_related("stage").order_by("-created_at")


def deal_contacts(account: Account, deal: Deal) -> QuerySet[Contact]:
    return (Contact.objects.filter(account=account, deal_links__deal=deal)
            .select_related("company").order_by("last_name"))


def stages_of_account(account: Account) -> QuerySet[DealStage]:
    return DealStage.objects.filter(account=account).select_related("pipeline").order_by("pipeline__name", "position")


def pipelines_of_account(account: Account) -> QuerySet[Pipeline]:
    return Pipeline.objects.filter(account=account)


def industries_of_account(account: Account) -> list[str]:
    return list(Company.objects.filter(account=account).exclude(industry="").order_by("industry")
                .values_list("industry", flat=True).distinct())



def contact_by_email(account: Account, email: str) -> Contact | None:
    """The account's contact whose primary email or one of whose other addresses is `email`, else None.
    Explicitly scoped by `account`, so public endpoints (forms, booking pages) may call it outside a scope."""
    email = normalise_email(email)
    if not email:
        return None
    contact = Contact.all_accounts.filter(account=account, email=email).first()
    if contact is None:
        other = ContactEmail.all_accounts.filter(account=account, email=email).select_related("contact").first()
        contact = other.contact if other else None
    return contact


def contact_other_emails(contact: Contact) -> list[str]:
    return list(ContactEmail.all_accounts.filter(account_id=contact.account_id, contact=contact)
                .values_list("email", flat=True))
