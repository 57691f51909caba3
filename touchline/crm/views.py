"""CRM pages: lists (search, filter, sort, pagination), detail pages with a timeline, create and edit forms.

Views parse, call one selector or service, and render; htmx requests get only the table partial.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from touchline.crm import selectors, services
from touchline.crm.forms import CompanyForm, ContactForm, DealForm
from touchline.crm.models import DealStatus, LifecycleStage
from touchline.crm.timeline import timeline_for

PAGE_SIZE = 50


def _list_page(request, *, selector, filter_keys, template: str, context: dict):
    params = selectors.ListParams.from_mapping(request.GET, filter_keys)
    page = Paginator(selector(request.account, params), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = query.copy()
    sort_query.pop("sort", None)
    context |= {"page": page, "params": params, "query": query.urlencode(), "sort_query": sort_query.urlencode()}
    if request.htmx:
        return render(request, f"{template.removesuffix('.html')}_table.html", context)
    return render(request, template, context)


def _get_or_404(getter, account, pk):
    try:
        return getter(account, pk)
    except ObjectDoesNotExist:
        raise Http404 from None


def _save_form(request, form, write, *, success_message: str):
    """Validate the form, run the service `write(cleaned_data)`; a service ValidationError becomes form errors."""
    if not form.is_valid():
        return None
    try:
        obj = write(form.cleaned_data)
    except ValidationError as error:
        for field, messages_ in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages_)
        return None
    messages.success(request, success_message)
    return obj


# Contacts --------------------------------------------------------------------------------------------------------


@login_required
def contact_list(request):
    return _list_page(request, selector=selectors.contact_list, filter_keys=selectors.CONTACT_FILTERS,
                      template="crm/contact_list.html", context={"lifecycle_stages": LifecycleStage.choices})


@login_required
def contact_detail(request, contact_id: int):
    contact = _get_or_404(selectors.contact_get, request.account, contact_id)
    return render(request, "crm/contact_detail.html", {
        "contact": contact,
        "other_emails": selectors.contact_other_emails(contact),
        "deals": selectors.contact_deals(request.account, contact),
        "timeline": timeline_for(request.account, contact),
    })


def _contact_fields(data: dict) -> dict:
    return {key: data[key] for key in ("email", "first_name", "last_name", "job_title", "phone", "owner", "company",
                                       "lifecycle_stage", "other_emails")}


@login_required
def contact_create(request):
    form = ContactForm(request.POST or None, account=request.account)
    if request.method == "POST":
        contact = _save_form(request, form, lambda d: services.contact_create(account=request.account,
                                                                              **_contact_fields(d)),
                             success_message="Contact created.")
        if contact:
            return redirect("crm:contact-detail", contact_id=contact.pk)
    return render(request, "crm/form.html", {"form": form, "title": "New contact",
                                             "cancel_url": reverse("crm:contact-list")})


@login_required
def contact_edit(request, contact_id: int):
    contact = _get_or_404(selectors.contact_get, request.account, contact_id)
    initial = {**{f: getattr(contact, f) for f in ("email", "first_name", "last_name", "job_title", "phone",
                                                   "owner", "lifecycle_stage")},
               "company": contact.company.name if contact.company else "",
               "other_emails": ", ".join(selectors.contact_other_emails(contact))}
    form = ContactForm(request.POST or None, account=request.account, initial=initial)
    if request.method == "POST" and _save_form(
            request, form, lambda d: services.contact_update(contact=contact, **_contact_fields(d)),
            success_message="Contact saved."):
        return redirect("crm:contact-detail", contact_id=contact.pk)
    return render(request, "crm/form.html", {"form": form, "title": f"Edit {contact}",
                                             "cancel_url": reverse("crm:contact-detail", args=[contact_id])})


# Companies -------------------------------------------------------------------------------------------------------


@login_required
def company_list(request):
    return _list_page(request, selector=selectors.company_list, filter_keys=selectors.COMPANY_FILTERS,
                      template="crm/company_list.html",
                      context={"industries": selectors.industries_of_account(request.account)})


@login_required
def company_detail(request, company_id: int):
    company = _get_or_404(selectors.company_get, request.account, company_id)
    return render(request, "crm/company_detail.html", {
        "company": company,
        "contacts": selectors.company_contacts(request.account, company)[:100],
        "deals": selectors.company_deals(request.account, company)[:100],
        "timeline": timeline_for(request.account, company),
    })


def _company_fields(data: dict) -> dict:
    return {key: data[key] for key in ("name", "domain", "industry", "owner")}


@login_required
def company_create(request):
    form = CompanyForm(request.POST or None, account=request.account)
    if request.method == "POST":
        company = _save_form(request, form, lambda d: services.company_create(account=request.account,
                                                                              **_company_fields(d)),
                             success_message="Company created.")
        if company:
            return redirect("crm:company-detail", company_id=company.pk)
    return render(request, "crm/form.html", {"form": form, "title": "New company",
                                             "cancel_url": reverse("crm:company-list")})


@login_required
def company_edit(request, company_id: int):
    company = _get_or_404(selectors.company_get, request.account, company_id)
    initial = {f: getattr(company, f) for f in ("name", "domain", "industry", "owner")}
    form = CompanyForm(request.POST or None, account=request.account, initial=initial)
    if request.method == "POST" and _save_form(
            request, form, lambda d: services.company_update(company=company, **_company_fields(d)),
            success_message="Company saved."):
        return redirect("crm:company-detail", company_id=company.pk)
    return render(request, "crm/form.html", {"form": form, "title": f"Edit {company}",
                                             "cancel_url": reverse("crm:company-detail", args=[company_id])})


# Deals -----------------------------------------------------------------------------------------------------------


@login_required
def deal_list(request):
    return _list_page(request, selector=selectors.deal_list, filter_keys=selectors.DEAL_FILTERS,
                      template="crm/deal_list.html",
                      context={"statuses": DealStatus.choices,
                               "stages": selectors.stages_of_account(request.account)})


@login_required
def deal_detail(request, deal_id: int):
    deal = _get_or_404(selectors.deal_get, request.account, deal_id)
    return render(request, "crm/deal_detail.html", {
        "deal": deal,
        "contacts": selectors.deal_contacts(request.account, deal),
        "timeline": timeline_for(request.account, deal),
    })


def _deal_fields(data: dict) -> dict:
    return {"name": data["name"], "amount": data["amount"], "currency": data["currency"], "owner": data["owner"],
            "company": data["company"], "stage": data["stage"], "contacts": data["contact_emails"]}


@login_required
def deal_create(request):
    form = DealForm(request.POST or None, account=request.account)
    if request.method == "POST":
        deal = _save_form(request, form, lambda d: services.deal_create(account=request.account,
                                                                        **_deal_fields(d)),
                          success_message="Deal created.")
        if deal:
            return redirect("crm:deal-detail", deal_id=deal.pk)
    return render(request, "crm/form.html", {"form": form, "title": "New deal",
                                             "cancel_url": reverse("crm:deal-list")})


@login_required
def deal_edit(request, deal_id: int):
    deal = _get_or_404(selectors.deal_get, request.account, deal_id)
    initial = {"name": deal.name, "amount": deal.amount, "currency": deal.currency, "owner": deal.owner,
               "stage": deal.stage, "company": deal.company.name if deal.company else "",
               "contact_emails": ", ".join(c.email for c in selectors.deal_contacts(request.account, deal) if c.email)}
    form = DealForm(request.POST or None, account=request.account, initial=initial)
    if request.method == "POST" and _save_form(
            request, form, lambda d: services.deal_update(deal=deal, **_deal_fields(d)),
            success_message="Deal saved."):
        return redirect("crm:deal-detail", deal_id=deal.pk)
    return render(request, "crm/form.html", {"form": form, "title": f"Edit {deal}",
                                             "cancel_url": reverse("crm:deal-detail", args=[deal_id])})
