"""Forms of saved reports and dashboards: they check the shape of input; the services enforce the rules."""

from __future__ import annotations

import json
from datetime import date

from django import forms

from touchline.core.timeframes import CUSTOM
from touchline.reports.models import ChartType, Visibility
from touchline.reports.pipeline import Report
from touchline.reports.selectors import DATE_RANGE_CHOICES, DateRange, account_users, dashboards_owned, report_inputs

NO_DASHBOARD, EXISTING_DASHBOARD, NEW_DASHBOARD = "none", "existing", "new"


def _user_label(user) -> str:
    return user.get_full_name() or user.username


class UsersField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj) -> str:
        return _user_label(obj)


class SharingFields(forms.Form):
    """Name, visibility and chosen users of a dashboard."""

    visibility = forms.ChoiceField(choices=Visibility.choices, initial=Visibility.PRIVATE,
                                   widget=forms.RadioSelect)
    users = UsersField(queryset=None, required=False, help_text="For “Chosen users”: who may see it.",
                       widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, account, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["users"].queryset = account_users(account).exclude(pk=user.pk)

    def clean(self):
        data = super().clean()
        if data.get("visibility") == Visibility.USERS and not data.get("users"):
            self.add_error("users", "Choose at least one user to share it with.")
        return data


class SaveReportForm(SharingFields):
    """"Save as report": a name, then no dashboard / an existing one / a new one (name, visibility, users)."""

    report = forms.CharField(widget=forms.HiddenInput)
    params = forms.CharField(widget=forms.HiddenInput, required=False)  # the result's parameter echo, as JSON
    name = forms.CharField(max_length=200, label="Report name")
    chart_type = forms.ChoiceField(choices=ChartType.choices, label="Show as")
    destination = forms.ChoiceField(label="Dashboard", initial=NO_DASHBOARD, widget=forms.RadioSelect, choices=[
        (NO_DASHBOARD, "Don't add to a dashboard (keep it in the report list)"),
        (EXISTING_DASHBOARD, "Add to an existing dashboard"), (NEW_DASHBOARD, "Add to a new dashboard")])
    dashboard = forms.ModelChoiceField(queryset=None, required=False, label="Existing dashboard")
    dashboard_name = forms.CharField(max_length=200, required=False, label="New dashboard name")
    field_order = ["report", "params", "name", "chart_type", "destination", "dashboard", "dashboard_name",
                   "visibility", "users"]

    def __init__(self, *args, account, user, **kwargs):
        super().__init__(*args, account=account, user=user, **kwargs)
        self.fields["dashboard"].queryset = dashboards_owned(account, user)
        self.fields["visibility"].required = False  # only a new dashboard needs it

    def clean_params(self) -> dict[str, str]:
        text = self.cleaned_data.get("params") or "{}"
        try:
            params = json.loads(text)
        except ValueError:
            raise forms.ValidationError("Not valid JSON.") from None
        if not isinstance(params, dict):
            raise forms.ValidationError("An object of parameter names and values.")
        return {str(k): "" if v is None else str(v) for k, v in params.items()}

    def clean(self):
        data = forms.Form.clean(self)  # the sharing fields matter only for a new dashboard
        destination = data.get("destination")
        if destination == EXISTING_DASHBOARD and not data.get("dashboard"):
            self.add_error("dashboard", "Choose a dashboard.")
        if destination == NEW_DASHBOARD:
            if not (data.get("dashboard_name") or "").strip():
                self.add_error("dashboard_name", "Give the new dashboard a name.")
            if data.get("visibility") == Visibility.USERS and not data.get("users"):
                self.add_error("users", "Choose at least one user to share it with.")
        data["visibility"] = data.get("visibility") or Visibility.PRIVATE
        return data


class DashboardForm(SharingFields):
    name = forms.CharField(max_length=200, label="Dashboard name")
    field_order = ["name", "visibility", "users"]


class RenameForm(forms.Form):
    name = forms.CharField(max_length=200)


class MoveForm(forms.Form):
    direction = forms.ChoiceField(choices=[("up", "Up"), ("down", "Down")])


class DateRangeForm(forms.Form):
    """The dashboard's date filter (GET): a timeframe over every tile's own date parameter."""

    range = forms.ChoiceField(choices=DATE_RANGE_CHOICES, required=False, label="Date range")
    range_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    range_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("range") == CUSTOM:
            first, last = data.get("range_from"), data.get("range_to")
            if not first or not last:
                self.add_error("range_from", "A custom range needs both days.")
            elif last < first:
                self.add_error("range_to", "The last day is before the first.")
        return data

    def date_range(self) -> DateRange:
        """The valid range, or none (each tile's own) when the form is not valid."""
        if not self.is_valid() or not self.cleaned_data.get("range"):
            return DateRange()
        first: date | None = self.cleaned_data.get("range_from")
        last: date | None = self.cleaned_data.get("range_to")
        return DateRange(self.cleaned_data["range"], first.isoformat() if first else "",
                         last.isoformat() if last else "")


class LibraryReportForm(forms.Form):
    """"Add report from library": a name and the chosen report's own parameters (its Param definitions), each a
    select when the parameter has choices for the account, else text. The report checks the values."""

    name = forms.CharField(max_length=200, label="Report name")
    chart_type = forms.ChoiceField(choices=ChartType.choices, label="Show as")

    def __init__(self, *args, report: Report, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.report = report
        self.fields["name"].initial = report.title
        self.fields["chart_type"].initial = ChartType.BAR
        self.param_keys = []
        for param in report_inputs(report):
            field_name = f"p_{param.key}"
            self.param_keys.append((param.key, field_name))
            if param.choices:
                field = forms.ChoiceField(choices=param.choices(account), required=False, initial=param.default)
            elif param.key.endswith(("_from", "_to")):
                field = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
            else:
                field = forms.CharField(required=False, initial=param.default)
            field.label, field.help_text = param.label, param.help
            self.fields[field_name] = field

    def params(self) -> dict[str, str]:
        values = {}
        for key, field_name in self.param_keys:
            value = self.cleaned_data.get(field_name)
            values[key] = value.isoformat() if isinstance(value, date) else (value or "")
        return values
