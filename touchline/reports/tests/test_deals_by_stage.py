"""Deals by stage, computed by hand.

The account is in Europe/Berlin; `now` is pinned to 2026-03-15 12:00 UTC. Default pipeline probabilities:
Appointment scheduled 20 %, Qualified to buy 40 %, Presentation scheduled 60 %, Decision maker bought-in 80 %,
Contract sent 90 %, Closed won 100 %, Closed lost 0 %.

    deal  stage                   amount   created (UTC)        weighted
    d1    Appointment scheduled    19.99   2026-03-10 09:00     3.998
    d2    Appointment scheduled     0.10   2026-03-10 09:00     0.020
    d3    Appointment scheduled     0.20   2026-03-10 09:00     0.040
    d4    Qualified to buy       1000.00   2026-03-10 09:00   400.000   (owner: ada)
    d5    Contract sent              —     2026-03-10 09:00     0
    d6    Closed won              333.33   2026-02-28 22:30   333.330   (23:30 on 28 Feb in Berlin)
    d7    Closed lost              50.00   2026-02-28 23:30     0       (00:30 on 1 March in Berlin)
    d8    Presentation scheduled    0.01   2026-03-10 09:00     0.006

Appointment: 3 deals, 20.29, weighted 4.058 → 4.06. Presentation: weighted 0.006 → 0.01.
Totals: 8 deals, 1403.63; weighted 737.394 → 737.39 (the rounded rows would add up to 737.40).
"""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_scopes import scope

from touchline.crm.models import DealStage
from touchline.crm.services import deal_create, pipeline_default
from touchline.reports.pipeline import ReportParamError, report_run

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
MARCH_10 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
STAGES = ["Appointment scheduled", "Qualified to buy", "Presentation scheduled", "Decision maker bought-in",
          "Contract sent", "Closed won", "Closed lost"]


@pytest.fixture
def deals(account, user):
    with scope(account=account):
        pipeline = pipeline_default(account=account)
        stage = {s.name: s for s in DealStage.objects.filter(pipeline=pipeline)}

        def deal(name, stage_name, amount, created=MARCH_10, owner=None, currency="USD"):
            return deal_create(account=account, name=name, stage=stage[stage_name], amount=amount, owner=owner,
                               created_at=created, currency=currency)

        deal("d1", "Appointment scheduled", "19.99")
        deal("d2", "Appointment scheduled", "0.10")
        deal("d3", "Appointment scheduled", "0.20")
        deal("d4", "Qualified to buy", "1000.00", owner=user)
        deal("d5", "Contract sent", None)
        deal("d6", "Closed won", "333.33", created=datetime(2026, 2, 28, 22, 30, tzinfo=UTC))
        deal("d7", "Closed lost", "50.00", created=datetime(2026, 2, 28, 23, 30, tzinfo=UTC))
        deal("d8", "Presentation scheduled", "0.01")
        return {"pipeline": pipeline, "stage": stage, "make": deal}


def run(account, **params):
    with scope(account=account):
        return report_run("deals_by_stage", account=account, data=params, now=NOW)


def table(result):
    return [(r["stage"], r["deal_count"], r["deal_amount"], r["weighted_amount"]) for r in result.rows]


def test_deals_by_stage_counts_and_sums_every_stage_in_pipeline_order(account, deals):
    result = run(account)
    assert table(result) == [
        ("Appointment scheduled", 3, Decimal("20.29"), Decimal("4.06")),
        ("Qualified to buy", 1, Decimal("1000.00"), Decimal("400.00")),
        ("Presentation scheduled", 1, Decimal("0.01"), Decimal("0.01")),
        ("Decision maker bought-in", 0, Decimal("0.00"), Decimal("0.00")),
        ("Contract sent", 1, Decimal("0.00"), Decimal("0.00")),
        ("Closed won", 1, Decimal("333.33"), Decimal("333.33")),
        ("Closed lost", 1, Decimal("50.00"), Decimal("0.00")),
    ]


def test_deals_by_stage_rounds_the_weighted_total_once_when_rows_round_up(account, deals):
    totals = run(account).totals
    assert totals == {"deal_count": 8, "deal_amount": Decimal("1403.63"), "weighted_amount": Decimal("737.39"),
                      "currency": "USD"}


def test_deals_by_stage_counts_deals_by_their_local_creation_day_when_filtered_to_last_month(account, deals):
    # February in Berlin: d6 (23:30 on 28 Feb local) is in, d7 (00:30 on 1 March local) is not.
    result = run(account, created="last_month")
    assert [(r["stage"], r["deal_count"]) for r in result.rows if r["deal_count"]] == [("Closed won", 1)]
    assert run(account, created="this_month").totals["deal_count"] == 7


def test_deals_by_stage_includes_both_custom_days(account, deals):
    result = run(account, created="custom", created_from="2026-03-01", created_to="2026-03-10")
    assert result.totals["deal_count"] == 7
    assert result.params["created_from"] == "2026-03-01" and result.params["created_to"] == "2026-03-10"


def test_deals_by_stage_keeps_only_the_owners_deals_when_filtered_by_owner(account, deals, user):
    result = run(account, owner=str(user.pk))
    assert [(r["stage"], r["deal_count"]) for r in result.rows if r["deal_count"]] == [("Qualified to buy", 1)]


def test_deals_by_stage_never_adds_amounts_across_currencies(account, deals):
    with scope(account=account):
        deals["make"]("d9", "Appointment scheduled", "100.00", currency="EUR")
    result = run(account)
    appointment = [r for r in result.rows if r["stage"] == "Appointment scheduled"]
    assert [(r["currency"], r["deal_count"], r["deal_amount"]) for r in appointment] == [
        ("EUR", 1, Decimal("100.00")), ("USD", 3, Decimal("20.29"))]
    assert len(result.rows) == 14
    assert result.totals == {"deal_count": 9, "currency": ""}
    assert "2 currencies" in result.notes[0]


def test_deals_by_stage_ignores_other_accounts_deals(account, deals, other_account):
    with scope(account=other_account):
        deal_create(account=other_account, name="foreign", amount="999")
    assert run(account).totals["deal_count"] == 8


@pytest.mark.parametrize(("params", "field"), [
    ({"pipeline": "abc"}, "pipeline"),
    ({"owner": "999999"}, "owner"),
    ({"created": "custom"}, "created"),
    ({"created": "custom", "created_from": "2026-13-01", "created_to": "2026-01-02"}, "created_from"),
    ({"created": "soon"}, "created"),
])
def test_deals_by_stage_names_the_bad_parameter(account, deals, params, field):
    with pytest.raises(ReportParamError) as error:
        run(account, **params)
    assert field in error.value.fields


def test_deals_by_stage_refuses_a_pipeline_of_another_account(account, deals, other_account):
    with scope(account=other_account):
        foreign = pipeline_default(account=other_account)
    with pytest.raises(ReportParamError):
        run(account, pipeline=str(foreign.pk))


def test_deals_by_stage_result_shape_is_pinned(account, deals):
    body = run(account, created="last_month").to_json()
    assert set(body) == {"report", "title", "params", "columns", "rows", "totals", "chart", "notes"}
    assert body["report"] == "deals_by_stage" and body["title"] == "Deals by stage — Sales pipeline"
    assert body["params"] == {"pipeline": str(deals["pipeline"].pk), "created": "last_month", "owner": ""}
    assert [(c["key"], c["kind"]) for c in body["columns"]] == [
        ("stage", "text"), ("currency", "text"), ("deal_count", "count"), ("deal_amount", "money"),
        ("weighted_amount", "money")]
    assert body["rows"][5] == {"stage": "Closed won", "stage_id": deals["stage"]["Closed won"].pk,
                               "probability": 100, "currency": "USD", "deal_count": 1, "deal_amount": "333.33",
                               "weighted_amount": "333.33"}
    assert body["totals"] == {"deal_count": 1, "deal_amount": "333.33", "weighted_amount": "333.33",
                              "currency": "USD"}
    assert body["chart"] == {"type": "bar", "label": "stage", "values": ["deal_amount", "weighted_amount"]}
    assert body["notes"] == []


def test_deals_by_stage_is_the_same_on_the_page_in_the_api_and_in_the_cli(account, deals, logged_in_client,
                                                                            capsys):
    query = {"created": "custom", "created_from": "2026-02-01", "created_to": "2026-03-31"}
    page = logged_in_client.get("/reports/deals_by_stage/", query).context["result"].to_json()
    api = logged_in_client.get("/api/v1/reports/deals_by_stage", query).json()
    call_command("report", "deals_by_stage", *[f"--param={k}={v}" for k, v in query.items()], "--json",
                 account="Acme")
    cli = json.loads(capsys.readouterr().out)
    assert page == api == cli
    assert page["totals"]["deal_count"] == 8


def test_report_command_exits_2_when_a_parameter_is_bad(account, deals):
    with pytest.raises(CommandError) as error:
        call_command("report", "deals_by_stage", "--param=created=soon", account="Acme")
    assert error.value.returncode == 2 and "created" in str(error.value)
