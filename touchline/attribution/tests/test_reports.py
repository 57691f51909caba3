"""Revenue, revenue attribution and the Attribution tab on the history of test_credits.py, with a campaign `spring`
whose form was associated on 1 March:

pv1 and pv2 are page views of a session that landed with utm_campaign=spring (UTM traffic); fs is a submission of
the associated form. Linear revenue of Big (1,000.00): 333.33 + 333.33 (UTM traffic) + 333.34 (the form) — all of it
the campaign's. Alice's creation under linear: 2/3 through UTM traffic (666,666,666 billionths → 0.67), 1/3 through
the form (333,333,334 → 0.33).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from touchline.attribution.services import attribution_refresh
from touchline.attribution.tests.test_credits import history  # noqa: F401 - the shared fixture
from touchline.campaigns import services as campaigns
from touchline.core.models import Plan
from touchline.reports.pipeline import ReportParamError, report_run
from touchline.tracking.models import Form

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def spring(account, history):  # noqa: F811
    campaign = campaigns.campaign_create(account=account, name="Spring", utm_campaign="spring")
    campaigns.association_add(campaign=campaign, asset=campaigns.form_asset(form=Form.objects.get()),
                              at=datetime(2026, 3, 1, tzinfo=UTC))
    return campaign


def run(account, key, campaign, **params):
    return report_run(key, account=account, data={"campaign": str(campaign.pk), **params}, now=NOW)


def test_revenue_gives_the_campaign_the_even_shares_of_its_interactions(account, spring):
    result = run(account, "campaign_revenue", spring)
    assert [(r["deal"], r["contribution"], r["amount"]) for r in result.rows] == [
        ("Big", Decimal("1000.00"), Decimal("1000.00"))]
    assert (result.totals["deals"], result.totals["contacts"]) == (1, 1)


def test_revenue_leaves_out_interactions_before_their_assets_association(account, spring):
    association = spring.associations.get()
    association.associated_at = datetime(2026, 3, 4, tzinfo=UTC)  # after the submission of 3 March
    association.save()
    [row] = run(account, "campaign_revenue", spring).rows
    assert row["contribution"] == Decimal("666.66")  # the two UTM page views only


def test_attribution_tab_splits_a_contact_by_asset_under_linear(account, spring):
    result = run(account, "campaign_attribution", spring, conversion="contact_create", group="asset")
    assert [(r["label"], r["attributed"]) for r in result.rows] == [
        ("UTM traffic (utm_campaign=spring)", Decimal("0.67")), ("Demo", Decimal("0.33"))]
    assert result.totals["attributed"] == Decimal("1.00")


def test_attribution_tab_model_choice_is_enterprise_only(account, spring):
    with pytest.raises(ReportParamError) as error:
        run(account, "campaign_attribution", spring, conversion="revenue", model="first_interaction")
    assert "model" in error.value.fields
    account.plan = Plan.ENTERPRISE
    account.save()
    result = run(account, "campaign_attribution", spring, conversion="revenue", model="first_interaction",
                 group="interaction_type")
    assert [(r["label"], r["attributed"]) for r in result.rows] == [("page_view", Decimal("1000.00"))]


def test_revenue_attribution_reports_contribution_and_associated_value_when_enterprise(account, spring):
    with pytest.raises(ReportParamError):
        run(account, "campaign_revenue_attribution", spring)
    account.plan = Plan.ENTERPRISE
    account.save()
    result = run(account, "campaign_revenue_attribution", spring, model="u_shaped")
    assert result.totals == {"contribution": Decimal("1000.00"), "amount": Decimal("1000.00"), "deals": 1,
                             "contacts": 1}


def test_credit_rows_explain_each_amount_down_to_interactions(account, spring):
    result = run(account, "campaign_credit_rows", spring, conversion="revenue")
    assert sorted(r["credit"] for r in result.rows) == [Decimal("333.33"), Decimal("333.33"), Decimal("333.34")]


def test_revenue_reaches_back_at_most_365_days(account, spring):
    later = datetime(2027, 3, 15, tzinfo=UTC)  # the close of 10 Mar 2026 is 370 days before
    result = report_run("campaign_revenue", account=account, data={"campaign": str(spring.pk)}, now=later)
    assert result.rows == ()


def test_refresh_after_a_new_association_needs_no_recompute(account, spring):
    # Campaign crediting is applied when reading: credits are per interaction, so associating changes reports
    # at once and nothing has to be recomputed.
    assert attribution_refresh(account) == {"conversions": 0}
