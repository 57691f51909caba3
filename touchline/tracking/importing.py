"""Import row types for web tracking from another tool: `site`, `form`, `page_view` and `form_submission` (see
docs/import.md). Registered into the import's ROW_TYPES after the CRM's and the sequences'.

Page views go through the same service as the collector's hits, so sessions and their traffic sources are derived
by the same rules; they are applied in time order whatever the file's order. There is no `session` row: a session
is what the rules make of page views, and a tool that exports sessions only can import each session's landing page
view. Form submissions go through the form endpoint's service: they create or update the contact and identify the
visitor, giving it the visitor's earlier sessions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from touchline.crm.importing import CREATED, ROW_TYPES, UNCHANGED, RowError, RowType, _datetime, _list, _text
from touchline.tracking import services
from touchline.tracking.models import Form, FormSubmission, Site

MAX_URL = 2000


def by_time(key: str):
    """A row order by the time in `key` (rows whose time does not parse sort first and are rejected there)."""
    def order(data: dict) -> datetime:
        try:
            moment = parse_datetime(str(data.get(key) or ""))
        except ValueError:
            moment = None
        if moment is None:
            return datetime.min.replace(tzinfo=UTC)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return order


def _site(lookups, row: dict, key: str = "site") -> Site:
    name = _text(row, key)
    site = Site.objects.filter(account=lookups.account, name=name).first() if name else None
    if site is None:
        raise RowError(f"no site named {name!r}" if name else "required", key)
    return site


def _required(row: dict, key: str, limit: int = MAX_URL) -> str:
    value = _text(row, key)
    if not value:
        raise RowError("required", key)
    if len(value) > limit:
        raise RowError(f"at most {limit} characters", key)
    return value


def _apply_site(row: dict, lookups) -> str:
    name = _required(row, "name", 200)
    domains = " ".join(_list(row, "domains"))
    existing = Site.objects.filter(account=lookups.account, name=name).first()
    if existing is not None:
        if existing.hosts == tuple(d.lower().removeprefix("www.") for d in domains.split()):
            return UNCHANGED
        existing.domains = "\n".join(domains.split())
        existing.save(update_fields=["domains"])
        return "updated"
    services.site_create(account=lookups.account, name=name, domains=domains)
    return CREATED


def _apply_form(row: dict, lookups) -> str:
    name = _required(row, "name", 200)
    site = _site(lookups, row)
    if Form.objects.filter(account=lookups.account, site=site, name=name).exists():
        return UNCHANGED
    required = set(_list(row, "required_fields"))
    fields = [{"name": f, "required": f in required} for f in _list(row, "fields")]
    services.form_create(account=lookups.account, site=site, name=name, fields=fields)
    return CREATED


def _apply_page_view(row: dict, lookups) -> str:
    site = _site(lookups, row)
    hit_id = _required(row, "hit_id", 64)
    occurred_at = _datetime(row, "occurred_at")
    if occurred_at is None:
        raise RowError("required", "occurred_at")
    url = _required(row, "url")
    if not site.allows_host(urlsplit(url).hostname or ""):
        raise RowError("the page is not on one of the site's domains", "url")
    _, created = services.pageview_record(site=site, hit=services.Hit(
        hit_id=hit_id, visitor_key=_required(row, "visitor_id", 64), url=url, title=_text(row, "title")[:500],
        referrer=_text(row, "referrer")[:MAX_URL], occurred_at=occurred_at))
    return CREATED if created else UNCHANGED


def _apply_form_submission(row: dict, lookups) -> str:
    form_name = _required(row, "form", 200)
    form = Form.objects.filter(account=lookups.account, name=form_name).select_related("site", "account").first()
    if form is None:
        raise RowError(f"no form named {form_name!r}", "form")
    submission_id = _required(row, "external_id", 64)
    submitted_at = _datetime(row, "submitted_at")
    if submitted_at is None:
        raise RowError("required", "submitted_at")
    data = {f["name"]: _text(row, f["name"]) for f in form.fields}
    extra = row.get("data")
    if isinstance(extra, dict):  # JSON Lines may carry the form's own fields as an object
        data |= {k: str(v) for k, v in extra.items()}
    if FormSubmission.objects.filter(form=form, submission_id=submission_id).exists():
        return UNCHANGED
    try:
        services.form_submission_record(form=form, submission_id=submission_id, data=data,
                                        visitor_key=_text(row, "visitor_id")[:64],
                                        page_url=_text(row, "page_url")[:MAX_URL], at=submitted_at)
    except ValidationError as error:
        first_field, messages = next(iter(error.message_dict.items()))
        raise RowError(" ".join(messages), first_field) from None
    return CREATED


ROW_TYPES.update({
    "site": RowType("site", frozenset({"name", "domains"}), _apply_site),
    "form": RowType("form", frozenset({"name", "site", "fields", "required_fields"}), _apply_form),
    "page_view": RowType("page_view", frozenset({"site", "hit_id", "visitor_id", "occurred_at", "url", "title",
                                                 "referrer"}), _apply_page_view,
                         order=by_time("occurred_at")),
    "form_submission": RowType("form_submission", frozenset({
        "form", "external_id", "visitor_id", "submitted_at", "page_url", "data", "email", "first_name", "last_name",
        "job_title", "phone"}), _apply_form_submission, order=by_time("submitted_at")),
})
