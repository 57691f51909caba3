"""Campaign pages: list, create and edit, assets and tracking URLs, and the Performance tab."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from touchline.campaigns import selectors, services
from touchline.campaigns.forms import (
    CampaignForm,
    ExternalAssetForm,
    ObjectAssetForm,
    PageAssetForm,
    TrackingUrlForm,
)
from touchline.campaigns.models import AssetType, Association
from touchline.core.models import Plan
from touchline.reports.pipeline import Param, report_get
from touchline.reports.queries.campaign_performance import CAMPAIGN_PARAMS
from touchline.reports.views import composite_sections, filter_fields
from touchline.sequences.models import Sequence
from touchline.tracking.models import Form


def _errors_to_form(form, error: ValidationError) -> None:
    for field, field_messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, field_messages)


def _campaign(request, campaign_id: int):
    campaign = selectors.campaign_get(request.account, campaign_id)
    if campaign is None:
        raise Http404("No such campaign")
    return campaign


@login_required
def campaign_list(request):
    return render(request, "campaigns/campaign_list.html", {"campaigns": selectors.campaigns_of(request.account),
                                                            "section": "campaigns"})


@login_required
def campaign_create(request):
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services.campaign_create(account=request.account, owner=request.user, **form.cleaned_data)
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            messages.success(request, "Campaign created: associate its assets and create tracking URLs.")
            return redirect("campaigns:detail", campaign_id=campaign.pk)
    return render(request, "campaigns/campaign_form.html", {"form": form, "title": "New campaign",
                                                            "section": "campaigns"})


@login_required
def campaign_edit(request, campaign_id: int):
    campaign = _campaign(request, campaign_id)
    initial = {name: getattr(campaign, name) for name in CampaignForm.base_fields}
    form = CampaignForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.campaign_update(campaign=campaign, **form.cleaned_data)
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            messages.success(request, "Campaign saved.")
            return redirect("campaigns:detail", campaign_id=campaign.pk)
    return render(request, "campaigns/campaign_form.html", {"form": form, "title": f"Edit {campaign.name}",
                                                            "section": "campaigns"})


def _add_asset(request, campaign, action: str, forms: dict):
    """Handle one of the detail page's add forms; returns True once the asset is associated."""
    account = request.account
    form = forms[action]
    if not form.is_valid():
        return False
    data = form.cleaned_data
    try:
        if action == "page":
            asset = services.page_asset_get_or_create(account=account, url=data["url"],
                                                      asset_type=data["asset_type"], name=data["name"])
        elif action == "object":
            kind, _, pk = data["asset"].partition(":")
            if kind == "form":
                asset = services.form_asset(form=get_object_or_404(Form.objects.filter(account=account), pk=pk))
            else:
                asset = services.sequence_asset(
                    sequence=get_object_or_404(Sequence.objects.filter(account=account), pk=pk))
        elif action == "external":
            asset = services.external_asset_create(account=account, **data)
        else:
            services.tracking_url_create(campaign=campaign, by=request.user, **data)
            messages.success(request, "Tracking URL created.")
            return True
        services.association_add(campaign=campaign, asset=asset, by=request.user)
    except ValidationError as error:
        _errors_to_form(form, error)
        return False
    messages.success(request, f"{asset.name} associated; its data counts for the campaign from now on.")
    return True


@login_required
def campaign_detail(request, campaign_id: int):
    campaign = _campaign(request, campaign_id)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    bound = {name: (request.POST if action == name else None) for name in ("page", "object", "external", "url")}
    forms = {"page": PageAssetForm(bound["page"], prefix="page"),
             "object": ObjectAssetForm(bound["object"], prefix="object",
                                       choices=selectors.object_asset_choices(request.account)),
             "external": ExternalAssetForm(bound["external"], prefix="external"),
             "url": TrackingUrlForm(bound["url"], prefix="url")}
    if action in forms and _add_asset(request, campaign, action, forms):
        return redirect("campaigns:detail", campaign_id=campaign.pk)
    return render(request, "campaigns/campaign_detail.html", {
        "campaign": campaign, "associations": selectors.associations_of(request.account, campaign),
        "tracking_urls": selectors.tracking_urls_of(request.account, campaign), "forms": forms,
        "section": "campaigns"})


@login_required
@require_POST
def association_remove(request, campaign_id: int, association_id: int):
    campaign = _campaign(request, campaign_id)
    association = get_object_or_404(Association.objects.filter(account=request.account, campaign=campaign),
                                    pk=association_id)
    services.association_remove(association=association)
    messages.success(request, f"{association.asset.name} removed: its later data no longer counts.")
    return redirect("campaigns:detail", campaign_id=campaign.pk)


PERFORMANCE_REPORTS = ("campaign_overview", "campaign_contacts_sessions", "campaign_traffic")
# Revenue sections by plan (SPEC §5): Revenue from professional, Revenue attribution on enterprise.
REVENUE_REPORTS = {Plan.STARTER: (), Plan.PROFESSIONAL: ("campaign_revenue",),
                   Plan.ENTERPRISE: ("campaign_revenue", "campaign_revenue_attribution")}


@login_required
def campaign_performance(request, campaign_id: int):
    campaign = _campaign(request, campaign_id)
    data = request.GET.copy()
    data["campaign"] = str(campaign.pk)
    asset_types = sorted({a.asset.asset_type for a in selectors.associations_of(request.account, campaign)},
                         key=AssetType.values.index)
    keys = (PERFORMANCE_REPORTS + REVENUE_REPORTS[request.account.plan]
            + tuple(f"campaign_assets:{t}" for t in asset_types))
    sections = composite_sections(request, keys, data, drilldowns={
        "campaign_overview": reverse("reports:detail", kwargs={"report_key": "campaign_overview_rows"})
        + f"?{data.urlencode()}&metric={{label_id}}"})
    context = {"title": f"{campaign.name} — performance", "campaign": campaign, "sections": sections,
               "filters": filter_fields(request, data, CAMPAIGN_PARAMS, hide=("campaign",)),
               "action": reverse("campaigns:performance", kwargs={"campaign_id": campaign.pk}),
               "section": "campaigns"}
    return render(request, "reports/composite_partial.html" if request.htmx else "reports/composite.html", context)


@login_required
def campaign_attribution(request, campaign_id: int):
    """The Attribution tab: one report with its own filters (conversion, model, lookback, grouping, range), and
    the credited interactions behind it."""
    campaign = _campaign(request, campaign_id)
    data = request.GET.copy()
    data["campaign"] = str(campaign.pk)
    report = report_get("campaign_attribution")
    rows = reverse("reports:detail", kwargs={"report_key": "campaign_credit_rows"})
    # Each bar drills down to the credited interactions behind the numbers.
    sections = composite_sections(request, ("campaign_attribution",), data,
                                  drilldowns={"campaign_attribution": f"{rows}?{data.urlencode()}"})
    params = [p for p in CAMPAIGN_PARAMS if p.key != "attribution"]
    extras = [Param(key, key.capitalize(), "", default=allowed[0],
                    choices=lambda account, allowed=allowed: [(v, v.replace("_", " ") or "—") for v in allowed])
              for key, allowed in report.extra_params]
    if request.account.plan != Plan.ENTERPRISE:
        extras = [p for p in extras if p.key != "model"]  # other plans see the linear model (SPEC §5)
    context = {"title": f"{campaign.name} — attribution", "campaign": campaign, "sections": sections,
               "filters": filter_fields(request, data, (*params, *extras), hide=("campaign",)),
               "action": reverse("campaigns:attribution", kwargs={"campaign_id": campaign.pk}),
               "section": "campaigns"}
    return render(request, "reports/composite_partial.html" if request.htmx else "reports/composite.html", context)
