"""Campaign pages: list, create and edit, assets and tracking URLs, an asset's page, the Performance and
Attribution tabs and the rows behind their numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from touchline.attribution.engine import MODELS_FOR
from touchline.attribution.models import InteractionType
from touchline.attribution.selectors import UTM_ASSET_TYPE
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
from touchline.crm.models import TrafficSource
from touchline.reports.exports import FORMATS, export_response
from touchline.reports.pipeline import Param, ReportParamError, report_get, report_run
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
# The page-wide filters; each section's own control (chart unit, traffic source, model) rides along with them.
PAGE_FILTERS = ("attribution", "range", "range_from", "range_to")
MODEL_LABELS = {"first_interaction": "First interaction", "last_interaction": "Last interaction", "linear": "Linear",
                "u_shaped": "U-shaped", "w_shaped": "W-shaped", "full_path": "Full path", "time_decay": "Time decay",
                "j_shaped": "J-shaped", "inverse_j": "Inverse J", "data_driven": "Data-driven"}
SECTION_CONTROLS = {"campaign_contacts_sessions": ("unit", "Show", {"day": "Daily", "month": "Monthly"}),
                    "campaign_revenue_attribution": ("model", "Attribution model", MODEL_LABELS)}
# Readable names of the Attribution tab's asset-type and interaction-type rows (the report keeps the identifiers).
GROUP_LABELS = {"asset_type": dict(AssetType.choices) | {UTM_ASSET_TYPE: "UTM traffic"},
                "interaction_type": dict(InteractionType.choices)}
ASSETS_SHOWN = 10  # rows of an asset report before "view all"


def _query(data, keys, **more) -> str:
    values = {key: data[key] for key in keys if data.get(key)} | {k: v for k, v in more.items() if v != ""}
    return urlencode(values)


def _section_links(section: dict, campaign, data) -> None:
    """Per row, the page its number or name opens: the rows behind an Overview count, a traffic source's
    breakdown, an asset's detail, the interactions behind an attributed amount. Sets section["table"] (rows with
    their link) and section["link_column"]."""
    result = section["result"]
    key, performance = section["key"], reverse("campaigns:performance", kwargs={"campaign_id": campaign.pk})
    interactions = reverse("campaigns:interactions", kwargs={"campaign_id": campaign.pk})
    link, column, htmx = None, "", False
    if key == "campaign_overview":
        rows = reverse("campaigns:performance-rows", kwargs={"campaign_id": campaign.pk})
        column, link = "value", lambda row: f"{rows}?{_query(data, PAGE_FILTERS, metric=row['metric'])}"
    elif key == "campaign_traffic" and not result.params.get("source"):
        column, htmx = "source_label", True
        link = lambda row: f"{performance}?{_query(data, (*PAGE_FILTERS, 'unit', 'model'), source=row['source'])}"  # noqa: E731
    elif key == "campaign_assets":
        column = "name"
        link = lambda row: reverse("campaigns:asset", kwargs={"campaign_id": campaign.pk,  # noqa: E731
                                                              "asset_id": row["asset_id"]})
    elif key in ("campaign_revenue", "campaign_revenue_attribution"):
        model = result.params.get("model", "linear")
        base = _query(data, ("range", "range_from", "range_to"), conversion="revenue", model=model, lookback="0",
                      window="365")
        column, link = ("contribution", "amount"), lambda row: f"{interactions}?{base}&deal={row['deal_id']}"
        section["total_link"] = ("contribution", f"{interactions}?{base}")
    elif key == "campaign_attribution":
        params = result.params
        base = _query(params, ("range", "range_from", "range_to", "conversion", "model", "lookback"))
        group = params.get("group", "asset")

        def link(row):
            if group == "asset" and row.get("asset_id") is not None:
                return f"{interactions}?{base}&asset={row['asset_id']}"
            if group in ("asset", "asset_type"):
                return f"{interactions}?{base}&asset_type={row['asset_type']}"
            return f"{interactions}?{base}&interaction_type={row['interaction_type']}"
        section["total_link"] = ("attributed", f"{interactions}?{base}")
        column = "attributed"
        names = GROUP_LABELS.get(group)
        if names:
            section["table"] = [{"row": row | {"label": names.get(row["label"], row["label"])}, "link": link(row)}
                                for row in result.rows]
            for row in section["chart"]["rows"]:
                row["label"] = names.get(row["label"], row["label"])
    section["link_columns"] = (column,) if isinstance(column, str) else column
    section["htmx_links"] = htmx
    section.setdefault("table", [{"row": row, "link": link(row) if link else ""} for row in result.rows])


def _decorate(request, sections: list[dict], entries: tuple[str, ...], campaign, data) -> list[dict]:
    """What the campaign page shows around each report: a unique id (the asset reports share one report), the
    section's own control, row links, and how many asset rows show before "view all"."""
    first_asset = next((entry for entry in entries if entry.startswith("campaign_assets:")), None)
    for entry, section in zip(entries, sections, strict=True):
        key = entry.partition(":")[0]
        section |= {"key": key, "entry": entry, "dom_id": entry.replace(":", "-"),
                    "data_id": f"data-{entry.replace(':', '-')}", "shown": ASSETS_SHOWN if key == "campaign_assets"
                    else None, "first_asset_report": entry == first_asset}
        control = SECTION_CONTROLS.get(key)
        if control:
            name, label, choices = control
            allowed = dict(section["report"].extra_params)[name]
            choices = choices or {value: value.replace("_", " ") for value in allowed}
            section["control"] = {"name": name, "label": label, "value": data.get(name) or allowed[0],
                                  "choices": [(v, choices.get(v, v)) for v in allowed]}
        if section["result"] is not None:
            _section_links(section, campaign, data)
            if key == "campaign_traffic" and section["result"].params.get("source"):
                section["back"] = (f"{reverse('campaigns:performance', kwargs={'campaign_id': campaign.pk})}?"
                                   f"{_query(data, (*PAGE_FILTERS, 'unit', 'model'))}")
    return sections


def _tab_page(request, campaign, *, tab: str, entries: tuple[str, ...], data, filters,
              notice: str = "") -> HttpResponse:
    """A campaign tab made of report sections. An htmx request with only=<section> redraws that section alone
    (a section's own control: the chart's unit, a traffic source, the revenue model) and pushes the page's URL."""
    data = data.copy()
    only = data.pop("only", [""])[0]
    if request.htmx and only in entries:
        entries = (only,)
    sections = _decorate(request, composite_sections(request, entries, data), entries, campaign, data)
    action = reverse(f"campaigns:{tab}", kwargs={"campaign_id": campaign.pk})
    context = {"title": f"{campaign.name} — {tab}", "campaign": campaign, "sections": sections, "tab": tab,
               "filters": filters, "action": action, "section": "campaigns", "notice": notice,
               "has_assets": any(entry.startswith("campaign_assets:") for entry in entries)}
    if request.htmx and only:
        response = render(request, "campaigns/partials/report_section.html", context | {"s": sections[0]})
        response["HX-Push-Url"] = f"{action}?{urlencode({k: v for k, v in data.items() if k != 'campaign' and v})}"
        return response
    # The Attribution tab's filters depend on each other (the models of a conversion): htmx redraws them too.
    template = ("campaigns/partials/report_sections.html" if request.htmx and tab == "performance"
                else "campaigns/partials/tab_body.html" if request.htmx else "campaigns/report_tab.html")
    return render(request, template, context)


@login_required
def campaign_performance(request, campaign_id: int):
    campaign = _campaign(request, campaign_id)
    data = request.GET.copy()
    data["campaign"] = str(campaign.pk)
    asset_types = sorted({a.asset.asset_type for a in selectors.associations_of(request.account, campaign)},
                         key=AssetType.values.index)
    entries = (PERFORMANCE_REPORTS + REVENUE_REPORTS[request.account.plan]
               + tuple(f"campaign_assets:{t}" for t in asset_types))
    return _tab_page(request, campaign, tab="performance", entries=entries, data=data,
                     filters=filter_fields(request, data, CAMPAIGN_PARAMS, hide=("campaign",)))


LOOKBACK_LABELS = {"0": "Whole journey", "30": "30 days", "90": "90 days", "365": "365 days"}


@login_required
def campaign_attribution(request, campaign_id: int):
    """The Attribution tab: one report with its own filters (conversion, model, lookback, grouping, range); each
    amount opens the credited interactions behind it."""
    campaign = _campaign(request, campaign_id)
    data = request.GET.copy()
    data["campaign"] = str(campaign.pk)
    report = report_get("campaign_attribution")
    params = [p for p in CAMPAIGN_PARAMS if p.key != "attribution"]
    # The model picker offers the models of the chosen conversion (SPEC §3: W-shaped from deal create, full path
    # for revenue); a model left over from another conversion falls back to linear, and the page says so.
    conversion = data.get("conversion") or "contact_create"
    applicable = MODELS_FOR.get(conversion, MODELS_FOR["contact_create"])
    notice = ""
    if data.get("model") and data["model"] in MODEL_LABELS and data["model"] not in applicable:
        notice = (f"{MODEL_LABELS[data['model']]} does not apply to "
                  f"{conversion.replace('_', ' ')}; showing {MODEL_LABELS['linear']}.")
        data["model"] = "linear"
    labels = {"conversion": ("Conversion", {"contact_create": "Contact create", "deal_create": "Deal create",
                                            "revenue": "Revenue"}),
              "model": ("Attribution model", MODEL_LABELS), "lookback": ("Lookback", LOOKBACK_LABELS),
              "group": ("Group by", {"asset": "Asset", "asset_type": "Asset type",
                                     "interaction_type": "Interaction type"})}
    extras = [Param(key, labels[key][0], "", default=allowed[0],
                    choices=lambda account, key=key, allowed=allowed, names=labels[key][1]:
                    [(v, names.get(v, v.replace("_", " "))) for v in allowed
                     if key != "model" or v in applicable])
              for key, allowed in report.extra_params]
    if request.account.plan != Plan.ENTERPRISE:
        extras = [p for p in extras if p.key != "model"]  # other plans see the linear model (SPEC §5)
    return _tab_page(request, campaign, tab="attribution", entries=("campaign_attribution",), data=data,
                     filters=filter_fields(request, data, (*params, *extras), hide=("campaign",)), notice=notice)


def _rows_page(request, campaign, report_key: str, back_tab: str, data) -> HttpResponse:
    """The rows behind one number, inside the campaign: the report's own rows, with links to contacts and deals."""
    result, errors = None, {}
    try:
        result = report_run(report_key, account=request.account, data=data)
    except ReportParamError as error:
        errors = error.fields
    if result is not None and request.GET.get("format") in FORMATS:
        return export_response(result, request.GET["format"])
    rows = [_local_times(row, request.account.time_zone) for row in result.rows] if result else []
    back = reverse(f"campaigns:{back_tab}", kwargs={"campaign_id": campaign.pk})
    keep = PAGE_FILTERS if back_tab == "performance" else (
        "range", "range_from", "range_to", "conversion", "model", "lookback")
    return render(request, "campaigns/rows.html", {
        "campaign": campaign, "result": result, "rows": rows, "errors": errors, "tab": back_tab,
        "back": f"{back}?{_query(data, keep)}", "section": "campaigns",
        "title": result.title if result else f"{campaign.name}: rows"})


TIME_COLUMNS = ("at", "occurred_at", "converted_at")
SOURCE_LABELS = dict(TrafficSource.choices)


def _local_times(row: dict, time_zone: str) -> dict:
    """A drill-down row with its instants shown on the account's clock, to the minute, and its traffic source by
    name (the report and its exports keep ISO 8601 in UTC and the identifiers)."""
    shown = dict(row)
    if row.get("source"):
        shown["source"] = SOURCE_LABELS.get(row["source"], row["source"])
    for key in TIME_COLUMNS:
        if row.get(key):
            moment = datetime.fromisoformat(str(row[key]))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            shown[key] = moment.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M")
    return shown


@login_required
def campaign_performance_rows(request, campaign_id: int):
    """An Overview count's drill-down: the sessions or contacts behind it (campaign_overview_rows)."""
    campaign = _campaign(request, campaign_id)
    data = request.GET.copy()
    data["campaign"] = str(campaign.pk)
    return _rows_page(request, campaign, "campaign_overview_rows", "performance", data)


@login_required
def campaign_interactions(request, campaign_id: int):
    """An attributed amount's drill-down: each credited interaction with its credit (campaign_credit_rows)."""
    campaign = _campaign(request, campaign_id)
    data = request.GET.copy()
    data["campaign"] = str(campaign.pk)
    back_tab = "performance" if data.get("window") else "attribution"
    return _rows_page(request, campaign, "campaign_credit_rows", back_tab, data)


@login_required
def campaign_asset(request, campaign_id: int, asset_id: int):
    """An asset of the campaign: what it is, where it lives, its association windows with this campaign, and its
    whole-history metrics (the asset report's row)."""
    campaign = _campaign(request, campaign_id)
    asset = selectors.asset_get(request.account, asset_id)
    associations = selectors.associations_of(request.account, campaign).filter(asset=asset) if asset else None
    if asset is None or not associations.exists():
        raise Http404("No such asset in this campaign")
    result = report_run("campaign_assets", account=request.account,
                        data={"campaign": str(campaign.pk), "asset_type": asset.asset_type})
    metrics = next((row for row in result.rows if row["asset_id"] == asset.pk), None)
    return render(request, "campaigns/asset_detail.html", {
        "campaign": campaign, "asset": asset, "associations": associations, "result": result, "metrics": metrics,
        "tab": "details", "section": "campaigns"})
