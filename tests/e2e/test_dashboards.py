"""End-to-end in Chromium: "Save as report" on a section of the Analyze page, into a new dashboard, then the
dashboard shows the tile, drawn live (data: the `history` fixture of the root conftest.py)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_section_saved_to_a_new_dashboard_shows_as_a_tile(logged_in_page, page_errors, history):
    page = logged_in_page
    page.goto("/reports/sequences/analyze/")
    section = page.locator("#section-sequence_performance")
    section.get_by_text("Save as report").click()
    form = section.locator("form.save-report-fields")
    form.get_by_label("Report name").fill("Sequences at a glance")
    form.get_by_label("Add to a new dashboard").check()
    form.get_by_label("New dashboard name").fill("Weekly review")
    form.get_by_label("Everyone in the account").check()
    form.get_by_role("button", name="Save report").click()
    confirmation = section.get_by_role("status")
    expect(confirmation).to_contain_text("Saved “Sequences at a glance” to the dashboard Weekly review")

    with page.expect_navigation():
        confirmation.get_by_role("link", name="Weekly review").click()
    expect(page).to_have_url(re.compile(r"/dashboards/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Weekly review")
    tile = page.locator("article.tile")
    expect(tile).to_have_count(1)
    expect(tile.get_by_role("link", name="Sequences at a glance")).to_be_visible()
    page.wait_for_function("() => window.Chart && Chart.getChart(document.querySelector('article.tile canvas'))")
    labels = page.evaluate("() => Chart.getChart(document.querySelector('article.tile canvas')).data.labels")
    assert sorted(labels) == ["Nurture", "Outbound"]
    expect(tile.locator("tbody")).to_contain_text("Outbound")
    expect(tile.get_by_role("link", name="XLSX")).to_have_attribute("href", re.compile(r"format=xlsx$"))
    page.wait_for_load_state("networkidle")
    assert page_errors.messages == []
