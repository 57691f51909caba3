"""Saved reports and dashboards (SPEC §4).

A saved report is a report key plus the parameters its result echoed (`ReportResult.params`) and the chart type
it was shown with; it holds no numbers and re-runs live through `report_run` whenever it is opened. A dashboard
is an ordered grid of tiles, each showing one saved report; who may see it is its `visibility` (private: the
owner; everyone: every member of the account; users: the owner and the users it is shared with). Visibility is
enforced by the selectors (`touchline/reports/selectors.py`); docs/dashboards.md describes the rules.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from touchline.core.models import AccountOwned


class ChartType(models.TextChoices):
    BAR = "bar", "Bar chart"
    LINE = "line", "Line chart"
    TABLE = "table", "Table"


class Visibility(models.TextChoices):
    PRIVATE = "private", "Private (only me)"
    EVERYONE = "everyone", "Everyone in the account"
    USERS = "users", "Chosen users"


class SavedReport(AccountOwned):
    name = models.CharField(max_length=200)
    report_key = models.CharField(max_length=100)
    params = models.JSONField(default=dict, blank=True)  # {"enrolled": "last_30_days", "sequence": "", …}
    chart_type = models.CharField(max_length=10, choices=ChartType.choices, default=ChartType.BAR)
    # A deleted user's reports stay: those on shared dashboards keep showing there.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class Dashboard(AccountOwned):
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class DashboardShare(AccountOwned):
    """A user a dashboard with visibility "users" is shared with."""

    dashboard = models.ForeignKey(Dashboard, on_delete=models.CASCADE, related_name="shares")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dashboard", "user"], name="dashboard_share_unique")]


class Tile(AccountOwned):
    """One saved report on a dashboard, at a position (0, 1, 2… with no gaps; the grid fills left to right)."""

    dashboard = models.ForeignKey(Dashboard, on_delete=models.CASCADE, related_name="tiles")
    saved_report = models.ForeignKey(SavedReport, on_delete=models.CASCADE, related_name="tiles")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]


class DefaultDashboard(AccountOwned):
    """The dashboard the Dashboards nav item opens for one user in one account."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    dashboard = models.ForeignKey(Dashboard, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "user"], name="default_dashboard_one_per_user")]
