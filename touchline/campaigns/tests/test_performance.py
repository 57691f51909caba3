"""The Performance tab's numbers on one hand-built month of web traffic (times UTC; the account is in Berlin).

The page /spring is associated on 2 March 00:00, the form on 1 March 00:00; the campaign's utm_campaign is
`spring`.

visitor A  S1  1 Mar 09:00 /?utm_campaign=spring&utm_source=newsletter&utm_medium=email  (+ /pricing 09:05)
           S2  3 Mar 10:00 /spring from google.com             → campaign session (page after association)
           form 3 Mar 10:02 → creates Alice
visitor B  B1  1 Mar 12:00 /spring, no referrer                → NOT campaign: before the page's association
           B2  4 Mar 08:00 /blog from t.co
           form 4 Mar 08:01 → creates Bob
visitor C  Carol, imported 1 Jan;
           C1  5 Mar 09:00 /?utm_campaign=spring&utm_source=google&utm_medium=cpc&utm_term=crm+tool
visitor D  D1  2 Mar 11:00 /?utm_campaign=spring&utm_source=facebook&utm_medium=social, never identified

Worked out:
- sessions S1, S2, C1, D1 = 4 (B1 and B2 are not the campaign's)
- new contacts, first touch: Alice (first session S1 is the campaign's) = 1; Bob's first session B1 is not,
  Carol's first session is after her creation
- new contacts, last touch: Alice and Bob (both last touched the associated form at creation) = 2
- influenced: Alice (S1, 1 Mar), Bob (form, 4 Mar), Carol (C1, 5 Mar) = 3; D is no contact
- custom range 2–4 March (Berlin days): sessions S2, D1 = 2; first touch Alice = 1; last touch Alice, Bob = 2;
  influenced, counted when first influenced inside the range: Bob = 1
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django_scopes import scope

from touchline.campaigns import services as campaign_services
from touchline.campaigns.models import AssetType
from touchline.crm.models import Contact
from touchline.crm.services import contact_create
from touchline.reports.pipeline import ReportParamError, report_run
from touchline.tracking import services as tracking
from touchline.tracking.services import Hit

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
SITE = "https://example.com"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def view(site, visitor: str, hit: str, url: str, when: datetime, referrer: str = ""):
    return tracking.pageview_record(site=site, hit=Hit(hit_id=hit, visitor_key=visitor, url=url, referrer=referrer,
                                                       occurred_at=when))[0]


@pytest.fixture
def spring(account, user):
    with scope(account=account):
        site = tracking.site_create(account=account, name="Website", domains="example.com")
        form = tracking.form_create(account=account, site=site, name="Demo request",
                                    fields=[{"name": "email"}, {"name": "first_name"}])
        campaign = campaign_services.campaign_create(account=account, name="Spring launch", utm_campaign="spring",
                                                     owner=user, goal_sessions=8, goal_new_contacts=4)
        page = campaign_services.page_asset_get_or_create(account=account, url=f"{SITE}/spring/",
                                                          asset_type=AssetType.LANDING_PAGE, name="Spring page")
        campaign_services.association_add(campaign=campaign, asset=page, at=datetime(2026, 3, 2, tzinfo=UTC))
        campaign_services.association_add(campaign=campaign, asset=campaign_services.form_asset(form=form),
                                          at=datetime(2026, 3, 1, tzinfo=UTC))

        view(site, "visitor-a", "hit-a-0001", f"{SITE}/?utm_campaign=spring&utm_source=newsletter&utm_medium=email",
             at(1, 9))
        view(site, "visitor-a", "hit-a-0002", f"{SITE}/pricing", at(1, 9, 5), referrer=f"{SITE}/")
        view(site, "visitor-a", "hit-a-0003", f"{SITE}/spring", at(3, 10), referrer="https://www.google.com/")
        tracking.form_submission_record(form=form, submission_id="sub-alice-1", visitor_key="visitor-a",
                                        data={"email": "alice@example.org", "first_name": "Alice"}, at=at(3, 10, 2))

        view(site, "visitor-b", "hit-b-0001", f"{SITE}/spring", at(1, 12))
        view(site, "visitor-b", "hit-b-0002", f"{SITE}/blog", at(4, 8), referrer="https://t.co/abc")
        tracking.form_submission_record(form=form, submission_id="sub-bob-01", visitor_key="visitor-b",
                                        data={"email": "bob@example.org"}, at=at(4, 8, 1))

        carol = contact_create(account=account, email="carol@example.org", created_at=datetime(2026, 1, 1, tzinfo=UTC))
        view(site, "visitor-c", "hit-c-0001",
             f"{SITE}/?utm_campaign=spring&utm_source=google&utm_medium=cpc&utm_term=crm+tool", at(5, 9))
        tracking.visitor_identify(visitor=site.visitors.get(key="visitor-c"), contact=carol, at=at(5, 9))

        view(site, "visitor-d", "hit-d-0001", f"{SITE}/?utm_campaign=spring&utm_source=facebook&utm_medium=social",
             at(2, 11))
        yield campaign


def run(account, report: str, campaign, **params):
    with scope(account=account):
        return report_run(report, account=account, data={"campaign": str(campaign.pk), **params}, now=NOW)


def overview(account, campaign, **params) -> dict[str, int]:
    return {row["metric"]: row["value"] for row in run(account, "campaign_overview", campaign, **params).rows}


def test_overview_counts_follow_the_association_time_rule_when_all_time(account, spring):
    assert overview(account, spring) == {"campaign_sessions": 4, "campaign_new_contacts": 1,
                                         "campaign_influenced_contacts": 3}


def test_overview_counts_last_touch_new_contacts_when_attribution_is_last_touch(account, spring):
    assert overview(account, spring, attribution="last_touch")["campaign_new_contacts"] == 2


def test_overview_counts_by_session_start_creation_and_first_influence_when_a_range_is_set(account, spring):
    custom = {"range": "custom", "range_from": "2026-03-02", "range_to": "2026-03-04"}
    assert overview(account, spring, **custom) == {"campaign_sessions": 2, "campaign_new_contacts": 1,
                                                   "campaign_influenced_contacts": 1}
    assert overview(account, spring, attribution="last_touch", **custom)["campaign_new_contacts"] == 2


def test_overview_shows_goal_progress_when_goals_are_set(account, spring):
    rows = {row["metric"]: row for row in run(account, "campaign_overview", spring).rows}
    assert (rows["campaign_sessions"]["goal"], str(rows["campaign_sessions"]["progress"])) == (8, "50.0")
    assert (rows["campaign_new_contacts"]["goal"], str(rows["campaign_new_contacts"]["progress"])) == (4, "25.0")
    assert rows["campaign_influenced_contacts"]["progress"] is None


def test_overview_rows_list_the_contacts_behind_a_count_when_drilled_into(account, spring):
    result = run(account, "campaign_overview_rows", spring, metric="campaign_influenced_contacts")
    assert [row["email"] for row in result.rows] == ["carol@example.org", "bob@example.org", "alice@example.org"]
    sessions = run(account, "campaign_overview_rows", spring, metric="campaign_sessions")
    assert len(sessions.rows) == 4


def test_removing_an_asset_stops_its_later_data_counting_when_the_window_closes(account, spring):
    with scope(account=account):
        association = spring.associations.get(asset__asset_type=AssetType.LANDING_PAGE)
        campaign_services.association_remove(association=association, at=at(3, 9))
    # S2 viewed /spring at 3 Mar 10:00, after the removal: no longer the campaign's session.
    assert overview(account, spring)["campaign_sessions"] == 3


def test_contacts_and_sessions_series_buckets_by_day_in_the_account_zone(account, spring):
    result = run(account, "campaign_contacts_sessions", spring, unit="day")
    by_day = {row["period"]: row for row in result.rows}
    assert {day: row["campaign_sessions"] for day, row in by_day.items() if row["campaign_sessions"]} == {
        "2026-03-01": 1, "2026-03-02": 1, "2026-03-03": 1, "2026-03-05": 1}
    assert by_day["2026-03-03"]["campaign_new_contacts"] == 1
    assert result.totals == {"campaign_sessions": 4, "campaign_new_contacts": 1, "campaign_influenced_contacts": 3}


def test_traffic_counts_utm_sessions_by_source_and_paid_search_by_term(account, spring):
    result = run(account, "campaign_traffic", spring)
    rows = {row["source"]: row for row in result.rows}
    assert set(rows) == {"email_marketing", "paid_search", "organic_social"}
    assert (rows["email_marketing"]["sessions"], rows["email_marketing"]["page_views"],
            rows["email_marketing"]["new_visitor_sessions"], rows["email_marketing"]["first_touch_contacts"]) \
        == (1, 2, 1, 1)
    assert rows["paid_search"]["first_touch_contacts"] == 1  # Carol's first session
    assert rows["organic_social"]["first_touch_contacts"] == 0  # D was never identified
    terms = run(account, "campaign_traffic", spring, source="paid_search").rows
    assert [(row["detail"], row["sessions"]) for row in terms] == [("crm tool", 1)]
    networks = run(account, "campaign_traffic", spring, source="organic_social").rows
    assert [row["detail"] for row in networks] == ["Facebook"]


def test_asset_reports_count_the_whole_history_when_before_association_too(account, spring):
    pages = run(account, "campaign_assets", spring, asset_type="landing_page").rows
    assert [(r["name"], r["page_views"], r["sessions"], r["contacts"]) for r in pages] == [("Spring page", 2, 2, 2)]
    forms = run(account, "campaign_assets", spring, asset_type="form").rows
    assert [(r["form_submissions"], r["form_new_contacts"], r["contacts"]) for r in forms] == [(2, 2, 2)]


def test_reports_refuse_a_campaign_of_another_account(account, other_account, spring):
    with scope(account=other_account), pytest.raises(ReportParamError) as error:
        report_run("campaign_overview", account=other_account, data={"campaign": str(spring.pk)}, now=NOW)
    assert "campaign" in error.value.fields


def test_form_submission_gives_the_new_contact_the_source_of_its_first_session(account, spring):
    with scope(account=account):
        alice = Contact.objects.get(email="alice@example.org")
    assert (alice.original_source, alice.created_at) == ("email_marketing", at(3, 10, 2))
