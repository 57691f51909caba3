"""Importing web history and campaigns from another tool: page views become sessions by the collector's rules
whatever their order in the file, submissions create contacts, associations keep their windows, a second import
changes nothing, and bad rows are reported by line."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from touchline.campaigns.models import Association, Campaign, CampaignDay, PageTotal, PageVisitor
from touchline.crm.importing import import_file
from touchline.crm.models import Contact
from touchline.reports.pipeline import report_run
from touchline.tracking.models import PageView, Visitor, WebSession

ROWS = [
    {"type": "site", "name": "Website", "domains": ["example.com"]},
    {"type": "form", "name": "Demo request", "site": "Website", "fields": ["email", "first_name"]},
    {"type": "campaign", "utm_campaign": "spring", "name": "Spring launch", "goal_sessions": "10",
     "start_date": "2026-03-01"},
    {"type": "association", "campaign_utm": "spring", "asset_type": "landing_page",
     "asset_url": "https://example.com/spring", "asset_name": "Spring page", "associated_at": "2026-03-02T00:00:00Z"},
    {"type": "association", "campaign_utm": "spring", "asset_type": "form", "asset_form": "Demo request",
     "associated_at": "2026-03-01T00:00:00Z", "removed_at": "2026-03-10T00:00:00Z"},
    # Out of time order on purpose: the import applies page views by time.
    {"type": "page_view", "site": "Website", "hit_id": "h-0000002", "visitor_id": "v-alice-01",
     "occurred_at": "2026-03-03T10:05:00Z", "url": "https://example.com/spring", "referrer": "https://example.com/"},
    {"type": "page_view", "site": "Website", "hit_id": "h-0000001", "visitor_id": "v-alice-01",
     "occurred_at": "2026-03-03T10:00:00Z", "url": "https://example.com/?utm_campaign=spring&utm_source=news"
                                                  "letter&utm_medium=email"},
    {"type": "form_submission", "form": "Demo request", "external_id": "sub-0000001", "visitor_id": "v-alice-01",
     "submitted_at": "2026-03-03T10:06:00Z", "email": "alice@example.org", "first_name": "Alice"},
    # Rejected rows, each with its line and field:
    {"type": "page_view", "site": "Website", "hit_id": "h-0000003", "visitor_id": "v-x-000001",
     "occurred_at": "2026-03-04T10:00:00Z", "url": "https://elsewhere.test/"},
    {"type": "form_submission", "form": "No such form", "external_id": "sub-0000002",
     "submitted_at": "2026-03-04T10:00:00Z", "email": "x@example.org"},
    {"type": "association", "campaign_utm": "spring", "asset_type": "blog_post", "asset_url": "https://example.com/b",
     "associated_at": "2026-03-05T00:00:00Z", "removed_at": "2026-03-04T00:00:00Z"},
]


def write(tmp_path, rows) -> str:
    path = tmp_path / "web.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_import_builds_sessions_contacts_and_association_windows_and_changes_nothing_when_repeated(
        account, account_scope, tmp_path):
    path = write(tmp_path, ROWS)
    report = import_file(account=account, path=path)
    assert [(r.line, r.field) for r in report.rejections] == [(9, "url"), (10, "form"), (11, "removed_at")]

    session = WebSession.objects.get()
    assert (session.page_views, session.source, session.started_at) == \
        (2, "email_marketing", datetime(2026, 3, 3, 10, 0, tzinfo=UTC))
    alice = Contact.objects.get(email="alice@example.org")
    assert alice.original_source == "email_marketing"
    windows = sorted((a.asset.asset_type, a.removed_at is not None) for a in Association.objects.all())
    assert windows == [("form", True), ("landing_page", False)]

    spring = Campaign.objects.get(utm_campaign="spring")
    overview = report_run("campaign_overview", account=account, data={"campaign": str(spring.pk)})
    assert {r["metric"]: r["value"] for r in overview.rows} == {
        "campaign_sessions": 1, "campaign_new_contacts": 1, "campaign_influenced_contacts": 1}

    # The report rollups, worked out by hand: one session (10:00 landing with spring's UTM link on the home page,
    # 10:05 on the spring page), its visitor identified as Alice by the 10:06 submission.
    visitor = Visitor.objects.get()
    assert sorted(PageTotal.objects.values_list("page", "views", "sessions")) == [
        ("example.com/", 1, 1), ("example.com/spring", 1, 1)]
    assert sorted(PageVisitor.objects.values_list("visitor_id", "page", "contact_id")) == [
        (visitor.pk, "example.com/", alice.pk), (visitor.pk, "example.com/spring", alice.pk)]
    assert list(CampaignDay.objects.filter(campaign=spring).values_list("day", "sessions")) == [(date(2026, 3, 3), 1)]
    pages = report_run("campaign_assets", account=account, data={"campaign": str(spring.pk),
                                                                 "asset_type": "landing_page"})
    assert [(r["name"], r["page_views"], r["sessions"], r["contacts"]) for r in pages.rows] == [
        ("Spring page", 1, 1, 1)]
    traffic = report_run("campaign_traffic", account=account, data={"campaign": str(spring.pk)})
    assert [(r["source"], r["sessions"], r["page_views"], r["new_visitor_sessions"], r["first_touch_contacts"])
            for r in traffic.rows] == [("email_marketing", 1, 2, 1, 1)]
    kept = (list(PageTotal.objects.values_list("page", "views", "sessions").order_by("page")),
            list(CampaignDay.objects.values_list("day", "sessions")))

    again = import_file(account=account, path=path)
    assert {t: dict(c) for t, c in again.counts.items() if t != "unknown"} == {
        "site": {"unchanged": 1}, "form": {"unchanged": 1}, "campaign": {"unchanged": 1},
        "association": {"unchanged": 2, "rejected": 1}, "page_view": {"unchanged": 2, "rejected": 1},
        "form_submission": {"unchanged": 1, "rejected": 1}}
    assert PageView.objects.count() == 2 and Contact.objects.count() == 1
    assert (list(PageTotal.objects.values_list("page", "views", "sessions").order_by("page")),
            list(CampaignDay.objects.values_list("day", "sessions"))) == kept  # a repeated view is not counted again
