"""End-to-end in Chromium: the custom report builder — changing the source offers that source's dimensions and
metrics, every change redraws the preview (chart and table), a KPI shows its number, and "Save as report" keeps it
on a new dashboard."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django_scopes import scope
from playwright.sync_api import expect

from touchline.crm.models import DealStage
from touchline.crm.services import deal_create, pipeline_default

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def deals(account):
    with scope(account=account):
        stage = {s.name: s for s in DealStage.objects.filter(pipeline=pipeline_default(account=account))}
        at = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
        deal_create(account=account, name="a", amount="10.00", stage=stage["Qualified to buy"], created_at=at)
        deal_create(account=account, name="b", amount="2.50", stage=stage["Qualified to buy"], created_at=at)
        deal_create(account=account, name="c", amount="1.00", stage=stage["Contract sent"], created_at=at)


def chart_labels(page):
    page.wait_for_function("() => window.Chart && Chart.getChart(document.querySelector('#report-result canvas'))")
    return page.evaluate("() => Chart.getChart(document.querySelector('#report-result canvas')).data.labels")


def test_builder_redraws_the_preview_on_each_change_and_saves_it_to_a_dashboard(logged_in_page, page_errors,
                                                                                 deals):
    page = logged_in_page
    page.goto("/reports/")
    with page.expect_navigation():
        page.get_by_role("link", name="Build a custom report").click()
    expect(page.locator("#report-result h2")).to_have_text("Contacts by lifecycle stage")

    page.get_by_label("Data source").select_option("deals")
    expect(page.locator("#report-result h2")).to_have_text("Deals by stage")
    page.get_by_label("Amount", exact=True).check()
    expect(page.locator("#report-result thead")).to_contain_text("Currency")
    expect(page.locator("#report-result tbody")).to_contain_text("12.50")
    assert chart_labels(page) == ["Qualified to buy", "Contract sent"]

    page.get_by_label("Filter 1 field").select_option("amount")  # redraws the form: the operators of a number
    expect(page.get_by_label("Filter 1 operator")).to_be_visible()
    page.get_by_label("Filter 1 operator").select_option("gt")
    page.get_by_label("Filter 1 value").fill("2")
    page.get_by_label("Filter 1 value").press("Enter")
    expect(page.locator("#report-result tbody")).not_to_contain_text("Contract sent")

    page.locator("select[name=dimension]").select_option("")
    page.locator("select[name=chart]").select_option("kpi")
    expect(page.locator(".kpi-value").first).to_have_text("2")
    assert "chart=kpi" in page.url

    page.get_by_text("Save as report", exact=True).click()
    form = page.locator("form.save-report-fields")
    form.get_by_label("Report name").fill("Big deals")
    form.get_by_label("Add to a new dashboard").check()
    form.get_by_label("New dashboard name").fill("Deals")
    form.get_by_role("button", name="Save report").click()
    expect(page.get_by_role("status")).to_contain_text("Big deals")
    with page.expect_navigation():
        page.get_by_role("status").get_by_role("link", name="Deals", exact=True).click()
    expect(page.locator("article.tile .kpi-value").first).to_have_text("2")
    page.wait_for_load_state("networkidle")
    assert page_errors.messages == []
