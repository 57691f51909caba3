"""What every sequence report shares: its filter parameters (SPEC §1: associated company, enrolling user,
enrollment date; sequence; human or all opens and clicks), parsed into an `EngagementFilter`, and the
plan rule that hides click metrics on the starter plan (SPEC §5)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model

from touchline.core.models import Account
from touchline.core.timeframes import CHOICES as TIMEFRAME_CHOICES
from touchline.core.timeframes import CUSTOM, TimeframeError, timeframe_resolve
from touchline.crm.models import Company
from touchline.reports.metrics import CLICK_METRICS
from touchline.reports.pipeline import Param, Report, ReportParamError, param_day
from touchline.sequences.analytics import EngagementFilter
from touchline.sequences.models import Sequence
from touchline.sequences.report_totals import sequence_totals_refresh


def _sequences(account: Account) -> list[tuple[str, str]]:
    return [("", "All sequences")] + [(str(pk), name) for pk, name in Sequence.objects.filter(
        account=account, archived_at__isnull=True).order_by("name").values_list("pk", "name")]


def _users(account: Account) -> list[tuple[str, str]]:
    users = get_user_model().objects.filter(memberships__account=account).order_by("first_name", "last_name")
    return [("", "Anyone")] + [(str(u.pk), u.get_full_name() or u.username) for u in users]


FILTER_PARAMS = (
    Param("sequence", "Sequence", "Id of a sequence; default: all sequences.", choices=_sequences),
    Param("company", "Company", "Id of the contacts' company at enrollment; default: any."),
    Param("enrolled_by", "Enrolled by", "Id of the enrolling user; default: anyone.", choices=_users),
    Param("enrolled", "Enrolled", "Timeframe of the enrollment date, in the account's time zone.", default="all_time",
          choices=lambda account: list(TIMEFRAME_CHOICES)),
    Param("enrolled_from", "From", "First day of a custom enrollment range (YYYY-MM-DD)."),
    Param("enrolled_to", "To", "Last day of a custom enrollment range (YYYY-MM-DD), included."),
    Param("machine", "Machine opens and clicks", "1 to count opens and clicks by privacy proxies, link scanners and "
          "bots too; default 0 (human only).", default="0", choices=lambda account: [("0", "Human only"),
                                                                                    ("1", "Include machine")]),
)


def _id(data: Mapping[str, str], key: str, errors: dict, exists) -> int | None:
    text = (data.get(key) or "").strip()
    if not text:
        return None
    if not text.isdigit() or not exists(int(text)):
        errors[key] = f"No {key.replace('_', ' ')} {text!r} in this account."
        return None
    return int(text)


def engagement_filter_parse(account: Account, data: Mapping[str, str], *, now: datetime) -> tuple[EngagementFilter,
                                                                                                   dict[str, str]]:
    """The filter and its echo (the parameters as the API accepts them); raises ReportParamError."""
    errors: dict[str, str] = {}
    sequence_id = _id(data, "sequence", errors,
                      lambda pk: Sequence.objects.filter(account=account, pk=pk).exists())
    company_id = _id(data, "company", errors, lambda pk: Company.objects.filter(account=account, pk=pk).exists())
    user_id = _id(data, "enrolled_by", errors, lambda pk: get_user_model().objects.filter(
        memberships__account=account, pk=pk).exists())
    first, last = param_day(data, "enrolled_from", errors), param_day(data, "enrolled_to", errors)
    enrolled = None
    try:
        enrolled = timeframe_resolve((data.get("enrolled") or "all_time").strip(), time_zone=account.time_zone,
                                     now=now, first_day=first, last_day=last)
    except TimeframeError as error:
        errors["enrolled"] = str(error)
    machine = (data.get("machine") or "0").strip()
    if machine not in ("0", "1"):
        errors["machine"] = "0 (human only) or 1 (include machine opens and clicks)."
    if errors:
        raise ReportParamError(errors)
    echo = {"sequence": str(sequence_id or ""), "company": str(company_id or ""), "enrolled_by": str(user_id or ""),
            "enrolled": enrolled.key, "machine": machine}
    if enrolled.key == CUSTOM:
        echo |= {"enrolled_from": first.isoformat(), "enrolled_to": last.isoformat()}
    return EngagementFilter(account_id=account.pk, sequence_ids=(sequence_id,) if sequence_id else (),
                            company_id=company_id, enrolled_by_id=user_id, enrolled=enrolled,
                            include_machine=machine == "1"), echo


@dataclass(frozen=True)
class EngagementQuery:
    account: Account
    filter: EngagementFilter
    echo: dict[str, str]  # the parameters as the API accepts them
    # Read the account-wide totals or their day parts (touchline/sequences/report_totals.py) instead of scanning
    # the enrollments: decided in parse by the report, from the filter; both ways give the same result (tested).
    use_totals: bool = False


def account_wide(f: EngagementFilter) -> bool:
    """Whether the filter selects every enrollment of its sequences: no company, user or date filter. Only then do
    the totals' sums per sequence, month and template answer it."""
    return f.company_id is None and f.enrolled_by_id is None and not dated(f)


def dated(f: EngagementFilter) -> bool:
    """Whether the filter has an enrollment date range."""
    return f.enrolled.start is not None or f.enrolled.end is not None


class SequenceReport(Report):
    """A sequence report: the shared filter parameters, parsed into an EngagementQuery."""

    params = FILTER_PARAMS

    def totals_answer(self, f: EngagementFilter) -> bool:
        """Whether this report reads the account-wide totals for filter `f` (reports that have a totals build
        override it)."""
        return False

    def parse(self, account: Account, data: Mapping[str, str], *, now: datetime) -> EngagementQuery:
        engagement_filter, echo = engagement_filter_parse(account, data, now=now)
        return EngagementQuery(account, engagement_filter, echo, use_totals=self.totals_answer(engagement_filter))

    def prepare(self, query: EngagementQuery) -> None:
        if query.use_totals:
            sequence_totals_refresh(account=query.account)


def shows_clicks(account: Account) -> bool:
    return account.has_click_metrics


def without_clicks(keys: tuple[str, ...], account: Account) -> tuple[str, ...]:
    """The metric keys a report shows on the account's plan: no click metrics on starter (SPEC §5)."""
    return keys if shows_clicks(account) else tuple(k for k in keys if k not in CLICK_METRICS)
