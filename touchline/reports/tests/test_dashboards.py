"""Saved reports and dashboards, through the pages as users click them: "save as report" with each dashboard
choice, visibility as three users (owner Ada, Bob, Carol) by page, tile and export URL, saved reports re-run live,
the dashboard date filter over each report family, reordering, the report list and library, CSV and XLSX.

Sequence numbers come from the root conftest's `history` (worked out in test_sequence_engagement.py): Outbound has
5 enrolled contacts c1–c5 over all time; c3 enrolled on 10 January, the others in March, so March alone has 4.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django_scopes import scope
from openpyxl import load_workbook

from touchline.core.accounts import user_create
from touchline.crm.services import deal_create
from touchline.reports import pipeline
from touchline.reports.models import Dashboard, SavedReport, Tile, Visibility
from touchline.reports.pipeline import report_run
from touchline.reports.selectors import DateRange, report_date_param, report_library, saved_report_data
from touchline.reports.services import NewDashboard, dashboard_create, report_save
from touchline.reports.tests.test_pipeline import SlowReport

pytestmark = pytest.mark.django_db
MARCH = {"range": "custom", "range_from": "2026-03-01", "range_to": "2026-03-31"}


@pytest.fixture
def people(account, user):
    """Ada (the `user` fixture) owns; Bob and Carol are members of the same account."""
    bob = user_create(username="bob2", email="bob2@acme.test", password="another long passphrase", account=account,
                      first_name="Bob")
    carol = user_create(username="carol", email="carol@acme.test", password="yet another passphrase",
                        account=account, first_name="Carol")
    return {"ada": user, "bob": bob, "carol": carol}


def _outbound_params(history) -> dict[str, str]:
    return {"sequence": str(history["outbound"].pk), "company": "", "enrolled_by": "", "enrolled": "all_time",
            "machine": "0"}


def _save_post(client, history, **fields):
    data = {"report": "sequence_summary", "params": json.dumps(_outbound_params(history)), "name": "Outbound summary",
            "chart_type": "table", "destination": "none"} | fields
    return client.post("/reports/save/", data, headers={"HX-Request": "true"})


def _summary_on_dashboard(account, owner, history, visibility=Visibility.PRIVATE, users=()):
    with scope(account=account):
        return report_save(account=account, owner=owner, name="Outbound summary", report_key="sequence_summary",
                           params=_outbound_params(history), chart_type="bar",
                           new_dashboard=NewDashboard("Team", visibility, tuple(users)))


# Save as report: the three dashboard choices.

def test_save_as_report_keeps_it_in_the_report_list_only_when_no_dashboard_is_chosen(logged_in_client, history,
                                                                                     account):
    response = _save_post(logged_in_client, history)
    assert response.status_code == 200 and "report list" in response.content.decode()
    with scope(account=account):
        saved = SavedReport.objects.get()
        assert (saved.report_key, saved.params, saved.chart_type) == (
            "sequence_summary", _outbound_params(history), "table")
        assert not Tile.objects.exists() and not Dashboard.objects.exists()
    assert "Outbound summary" in logged_in_client.get("/reports/saved/").content.decode()


def test_save_as_report_appends_a_tile_when_an_existing_dashboard_is_chosen(logged_in_client, history, account, user):
    with scope(account=account):
        board = dashboard_create(account=account, owner=user, name="Mine")
        first, _ = report_save(account=account, owner=user, name="First", report_key="sequence_summary",
                               params={}, dashboard=board)
    response = _save_post(logged_in_client, history, destination="existing", dashboard=str(board.pk))
    assert f"/dashboards/{board.pk}/" in response.content.decode()
    with scope(account=account):
        assert [t.saved_report.name for t in board.tiles.all()] == ["First", "Outbound summary"]
        assert [t.position for t in board.tiles.all()] == [0, 1]


def test_save_as_report_creates_a_shared_dashboard_when_a_new_one_is_chosen(logged_in_client, history, account,
                                                                           people):
    response = _save_post(logged_in_client, history, destination="new", dashboard_name="Sales team",
                          visibility="users", users=[str(people["bob"].pk)])
    assert response.status_code == 200
    with scope(account=account):
        board = Dashboard.objects.get()
        assert (board.name, board.visibility, board.owner) == ("Sales team", "users", people["ada"])
        assert [s.user for s in board.shares.all()] == [people["bob"]]
        assert [t.saved_report.name for t in board.tiles.all()] == ["Outbound summary"]


def test_save_as_report_refuses_a_new_dashboard_without_a_name_when_new_is_chosen(logged_in_client, history,
                                                                                 account):
    response = _save_post(logged_in_client, history, destination="new", dashboard_name=" ")
    assert "Give the new dashboard a name." in response.content.decode()
    with scope(account=account):
        assert not SavedReport.objects.exists()


def test_save_as_report_refuses_parameters_the_report_rejects_when_they_are_bad(logged_in_client, history, account):
    response = _save_post(logged_in_client, history, params=json.dumps({"enrolled": "someday"}))
    assert "enrolled" in response.content.decode()
    with scope(account=account):
        assert not SavedReport.objects.exists()


def test_save_form_is_offered_on_every_section_when_a_composite_page_shows(logged_in_client, history):
    html = logged_in_client.get("/reports/sequences/analyze/").content.decode()
    assert html.count("Save as report</summary>") == 4  # summary, performance, email performance, engaged contacts
    form = logged_in_client.get("/reports/save/", {"report": "sequence_performance", "chart": "bar",
                                                   "params": json.dumps({"enrolled": "all_time"})},
                                headers={"HX-Request": "true"}).content.decode()
    assert 'name="destination"' in form and 'value="new"' in form and 'value="existing"' in form


def test_save_form_is_offered_on_every_section_when_a_campaigns_performance_shows(logged_in_client, account, user):
    from touchline.campaigns.services import campaign_create

    with scope(account=account):
        campaign = campaign_create(account=account, name="Spring", owner=user)
    response = logged_in_client.get(f"/campaigns/{campaign.pk}/performance/")
    sections = [s for s in response.context["sections"] if s["result"] is not None]
    html = response.content.decode()
    assert sections and html.count("Save as report</summary>") == len(sections)
    assert f"%22campaign%22%3A%22{campaign.pk}%22" in html  # the section's parameters travel with the form


# Visibility: three users, by page, tile and export URL.

@pytest.mark.parametrize(("visibility", "shared_with", "sees"), [
    (Visibility.PRIVATE, (), {"ada": True, "bob": False, "carol": False}),
    (Visibility.EVERYONE, (), {"ada": True, "bob": True, "carol": True}),
    (Visibility.USERS, ("bob",), {"ada": True, "bob": True, "carol": False}),
])
def test_dashboard_is_seen_only_by_its_audience_when_shared_so(client, account, history, people, visibility,
                                                              shared_with, sees):
    saved, board = _summary_on_dashboard(account, people["ada"], history, visibility,
                                         [people[n] for n in shared_with])
    with scope(account=account):
        tile = board.tiles.get()
    tile_url = f"/dashboards/{board.pk}/tiles/{tile.pk}/"
    urls = [f"/dashboards/{board.pk}/", tile_url, f"{tile_url}?format=csv", f"{tile_url}?format=xlsx",
            f"/reports/saved/{saved.pk}/", f"/reports/saved/{saved.pk}/?format=xlsx"]
    for name, person in people.items():
        client.force_login(person)
        statuses = {url: client.get(url).status_code for url in urls}
        expected = 200 if sees[name] else 404
        assert set(statuses.values()) == {expected}, (name, statuses)
        listed = "Team" in client.get("/dashboards/all/").content.decode()
        assert listed == sees[name], name
        in_list = "Outbound summary" in client.get("/reports/saved/").content.decode()
        assert in_list == sees[name], name


def test_dashboard_changes_are_refused_to_a_viewer_when_they_do_not_own_it(client, account, history, people):
    saved, board = _summary_on_dashboard(account, people["ada"], history, Visibility.EVERYONE)
    with scope(account=account):
        tile = board.tiles.get()
    client.force_login(people["bob"])
    for url in (f"/dashboards/{board.pk}/edit/", f"/dashboards/{board.pk}/add/"):
        assert client.get(url).status_code == 403
    for url in (f"/dashboards/{board.pk}/delete/", f"/dashboards/{board.pk}/tiles/{tile.pk}/remove/",
                f"/reports/saved/{saved.pk}/delete/"):
        assert client.post(url).status_code == 403
    assert client.post(f"/dashboards/{board.pk}/tiles/{tile.pk}/move/", {"direction": "up"}).status_code == 403
    assert client.post(f"/reports/saved/{saved.pk}/rename/", {"name": "Mine now"}).status_code == 403
    with scope(account=account):
        assert Dashboard.objects.filter(pk=board.pk).exists() and SavedReport.objects.get().name == "Outbound summary"


def test_dashboard_of_another_account_is_404_when_asked_by_url(client, account, history, people, other_account):
    saved, board = _summary_on_dashboard(account, people["ada"], history, Visibility.EVERYONE)
    stranger = user_create(username="eve", email="eve@globex.test", password="a long passphrase here",
                           account=other_account)
    client.force_login(stranger)
    with scope(account=account):
        tile = board.tiles.get()
    for url in (f"/dashboards/{board.pk}/", f"/dashboards/{board.pk}/tiles/{tile.pk}/?format=csv",
                f"/reports/saved/{saved.pk}/"):
        assert client.get(url).status_code == 404


# Saved reports re-run live with their stored parameters.

def test_saved_report_shows_the_live_reports_numbers_when_opened(logged_in_client, account, history):
    params = _outbound_params(history) | {"enrolled": "custom", "enrolled_from": "2026-03-01",
                                          "enrolled_to": "2026-03-31", "machine": "1"}
    with scope(account=account):
        saved, _ = report_save(account=account, owner=history["outbound"].owner, name="March", params=params,
                               report_key="sequence_summary")
        live = report_run("sequence_summary", account=account, data=params)
    response = logged_in_client.get(f"/reports/saved/{saved.pk}/")
    result = response.context["run"].result
    assert result.rows == live.rows and result.params == live.params
    assert result.rows[0]["enrolled_contacts"] == 4  # not c3 (January)
    assert result.rows[0]["opened_contacts"] == 2  # c1, and c2's machine open counts with machine=1


def test_saved_report_sees_new_data_when_opened_again(logged_in_client, account, user):
    with scope(account=account):
        deal_create(account=account, name="One", amount="100")
        saved, _ = report_save(account=account, owner=user, name="Deals", report_key="deals_by_stage", params={})
    first = logged_in_client.get(f"/reports/saved/{saved.pk}/").context["run"].result.totals["deal_count"]
    with scope(account=account):
        deal_create(account=account, name="Two", amount="50")
    again = logged_in_client.get(f"/reports/saved/{saved.pk}/").context["run"].result.totals["deal_count"]
    assert (first, again) == (1, 2)


# The dashboard date filter.

def test_dashboard_range_changes_a_sequence_tiles_numbers_when_set(logged_in_client, account, history, user):
    _, board = _summary_on_dashboard(account, user, history)
    with scope(account=account):
        tile = board.tiles.get()
    url = f"/dashboards/{board.pk}/tiles/{tile.pk}/"
    all_time = logged_in_client.get(url).context["run"].result.rows[0]
    march = logged_in_client.get(url, MARCH).context["run"].result.rows[0]
    # All time: c1–c5; March: c3 (10 January) drops out, and with it the one "no response" (c3 finished).
    assert (all_time["enrolled_contacts"], all_time["no_response_contacts"]) == (5, 1)
    assert (march["enrolled_contacts"], march["no_response_contacts"]) == (4, 0)
    page = logged_in_client.get(f"/dashboards/{board.pk}/", MARCH).content.decode()
    assert f"/tiles/{tile.pk}/?range=custom&amp;range_from=2026-03-01&amp;range_to=2026-03-31" in page


def test_dashboard_range_changes_a_deals_tiles_numbers_when_set(logged_in_client, account, user):
    with scope(account=account):
        deal_create(account=account, name="Old", amount="100", created_at=datetime(2026, 1, 15, 12, tzinfo=UTC))
        deal_create(account=account, name="March", amount="40.50", created_at=datetime(2026, 3, 10, 12, tzinfo=UTC))
        board = dashboard_create(account=account, owner=user, name="Deals")
        saved, _ = report_save(account=account, owner=user, name="Deals", report_key="deals_by_stage",
                               params={"created": "all_time"}, dashboard=board)
        tile = board.tiles.get()
    url = f"/dashboards/{board.pk}/tiles/{tile.pk}/"
    totals = logged_in_client.get(url).context["run"].result.totals
    march = logged_in_client.get(url, MARCH).context["run"].result.totals
    assert (totals["deal_count"], totals["deal_amount"]) == (2, Decimal("140.50"))
    assert (march["deal_count"], march["deal_amount"]) == (1, Decimal("40.50"))


def test_dashboard_range_lands_on_each_report_familys_own_date_parameter_when_mapped(account, user):
    cases = {"sequence_summary": "enrolled", "campaign_overview": "range", "deals_by_stage": "created"}
    for key, date_key in cases.items():
        assert report_date_param(pipeline.report_get(key)) == date_key
        saved = SavedReport(account=account, owner=user, name=key, report_key=key,
                            params={date_key: "last_7_days", "other": "kept"})
        data = saved_report_data(saved, DateRange("custom", "2026-03-01", "2026-03-31"))
        assert data == {date_key: "custom", f"{date_key}_from": "2026-03-01", f"{date_key}_to": "2026-03-31",
                        "other": "kept"}
        assert saved_report_data(saved, DateRange()) == {date_key: "last_7_days", "other": "kept"}


def test_dashboard_tile_says_timed_out_instead_of_failing_when_over_budget(logged_in_client, account, user,
                                                                           monkeypatch, settings):
    monkeypatch.setitem(pipeline.REGISTRY, SlowReport.key, SlowReport())
    settings.REPORT_TIME_BUDGET_MS = 100
    with scope(account=account):
        deal_create(account=account, name="one deal")
        board = dashboard_create(account=account, owner=user, name="Slow")
        saved, _ = report_save(account=account, owner=user, name="Slow", report_key=SlowReport.key, params={},
                               dashboard=board)
        tile = board.tiles.get()
    response = logged_in_client.get(f"/dashboards/{board.pk}/tiles/{tile.pk}/")
    assert response.status_code == 200
    assert "Timed out — narrow the range." in response.content.decode()


# Tiles: order, removal.

def test_tile_moves_and_removal_keep_positions_gapless_when_the_owner_rearranges(logged_in_client, account, user):
    with scope(account=account):
        board = dashboard_create(account=account, owner=user, name="Order")
        for name in ("A", "B", "C"):
            report_save(account=account, owner=user, name=name, report_key="deals_by_stage", params={},
                        dashboard=board)
        tiles = {t.saved_report.name: t for t in board.tiles.all()}

    def order():
        with scope(account=account):
            return [t.saved_report.name for t in Tile.objects.filter(dashboard=board)]

    base = f"/dashboards/{board.pk}/tiles"
    response = logged_in_client.post(f"{base}/{tiles['C'].pk}/move/", {"direction": "up"},
                                     headers={"HX-Request": "true"})
    assert response.status_code == 200 and 'class="tile-grid"' in response.content.decode()
    assert order() == ["A", "C", "B"]
    logged_in_client.post(f"{base}/{tiles['A'].pk}/move/", {"direction": "up"})  # already first: stays
    logged_in_client.post(f"{base}/{tiles['A'].pk}/move/", {"direction": "down"})
    assert order() == ["C", "A", "B"]
    logged_in_client.post(f"{base}/{tiles['A'].pk}/remove/")
    assert order() == ["C", "B"]
    with scope(account=account):
        assert [t.position for t in Tile.objects.filter(dashboard=board)] == [0, 1]
        assert SavedReport.objects.filter(name="A").exists()  # removing a tile keeps the saved report


def test_saved_report_deletion_removes_its_tiles_when_the_owner_deletes_it(logged_in_client, account, user, history):
    saved, board = _summary_on_dashboard(account, user, history)
    assert logged_in_client.post(f"/reports/saved/{saved.pk}/delete/").status_code == 302
    with scope(account=account):
        assert not SavedReport.objects.exists() and not Tile.objects.exists() and Dashboard.objects.exists()


# The report list, the library, the default dashboard.

def test_report_list_filters_by_search_and_owner_when_asked(logged_in_client, account, people):
    with scope(account=account):
        shared = dashboard_create(account=account, owner=people["bob"], name="Bob's", visibility=Visibility.EVERYONE)
        report_save(account=account, owner=people["ada"], name="Pipeline health", report_key="deals_by_stage",
                    params={})
        saved, _ = report_save(account=account, owner=people["bob"], name="Bob's deals",
                               report_key="deals_by_stage", params={}, dashboard=shared)
        report_save(account=account, owner=people["bob"], name="Bob private", report_key="deals_by_stage",
                    params={})

    def names(**query):
        response = logged_in_client.get("/reports/saved/", query)
        return sorted(row["saved"].name for row in response.context["rows"])

    assert names() == ["Bob's deals", "Pipeline health"]  # Bob's private report is not on a dashboard Ada sees
    assert names(q="health") == ["Pipeline health"]
    assert names(owner=str(people["bob"].pk)) == ["Bob's deals"]


def test_report_rename_changes_the_name_when_the_owner_renames(logged_in_client, account, user):
    with scope(account=account):
        saved, _ = report_save(account=account, owner=user, name="Old", report_key="deals_by_stage", params={})
    logged_in_client.post(f"/reports/saved/{saved.pk}/rename/", {"name": "New name"})
    saved.refresh_from_db()
    assert saved.name == "New name"


def test_report_library_groups_sequence_templates_and_campaign_reports_when_listed(logged_in_client):
    groups = {g.title: [r.key for r in g.reports] for g in report_library()}
    assert groups["Sequence templates"] == ["sequence_enrollments_by_month", "sequence_performance",
                                            "sequence_sender_score"]
    assert {"campaign_overview", "campaign_traffic", "campaign_assets"} <= set(groups["Campaign reports"])
    assert "sequence_summary" in groups["Sequence reports"] and "deals_by_stage" in groups["Other reports"]
    html = logged_in_client.get("/reports/").content.decode()
    assert "<h2>Sequence templates</h2>" in html and "<h2>Campaign reports</h2>" in html


def test_add_from_library_saves_the_report_with_its_parameters_when_submitted(logged_in_client, account, user,
                                                                             history):
    with scope(account=account):
        board = dashboard_create(account=account, owner=user, name="Library")
    form = logged_in_client.get(f"/dashboards/{board.pk}/add/", {"report": "sequence_enrollments_by_month"})
    assert 'name="p_enrolled"' in form.content.decode() and 'name="p_sequence"' in form.content.decode()
    response = logged_in_client.post(f"/dashboards/{board.pk}/add/?report=sequence_enrollments_by_month", {
        "name": "By month", "chart_type": "line", "p_sequence": str(history["outbound"].pk), "p_enrolled": "custom",
        "p_enrolled_from": "2026-03-01", "p_enrolled_to": "2026-03-31", "p_machine": "0", "p_company": "",
        "p_enrolled_by": ""})
    assert response.status_code == 302
    with scope(account=account):
        saved = board.tiles.get().saved_report
    assert (saved.name, saved.chart_type, saved.params["enrolled_from"], saved.params["sequence"]) == (
        "By month", "line", "2026-03-01", str(history["outbound"].pk))


def test_dashboards_nav_opens_the_default_dashboard_when_one_is_chosen(logged_in_client, account, people):
    empty = logged_in_client.get("/dashboards/")
    assert "No dashboards yet" in empty.content.decode()
    with scope(account=account):
        mine = dashboard_create(account=account, owner=people["ada"], name="Mine")
        theirs = dashboard_create(account=account, owner=people["bob"], name="Team board",
                                  visibility=Visibility.EVERYONE)
    assert logged_in_client.get("/dashboards/").context["dashboard"] == mine  # own first
    logged_in_client.post(f"/dashboards/{theirs.pk}/default/")
    assert logged_in_client.get("/dashboards/").context["dashboard"] == theirs
    with scope(account=account):
        theirs.visibility = Visibility.PRIVATE
        theirs.save()
    assert logged_in_client.get("/dashboards/").context["dashboard"] == mine  # no longer visible: falls back


def test_dashboard_sharing_changes_who_sees_it_when_the_owner_edits_it(client, account, people):
    with scope(account=account):
        board = dashboard_create(account=account, owner=people["ada"], name="Plans")
    client.force_login(people["ada"])
    client.post(f"/dashboards/{board.pk}/edit/", {"name": "Plans", "visibility": "users",
                                                  "users": [str(people["carol"].pk)]})
    client.force_login(people["carol"])
    assert client.get(f"/dashboards/{board.pk}/").status_code == 200
    client.force_login(people["bob"])
    assert client.get(f"/dashboards/{board.pk}/").status_code == 404


# Exports: CSV and XLSX parsed back and compared with the JSON (on-screen) numbers.

def _xlsx(content: bytes):
    book = load_workbook(io.BytesIO(content))
    return book["Report"], book["Parameters"]


def test_xlsx_export_matches_the_json_numbers_when_a_sequence_report_is_downloaded(logged_in_client, history):
    query = {"enrolled": "all_time", "format": "xlsx"}
    response = logged_in_client.get("/reports/sequence_performance/", query)
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet, about = _xlsx(response.content)
    result = logged_in_client.get("/reports/sequence_performance/", {"enrolled": "all_time"}).context["result"]
    data = result.to_json()
    header = [c.value for c in sheet[1]]
    assert header == [c["label"] for c in data["columns"]]
    by_name = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    outbound = next(r for r in data["rows"] if r["sequence"] == "Outbound")
    cells = dict(zip([c["key"] for c in data["columns"]], by_name["Outbound"], strict=True))
    assert cells["enrolled_contacts"].value == 5 and isinstance(cells["enrolled_contacts"].value, int)
    assert cells["reply_rate"].value == pytest.approx(float(outbound["reply_rate"]) / 100)  # 20.0 % → 0.2
    assert cells["reply_rate"].number_format == "0.0%"
    assert [a.value for a in about["A"]][:2] == ["Title", "Report"] and about["B2"].value == "sequence_performance"
    assert ("enrolled", "all_time") in [(r[0].value, r[1].value) for r in about.iter_rows()]


def test_xlsx_export_keeps_money_as_two_place_decimals_when_deals_are_downloaded(logged_in_client, account, user):
    with scope(account=account):
        deal_create(account=account, name="Renewal", amount="1234.50")
        board = dashboard_create(account=account, owner=user, name="Money")
        report_save(account=account, owner=user, name="Deals", report_key="deals_by_stage", params={},
                    dashboard=board)
        tile = board.tiles.get()
    response = logged_in_client.get(f"/dashboards/{board.pk}/tiles/{tile.pk}/", {"format": "xlsx"})
    assert response["Content-Disposition"] == 'attachment; filename="deals.xlsx"'
    sheet, _ = _xlsx(response.content)
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["Stage", "Currency", "Deals", "Amount", "Weighted amount"]
    assert rows[1] == ["Appointment scheduled", "USD", 1, 1234.5, 246.9]
    assert sheet["D2"].number_format == "#,##0.00"
    assert rows[-1][0] == "Total" and rows[-1][2:] == [1, 1234.5, 246.9]


def test_xlsx_export_keeps_formula_like_text_as_text_when_a_name_starts_with_equals(account, user):
    from touchline.reports.exports import result_to_xlsx
    from touchline.reports.pipeline import Column, ReportResult

    result = ReportResult("x", "X", {}, (Column("name", "Name", "text"), Column("n", "N", "count")),
                          ({"name": "=HYPERLINK(\"http://evil\")", "n": 3},), {})
    sheet, _ = _xlsx(result_to_xlsx(result))
    assert sheet["A2"].data_type == "s" and sheet["A2"].value.startswith("=HYPERLINK")


def test_csv_export_of_a_tile_matches_its_json_numbers_when_downloaded(logged_in_client, account, history, user):
    saved, board = _summary_on_dashboard(account, user, history)
    with scope(account=account):
        tile = board.tiles.get()
    url = f"/dashboards/{board.pk}/tiles/{tile.pk}/"
    response = logged_in_client.get(url, MARCH | {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    [header, row] = list(csv.reader(io.StringIO(response.content.decode())))
    shown = logged_in_client.get(url, MARCH).context["run"].result.to_json()
    assert header == [c["label"] for c in shown["columns"]]
    assert row == [str(shown["rows"][0][c["key"]]) for c in shown["columns"]]
    assert row[0] == "4"


def test_report_command_writes_an_xlsx_file_when_asked(account, history, tmp_path):
    target = tmp_path / "summary.xlsx"
    out = io.StringIO()
    call_command("report", "sequence_summary", "--param", f"sequence={history['outbound'].pk}", "--xlsx",
                 str(target), stdout=out)
    sheet, about = _xlsx(target.read_bytes())
    assert sheet["A2"].value == 5 and "rows written" in out.getvalue()


def test_report_command_lists_every_reports_own_values_when_listing(db):
    out = io.StringIO()
    call_command("report", "--list", stdout=out)
    text = out.getvalue()
    for report in pipeline.report_list():
        assert f"{report.key}\t" in text
    assert "--param asset_type=" in text and "--param unit=" in text and "--param enrolled=" in text
