"""The Analyze page and a sequence's Performance tab: several reports, one set of filters, drill-downs."""

import pytest

from touchline.core.models import Plan

pytestmark = pytest.mark.django_db


def test_analyze_page_shows_summary_performance_templates_and_engaged_contacts(logged_in_client, history):
    response = logged_in_client.get("/reports/sequences/analyze/")
    html = response.content.decode()
    assert response.status_code == 200
    for title in ("Sequence summary", "Sequence performance", "Email performance", "Highly engaged contacts"):
        assert f"<h2>{title}</h2>" in html
    summary = response.context["sections"][0]["result"].rows[0]
    assert summary["enrolled_contacts"] == 5  # the contact in two sequences counts once


def test_analyze_page_applies_a_filter_to_every_section(logged_in_client, history):
    response = logged_in_client.get("/reports/sequences/analyze/", {"enrolled_by": history["bob"].pk},
                                    headers={"HX-Request": "true"})
    sections = response.context["sections"]
    assert "<html" not in response.content.decode()
    assert sections[0]["result"].rows[0]["enrolled_contacts"] == 1
    assert [r["sequence"] for r in sections[1]["result"].rows if r["enrolled_contacts"]] == ["Outbound"]


def test_performance_tab_links_each_bar_segment_to_its_contacts(logged_in_client, history):
    outbound = history["outbound"]
    response = logged_in_client.get(f"/reports/sequences/{outbound.pk}/performance/")
    html = response.content.decode()
    assert "<h2>Enrollment status by step</h2>" in html
    assert f'data-drilldown="/reports/sequences/{outbound.pk}/steps/{{label_id}}/{{series}}/' in html
    step_id = response.context["sections"][2]["result"].rows[0]["step_id"]
    contacts = logged_in_client.get(f"/reports/sequences/{outbound.pk}/steps/{step_id}/replied/")
    assert contacts.status_code == 200
    assert [e.contact.email for e in contacts.context["page"]] == ["c1@example.test"]


def test_performance_tab_hides_clicks_on_the_starter_plan(logged_in_client, history, account):
    account.plan = Plan.STARTER
    account.save()
    html = logged_in_client.get(f"/reports/sequences/{history['outbound'].pk}/performance/").content.decode()
    assert "Click rate" not in html and "Clicked" not in html


def test_performance_tab_of_another_accounts_sequence_is_404(client, history, other_account):
    from touchline.core.accounts import user_create

    stranger = user_create(username="eve", email="eve@globex.test", password="a long passphrase here",
                           account=other_account)
    client.force_login(stranger)
    assert client.get(f"/reports/sequences/{history['outbound'].pk}/performance/").status_code == 404
