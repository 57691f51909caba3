"""End-to-end in Chromium: the Analyze page filters every section, and a bar segment of "Enrollment status by
step" opens the list of its contacts (data: the `history` fixture of the root conftest.py)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_analyze_filter_narrows_every_section(logged_in_page, page_errors, history):
    page = logged_in_page
    page.goto("/reports/sequences/analyze/")
    summary = page.locator("#section-sequence_summary tbody tr").first
    expect(summary.locator("td").first).to_have_text("5")
    page.get_by_label("Enrolled by").select_option(label="bob")
    expect(summary.locator("td").first).to_have_text("1")
    expect(page).to_have_url(re.compile(r"enrolled_by=\d+"))
    page.wait_for_load_state("networkidle")
    assert page_errors.messages == []


def test_status_by_step_segment_lists_its_contacts(logged_in_page, page_errors, history):
    page = logged_in_page
    page.goto(f"/reports/sequences/{history['outbound'].pk}/performance/")
    canvas = page.locator("#section-enrollment_status_by_step canvas")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.querySelector("
                           "'#section-enrollment_status_by_step canvas'))")
    # The "Replied" segment of step 1: ask Chart.js where it drew it, then click there like a person.
    point = page.evaluate("""() => {
        const chart = Chart.getChart(document.querySelector('#section-enrollment_status_by_step canvas'));
        const series = chart.data.datasets.findIndex((d) => d.label === 'Replied');
        const bar = chart.getDatasetMeta(series).data[0];
        return {x: bar.x, y: (bar.y + bar.base) / 2};
    }""")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    with page.expect_navigation():
        page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    expect(page.get_by_role("heading", level=1)).to_contain_text("step 1, Replied")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text("c1@example.test")
    assert page_errors.messages == []
