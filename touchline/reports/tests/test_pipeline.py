"""The report plumbing every report shares: pages, API, CLI listing, time budget, the metrics doc."""

from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models.expressions import RawSQL
from django_scopes import scope

from touchline.crm.models import Deal
from touchline.crm.services import deal_create
from touchline.reports import pipeline
from touchline.reports.metrics import metrics_markdown
from touchline.reports.pipeline import Report, ReportResult

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parents[3] / "docs"


class SlowReport(Report):
    """A report whose query takes far longer than any budget: a big cross join counted per deal."""

    key = "slow_test_report"
    title = "Slow"
    description = "Takes forever."
    params = ()

    def parse(self, account, data, *, now):
        return account.pk

    def build(self, query):
        slow = ("(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
                "SELECT COUNT(*) FROM n a, n b, n c)")
        rows = Deal.objects.filter(account_id=query).annotate(x=RawSQL(slow, []))  # noqa: S611 (constant SQL)
        return {"rows": rows.values("x")}

    def shape(self, query, fetched):
        return ReportResult("slow_test_report", "Slow", {}, (), (), {})


@pytest.fixture
def slow_report(monkeypatch, account, settings):
    monkeypatch.setitem(pipeline.REGISTRY, SlowReport.key, SlowReport())
    settings.REPORT_TIME_BUDGET_MS = 100
    with scope(account=account):
        deal_create(account=account, name="one deal")


def test_report_page_says_timed_out_instead_of_failing_when_over_budget(logged_in_client, slow_report):
    response = logged_in_client.get("/reports/slow_test_report/")
    assert response.status_code == 200
    assert "Timed out" in response.content.decode()


def test_report_api_answers_503_timed_out_when_over_budget(logged_in_client, slow_report):
    response = logged_in_client.get("/api/v1/reports/slow_test_report")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "timed_out"


def test_report_index_lists_every_registered_report(logged_in_client):
    html = logged_in_client.get("/reports/").content.decode()
    assert "Deals by stage" in html and "/reports/deals_by_stage/" in html


def test_report_page_renders_chart_data_table_and_csv(logged_in_client, account):
    with scope(account=account):
        deal_create(account=account, name="Renewal", amount="1234.50")
    page = logged_in_client.get("/reports/deals_by_stage/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="data-deals_by_stage"' in html and "1,234.50" in html
    csv = logged_in_client.get("/reports/deals_by_stage/", {"format": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode().splitlines()
    assert lines[0] == "Stage,Currency,Deals,Amount,Weighted amount"
    assert lines[1] == "Appointment scheduled,USD,1,1234.50,246.90"


def test_report_page_answers_htmx_with_the_result_partial_only(logged_in_client, account):
    with scope(account=account):
        deal_create(account=account, name="Renewal")
    response = logged_in_client.get("/reports/deals_by_stage/", {"created": "last_month"},
                                    headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html and "<table" in html


def test_report_page_says_there_is_no_pipeline_yet_in_a_new_account(logged_in_client):
    html = logged_in_client.get("/reports/deals_by_stage/").content.decode()
    assert "No pipeline yet" in html


def test_report_page_shows_the_parameter_error(logged_in_client):
    html = logged_in_client.get("/reports/deals_by_stage/", {"created": "soon"}).content.decode()
    assert "Unknown timeframe" in html


def test_report_page_answers_404_for_an_unknown_report(logged_in_client):
    assert logged_in_client.get("/reports/nothing_like_this/").status_code == 404


def test_report_api_lists_reports_with_their_parameters_and_choices(logged_in_client):
    reports = logged_in_client.get("/api/v1/reports").json()
    deals = next(r for r in reports if r["key"] == "deals_by_stage")
    created = next(p for p in deals["params"] if p["key"] == "created")
    assert created["default"] == "all_time" and ["last_month", "Last month"] in created["choices"]


def test_report_api_answers_404_and_422_in_the_envelope(logged_in_client):
    assert logged_in_client.get("/api/v1/reports/nope").json()["error"]["code"] == "not_found"
    bad = logged_in_client.get("/api/v1/reports/deals_by_stage", {"created": "soon"})
    assert bad.status_code == 422 and "created" in bad.json()["error"]["fields"]


def test_report_command_lists_reports_and_their_parameters(account, capsys):
    call_command("report", "--list")
    out = capsys.readouterr().out
    assert "deals_by_stage" in out and "--param created=" in out


def test_metrics_doc_matches_the_catalog():
    assert (DOCS / "metrics.md").read_text() == metrics_markdown(), \
        "docs/metrics.md is stale: run `python -m touchline.reports.metrics > docs/metrics.md`"
