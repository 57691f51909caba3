"""Pages to set up web tracking: sites with their snippet, forms with their embed code."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from touchline.tracking import selectors, services
from touchline.tracking.forms import FormForm, SiteForm
from touchline.tracking.models import Site


def _errors_to_form(form, error: ValidationError) -> None:
    for field, field_messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, field_messages)


@login_required
def site_list(request):
    form = SiteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.site_create(account=request.account, **form.cleaned_data)
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            messages.success(request, "Site added: put its snippet on every page.")
            return redirect("tracking:sites")
    return render(request, "tracking/sites.html", {
        "sites": selectors.sites_of(request.account), "forms": selectors.forms_of(request.account),
        "drops": selectors.drops_of(request.account), "form": form, "section": "campaigns",
        "base_url": request.build_absolute_uri("/").rstrip("/")})


@login_required
def form_create(request, site_id: int):
    site = get_object_or_404(Site.objects.filter(account=request.account), pk=site_id)
    form = FormForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.form_create(account=request.account, site=site, created_by=request.user, **form.cleaned_data)
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            messages.success(request, "Form created: paste its embed code where it should appear.")
            return redirect("tracking:sites")
    return render(request, "tracking/form_new.html", {"site": site, "form": form, "section": "campaigns"})
