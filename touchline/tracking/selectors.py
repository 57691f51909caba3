"""Reads of web tracking for the pages; every function takes the account first."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from touchline.core.models import Account
from touchline.tracking.models import CollectorDrop, Form, Site


def sites_of(account: Account) -> QuerySet[Site]:
    since = timezone.now() - timedelta(days=30)
    return Site.objects.filter(account=account).annotate(
        views_30d=Count("sessions__views", filter=Q(sessions__views__occurred_at__gte=since)))


def forms_of(account: Account) -> QuerySet[Form]:
    return Form.objects.filter(account=account).select_related("site").annotate(submission_count=Count("submissions"))


def drops_of(account: Account, days: int = 30) -> list[dict]:
    """What the collector refused for the account's sites in the last `days` days, by reason."""
    since = timezone.now().date() - timedelta(days=days)
    return list(CollectorDrop.objects.filter(account=account, day__gte=since).values("reason")
                .annotate(total=Sum("count")).order_by("-total"))
