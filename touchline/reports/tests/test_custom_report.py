"""The custom report builder (touchline/reports/queries/custom.py), computed by hand.

The account "Acme" is in Europe/Berlin (UTC+1 in winter); `now` is pinned to 2026-03-15 12:00 UTC.

Contacts (owner, lifecycle stage, created UTC):
    c1  ada   lead        2026-03-10 09:00
    c2  ada   lead        2026-03-10 09:00
    c3  ada   customer    2026-03-10 09:00
    c4  —     customer    2026-03-10 09:00
    c5  ada   subscriber  2026-02-28 23:30   (00:30 on 1 March in Berlin)
  and in Globex, another account: g1 lead (owner none), g2 customer.

Owner ada: subscriber 1, lead 2, customer 1 — 4 contacts; c4 has no owner.

Deals of the default pipeline (stage, currency, amount):
    Appointment scheduled  USD 19.99, 0.10, 0.20   → 3 deals, 20.29, average 20.29 ÷ 3 = 6.7633… → 6.76
    Appointment scheduled  EUR 5.00                → 1 deal, 5.00
    Qualified to buy       USD 1000.00, and one without an amount → 2 deals, 1000.00, average 1000.00 ÷ 1
  Totals: 6 deals; the amounts are in two currencies, so no amount total.

Attribution credits (lookback 0 unless said; weights in billionths, amounts in cents):
    conv1 contact create:  linear i1 page view 0.5, i2 form submission 0.5; first interaction i1 1, i2 0;
                           linear with a 30-day lookback i1 0.5, i2 0.5 (another window: never added)
    conv2 revenue USD 100: linear i1 page view 333333334 / 3334, i2 form 333333333 / 3333, i3 page view
                           333333333 / 3333
    conv3 revenue EUR 50:  linear i1 page view 1 / 5000
  Revenue by interaction type and currency: page view EUR 50.00 (1.00 conversion), page view USD 66.67
  (0.666666667 → 0.67), form submission USD 33.33 (0.33); 2.00 conversions in all, no amount total.

Sessions: organic search 3 page views (new visitor) and 1 (returning); direct 2 (new visitor).

Enrollments (enrolled UTC → Berlin month): 2026-02-28 22:30 → February (23:30 on the 28th), 2026-02-28 23:30 →
March (00:30 on the 1st), 2026-03-10 09:00 → March, and one scheduled in March that has not started (not counted).
"""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django_scopes import scope, scopes_disabled

from touchline.attribution.models import Conversion, Credit, Interaction
from touchline.core.accounts import user_create
from touchline.core.models import Plan
from touchline.crm.models import Contact, DealStage
from touchline.crm.services import company_create, contact_create, deal_create, pipeline_default
from touchline.reports import services
from touchline.reports.models import Tile
from touchline.reports.pipeline import ReportParamError, report_run
from touchline.sequences.models import Enrollment, EventKind, Inbox, Sequence, Step, StepType
from touchline.sequences.services import event_record
from touchline.tracking.models import Site, Visitor, WebSession

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
MARCH_10 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
FEB_28_2230 = datetime(2026, 2, 28, 22, 30, tzinfo=UTC)  # 23:30 on 28 February in Berlin
FEB_28_2330 = datetime(2026, 2, 28, 23, 30, tzinfo=UTC)  # 00:30 on 1 March in Berlin


def run(account, **params):
    with scope(account=account):
        return report_run("custom", account=account, data=params, now=NOW)


def cells(result, *keys):
    return [tuple(row[k] for k in keys) for row in result.rows]


@pytest.fixture
def contacts(account, user, other_account):
    with scope(account=account):
        navy = company_create(account=account, name="Navy")
        for name, stage, owner, created in (("c1", "lead", user, MARCH_10), ("c2", "lead", user, MARCH_10),
                                            ("c3", "customer", user, MARCH_10), ("c4", "customer", None, MARCH_10),
                                            ("c5", "subscriber", user, FEB_28_2330)):
            contact_create(account=account, email=f"{name}@acme.test", lifecycle_stage=stage, owner=owner,
                           created_at=created, company=navy if name == "c1" else None)
    with scope(account=other_account):
        globex = company_create(account=other_account, name="Globex")
        contact_create(account=other_account, email="g1@globex.test", lifecycle_stage="lead", created_at=MARCH_10,
                       company=globex)
        contact_create(account=other_account, email="g2@globex.test", lifecycle_stage="customer",
                       created_at=MARCH_10)
    return {"navy": navy, "globex": globex}


@pytest.fixture
def deals(account):
    with scope(account=account):
        pipeline = pipeline_default(account=account)
        stage = {s.name: s for s in DealStage.objects.filter(pipeline=pipeline)}
        for amount, currency, stage_name in (("19.99", "USD", "Appointment scheduled"),
                                             ("0.10", "USD", "Appointment scheduled"),
                                             ("0.20", "USD", "Appointment scheduled"),
                                             ("5.00", "EUR", "Appointment scheduled"),
                                             ("1000.00", "USD", "Qualified to buy"),
                                             (None, "USD", "Qualified to buy")):
            deal_create(account=account, name=f"{stage_name} {amount}", amount=amount, currency=currency,
                        stage=stage[stage_name], created_at=MARCH_10)
    return stage


@pytest.fixture
def enrollments(account, user):
    with scope(account=account):
        inbox = Inbox.objects.create(account=account, user=user, from_name="Ada", from_email="ada@acme.test")
        sequence = Sequence.objects.create(account=account, name="Outbound", owner=user)
        step = Step.objects.create(account=account, sequence=sequence, position=1, step_type=StepType.AUTOMATED_EMAIL)
        people = [contact_create(account=account, email=f"e{i}@acme.test") for i in range(4)]
        made = []
        for contact, at, status in ((people[0], FEB_28_2230, "active"), (people[1], FEB_28_2330, "replied"),
                                    (people[2], MARCH_10, "active"), (people[3], MARCH_10, "scheduled")):
            made.append(Enrollment.objects.create(
                account=account, sequence=sequence, contact=contact, enrolled_by=user, inbox=inbox,
                current_step=step, status=status, enrolled_at=at))
        event_record(contact=people[0], kind=EventKind.OPEN, enrollment=made[0], occurred_at=MARCH_10)
        event_record(contact=people[0], kind=EventKind.OPEN, enrollment=made[0], occurred_at=MARCH_10,
                     is_machine=True, machine_reason="apple_mpp")
        event_record(contact=people[1], kind=EventKind.CLICK, enrollment=made[1], occurred_at=MARCH_10)
    return {"sequence": sequence, "enrollments": made}


@pytest.fixture
def credits(account):
    with scope(account=account):
        def interaction(n, kind, channel):
            return Interaction.objects.create(account=account, source_key=f"t:{n}", interaction_type=kind,
                                              occurred_at=FEB_28_2230, channel=channel)

        i1, i2, i3 = (interaction(1, "page_view", "organic_search"), interaction(2, "form_submission", "direct"),
                      interaction(3, "page_view", "paid_search"))

        def conversion(kind, value, currency, credits):
            made = Conversion.objects.create(account=account, kind=kind, converted_at=MARCH_10, value=value,
                                             currency=currency, touches=len(credits))
            for target, model, lookback, nano, cents in credits:
                Credit.objects.create(account=account, conversion=made, interaction=target, model=model,
                                      lookback_days=lookback, weight_nano=nano, amount_cents=cents)

        half = 500_000_000
        conversion("contact_create", "1", "", [(i1, "linear", 0, half, 0), (i2, "linear", 0, half, 0),
                                               (i1, "first_interaction", 0, 2 * half, 0),
                                               (i2, "first_interaction", 0, 0, 0),
                                               (i1, "linear", 30, half, 0), (i2, "linear", 30, half, 0)])
        conversion("revenue", "100.00", "USD", [(i1, "linear", 0, 333_333_334, 3334),
                                                (i2, "linear", 0, 333_333_333, 3333),
                                                (i3, "linear", 0, 333_333_333, 3333)])
        conversion("revenue", "50.00", "EUR", [(i1, "linear", 0, 2 * half, 5000)])


@pytest.fixture
def sessions(account):
    with scope(account=account):
        site = Site.objects.create(account=account, name="www")
        for n, (source, views, first) in enumerate((("organic_search", 3, True), ("organic_search", 1, False),
                                                    ("direct", 2, True))):
            visitor = Visitor.objects.create(account=account, site=site, key=f"v{n}", first_seen_at=MARCH_10)
            WebSession.objects.create(account=account, site=site, visitor=visitor, started_at=MARCH_10,
                                      last_seen_at=MARCH_10, page_views=views, is_first=first,
                                      landing_url="https://acme.test/", source=source)


# Parsing: everything is a whitelist, and each bad field is named.

def test_custom_report_names_each_unknown_field_when_dimension_metric_filter_and_operator_are_not_whitelisted(
        account):
    with pytest.raises(ReportParamError) as error:
        run(account, source="contacts", dimension="email_domain", metrics="contact_count,deal_amount",
            f1_field="password", f2_field="lifecycle_stage", f2_op="gt", f2_value="lead")
    fields = error.value.fields
    assert set(fields) == {"dimension", "metrics", "f1_field", "f2_op"}
    assert "'email_domain'" in fields["dimension"] and "lifecycle_stage" in fields["dimension"]
    assert "'deal_amount'" in fields["metrics"]
    assert "'password'" in fields["f1_field"]
    assert "'gt'" in fields["f2_op"]


def test_custom_report_rejects_the_source_when_it_is_not_one_of_the_data_sources(account):
    with pytest.raises(ReportParamError) as error:
        run(account, source="auth_user")
    assert list(error.value.fields) == ["source"]


def test_custom_report_rejects_a_filter_value_when_it_is_not_a_choice_of_the_field(account):
    with pytest.raises(ReportParamError) as error:
        run(account, source="contacts", f1_field="lifecycle_stage", f1_op="is", f1_value="lead' OR 1=1 --")
    assert list(error.value.fields) == ["f1_value"]


def test_custom_report_api_answers_422_naming_the_field_when_the_metric_is_unknown(logged_in_client):
    response = logged_in_client.get("/api/v1/reports/custom", {"source": "deals", "metrics": "profit"})
    assert response.status_code == 422
    assert list(response.json()["error"]["fields"]) == ["metrics"]


def test_custom_report_requires_no_dimension_when_the_chart_is_a_kpi(account):
    with pytest.raises(ReportParamError) as error:
        run(account, source="contacts", dimension="owner", chart="kpi")
    assert list(error.value.fields) == ["chart"]


# Contacts: grouping, filters and the account scope.

def test_contacts_by_lifecycle_stage_counts_only_the_owners_contacts_when_filtered_by_owner(account, user, contacts):
    result = run(account, source="contacts", dimension="lifecycle_stage", f1_field="owner", f1_op="is",
                 f1_value=str(user.pk))
    assert cells(result, "dim_lifecycle_stage", "contact_count") == [("Subscriber", 1), ("Lead", 2), ("Customer", 1)]
    assert result.totals == {"contact_count": 4}
    assert [c.key for c in result.columns] == ["dim_lifecycle_stage", "contact_count"]
    assert result.params["f1_field"] == "owner" and result.params["f1_value"] == str(user.pk)


def test_contacts_without_an_owner_are_counted_when_the_filter_is_owner_empty(account, contacts):
    result = run(account, source="contacts", dimension="lifecycle_stage", f1_field="owner", f1_op="empty")
    assert cells(result, "dim_lifecycle_stage", "contact_count") == [("Customer", 1)]


def test_contacts_of_another_account_are_never_counted_when_grouped_by_company(account, contacts):
    result = run(account, source="contacts", dimension="company")
    # Navy (c1) and no company (c2–c5); Globex's contacts and company are not there.
    assert cells(result, "dim_company", "contact_count") == [("Navy", 1), ("(none)", 4)]
    assert result.totals["contact_count"] == 5


def test_custom_report_rejects_another_accounts_company_when_it_is_a_filter_value(account, contacts):
    with pytest.raises(ReportParamError) as error:
        run(account, source="contacts", f1_field="company", f1_op="is", f1_value=str(contacts["globex"].pk))
    assert "No company" in error.value.fields["f1_value"]


def test_contacts_by_created_month_use_the_account_time_zone_when_near_midnight(account, contacts):
    # c5 was created at 23:30 UTC on 28 February: already 1 March in Berlin.
    result = run(account, source="contacts", dimension="created_month")
    assert cells(result, "dim_created_month", "contact_count") == [("2026-03", 5)]


def test_contacts_by_created_week_and_quarter_use_local_mondays_when_created_on_a_local_sunday(account, contacts):
    # c5 is Sunday 1 March in Berlin: the week of Monday 23 February; c1–c4 (Tuesday 10 March): the week of the 9th.
    weeks = run(account, source="contacts", dimension="created_week", dimension2="lifecycle_stage")
    assert cells(weeks, "dim_created_week", "dim_lifecycle_stage", "contact_count") == [
        ("2026-02-23", "Subscriber", 1), ("2026-03-09", "Lead", 2), ("2026-03-09", "Customer", 2)]
    quarters = run(account, source="contacts", dimension="created_quarter")
    assert cells(quarters, "dim_created_quarter", "contact_count") == [("2026-Q1", 5)]


def test_custom_report_rejects_a_number_filter_when_the_value_is_not_a_finite_number(account):
    for value in ("ten", "nan", "1e400"):
        with pytest.raises(ReportParamError) as error:
            run(account, source="deals", f1_field="amount", f1_op="gt", f1_value=value)
        assert list(error.value.fields) == ["f1_value"]


# Deals: money per currency, exactly.

def test_deals_amount_by_stage_is_summed_exactly_per_currency_when_deals_are_in_two_currencies(account, deals):
    result = run(account, source="deals", dimension="stage",
                 metrics="deal_count,deal_amount,deal_average_amount")
    assert cells(result, "dim_stage", "currency", "deal_count", "deal_amount", "deal_average_amount") == [
        ("Appointment scheduled", "EUR", 1, Decimal("5.00"), Decimal("5.00")),
        ("Appointment scheduled", "USD", 3, Decimal("20.29"), Decimal("6.76")),
        ("Qualified to buy", "USD", 2, Decimal("1000.00"), Decimal("1000.00")),
    ]
    assert result.totals == {"deal_count": 6, "currency": ""}  # no amount across currencies
    assert any("2 currencies" in note for note in result.notes)


def test_deals_amount_total_is_given_when_a_filter_leaves_one_currency(account, deals):
    result = run(account, source="deals", dimension="stage", metrics="deal_amount", f1_field="currency",
                 f1_op="is", f1_value="USD")
    assert cells(result, "dim_stage", "deal_amount") == [("Appointment scheduled", Decimal("20.29")),
                                                         ("Qualified to buy", Decimal("1000.00"))]
    assert result.totals == {"deal_amount": Decimal("1020.29"), "currency": "USD"}


def test_deals_amount_is_one_row_per_currency_when_there_is_no_dimension(account, deals):
    result = run(account, source="deals", dimension="", metrics="deal_amount", chart="table")
    assert cells(result, "label", "currency", "deal_amount") == [("All", "EUR", Decimal("5.00")),
                                                                 ("All", "USD", Decimal("1020.29"))]


def test_deals_over_an_amount_are_counted_when_the_filter_is_greater_than(account, deals):
    result = run(account, source="deals", dimension="", metrics="deal_count", chart="kpi", f1_field="amount",
                 f1_op="gt", f1_value="10")
    assert cells(result, "label", "deal_count") == [("All", 2)]  # 19.99 and 1000.00
    assert result.totals == {"deal_count": 2} and result.chart["type"] == "kpi"


# Enrollments: months in the account's time zone.

def test_enrollments_by_month_follow_berlin_months_when_enrolled_around_midnight_utc(account, enrollments):
    result = run(account, source="enrollments", dimension="enrolled_month",
                 metrics="enrollment_count,enrolled_contacts")
    assert cells(result, "dim_enrolled_month", "enrollment_count", "enrolled_contacts") == [
        ("2026-02", 1, 1), ("2026-03", 2, 2)]  # the scheduled enrollment is in no report
    assert result.totals == {"enrollment_count": 3, "enrolled_contacts": 3}


def test_enrollments_in_a_custom_range_start_at_local_midnight_when_the_range_is_march(account, enrollments):
    result = run(account, source="enrollments", dimension="status", range="custom", range_from="2026-03-01",
                 range_to="2026-03-31")
    assert cells(result, "dim_status", "enrollment_count") == [("Active", 1), ("Replied", 1)]


# Engagement events: human unless machine events are included; no clicks on the starter plan.

def test_events_by_kind_leave_machine_opens_out_unless_machine_events_are_included(account, enrollments):
    human = run(account, source="events", dimension="kind", f1_field="kind", f1_op="is_not", f1_value="enrolled")
    assert cells(human, "dim_kind", "event_count") == [("Opened", 1), ("Clicked", 1)]
    both = run(account, source="events", dimension="kind", dimension2="is_machine", f1_field="kind", f1_op="is_not",
               f1_value="enrolled", machine="1")
    assert cells(both, "dim_kind", "dim_is_machine", "event_count") == [
        ("Opened", "Machine", 1), ("Opened", "Human", 1), ("Clicked", "Human", 1)]


def test_events_leave_clicks_out_when_the_account_is_on_the_starter_plan(account, enrollments):
    with scopes_disabled():
        account.plan = Plan.STARTER
        account.save()
    result = run(account, source="events", dimension="kind", f1_field="kind", f1_op="is_not", f1_value="enrolled")
    assert cells(result, "dim_kind", "event_count") == [("Opened", 1)]


# Attribution credits: one window, one conversion kind, one model; money per currency.

def test_credits_by_interaction_type_sum_one_conversion_when_counting_contact_creates_under_linear(account, credits):
    result = run(account, source="credits", dimension="interaction_type")
    assert cells(result, "dim_interaction_type", "credited_conversions") == [
        ("Page view", Decimal("0.50")), ("Form submission", Decimal("0.50"))]  # the 30-day window is not added
    assert result.totals == {"credited_conversions": Decimal("1.00")}


def test_credited_revenue_is_summed_per_currency_when_revenue_conversions_are_in_two_currencies(account, credits):
    result = run(account, source="credits", conversion="revenue", dimension="interaction_type",
                 metrics="attributed_revenue,credited_conversions")
    assert cells(result, "dim_interaction_type", "currency", "attributed_revenue", "credited_conversions") == [
        ("Page view", "EUR", Decimal("50.00"), Decimal("1.00")),
        ("Page view", "USD", Decimal("66.67"), Decimal("0.67")),
        ("Form submission", "USD", Decimal("33.33"), Decimal("0.33")),
    ]
    assert result.totals == {"credited_conversions": Decimal("2.00"), "currency": ""}


def test_credits_refuse_another_model_when_the_account_is_not_on_the_enterprise_plan(account, credits):
    for params in ({"model": "first_interaction"}, {"dimension": "model"}):
        with pytest.raises(ReportParamError) as error:
            run(account, source="credits", **params)
        assert list(error.value.fields) == ["model"]


def test_credits_compare_models_side_by_side_when_the_model_is_the_dimension_on_enterprise(account, credits):
    with scopes_disabled():
        account.plan = Plan.ENTERPRISE
        account.save()
    result = run(account, source="credits", dimension="model")
    assert cells(result, "dim_model", "credited_conversions") == [("first_interaction", Decimal("1.00")),
                                                                   ("linear", Decimal("1.00"))]


# Sessions.

def test_sessions_by_traffic_source_sum_page_views_when_grouped_by_source(account, sessions):
    result = run(account, source="sessions", dimension="source",
                 metrics="session_count,page_views,new_visitor_sessions")
    assert cells(result, "dim_source", "session_count", "page_views", "new_visitor_sessions") == [
        ("Organic search", 2, 4, 1), ("Direct traffic", 1, 2, 1)]
    assert result.totals == {"session_count": 3, "page_views": 6, "new_visitor_sessions": 2}


def test_custom_report_result_shape_is_pinned_when_deals_are_grouped_by_status(account, deals):
    body = run(account, source="deals", dimension="status", metrics="deal_count,deal_amount",
               f1_field="currency", f1_op="is", f1_value="EUR").to_json()
    assert body == {
        "report": "custom", "title": "Deals by status",
        "params": {"source": "deals", "dimension": "status", "dimension2": "", "metrics": "deal_count,deal_amount",
                   "f1_field": "currency", "f1_op": "is", "f1_value": "EUR", "range": "all_time", "chart": "bar"},
        "columns": [{"key": "dim_status", "label": "Status", "kind": "text", "definition": ""},
                    {"key": "currency", "label": "Currency", "kind": "text", "definition": ""},
                    {"key": "deal_count", "label": "Deals", "kind": "count",
                     "definition": "Number of deals, whatever their amount."},
                    {"key": "deal_amount", "label": "Amount", "kind": "money",
                     "definition": "Sum of the deals' amounts in their currency; a deal without an amount adds "
                                   "nothing."}],
        "rows": [{"dim_status": "Open", "currency": "EUR", "deal_count": 1, "deal_amount": "5.00", "label": "Open"}],
        "totals": {"deal_count": 1, "deal_amount": "5.00", "currency": "EUR"},
        "chart": {"type": "bar", "label": "label", "values": ["deal_count", "deal_amount"]},
        "notes": [],
    }


def test_custom_report_shows_only_its_first_rows_when_a_dimension_has_more_than_the_limit(account, monkeypatch, deals):
    monkeypatch.setattr("touchline.reports.queries.custom.MAX_ROWS", 1)
    result = run(account, source="deals", dimension="stage")
    assert cells(result, "dim_stage", "deal_count") == [("Appointment scheduled", 4)]
    assert result.totals == {"deal_count": 6} and "first 1 of 2 rows" in result.notes[0]


# Everywhere the pipeline's result goes: save, dashboard tile, CSV, XLSX, API, CLI, the builder page.

def test_saved_custom_report_runs_live_on_a_dashboard_tile_when_saved_to_a_new_dashboard(
        account, user, contacts, logged_in_client):
    result = run(account, source="contacts", dimension="lifecycle_stage", f1_field="owner", f1_op="is",
                 f1_value=str(user.pk))
    with scope(account=account):
        saved, dashboard = services.report_save(
            account=account, owner=user, name="Ada's contacts", report_key="custom", params=result.params,
            chart_type="bar", new_dashboard=services.NewDashboard("Mine"))
        tile = Tile.objects.get(dashboard=dashboard)
        contact_create(account=account, email="late@acme.test", lifecycle_stage="lead", owner=user)
    html = logged_in_client.get(f"/dashboards/{dashboard.pk}/tiles/{tile.pk}/").content.decode()
    assert "Ada&#x27;s contacts" in html and 'id="tile-data-' in html
    data = json.loads(html.split(f'id="tile-data-{tile.pk}" type="application/json">')[1].split("</script>")[0])
    assert [(r["dim_lifecycle_stage"], r["contact_count"]) for r in data["rows"]] == [
        ("Subscriber", 1), ("Lead", 3), ("Customer", 1)]  # live: the lead added after saving counts
    assert data["chart"]["type"] == "bar"
    csv = logged_in_client.get(f"/dashboards/{dashboard.pk}/tiles/{tile.pk}/", {"format": "csv"})
    assert csv.content.decode().splitlines() == ["Lifecycle stage,Contacts", "Subscriber,1", "Lead,3", "Customer,1"]


def test_dashboard_date_range_replaces_the_custom_reports_range_when_set(account, user, contacts, logged_in_client):
    result = run(account, source="contacts", dimension="lifecycle_stage")
    with scope(account=account):
        saved, dashboard = services.report_save(account=account, owner=user, name="All contacts",
                                                report_key="custom", params=result.params, chart_type="table",
                                                new_dashboard=services.NewDashboard("Mine"))
        tile = Tile.objects.get(dashboard=dashboard)
    csv = logged_in_client.get(f"/dashboards/{dashboard.pk}/tiles/{tile.pk}/", {
        "format": "csv", "range": "custom", "range_from": "2026-02-01", "range_to": "2026-02-28"})
    assert csv.content.decode().splitlines() == ["Lifecycle stage,Contacts"]  # c5 is 1 March in Berlin


def test_custom_report_downloads_csv_and_xlsx_when_the_builder_is_asked_for_a_format(account, deals,
                                                                                     logged_in_client):
    query = {"source": "deals", "dimension": "stage", "metrics": "deal_count,deal_amount"}
    csv = logged_in_client.get("/reports/custom/", query | {"format": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    assert csv.content.decode().splitlines() == [
        "Stage,Currency,Deals,Amount",
        "Appointment scheduled,EUR,1,5.00",
        "Appointment scheduled,USD,3,20.29",
        "Qualified to buy,USD,2,1000.00",
    ]
    xlsx = logged_in_client.get("/reports/custom/", query | {"format": "xlsx"})
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")


def test_custom_report_api_answers_the_result_shape_when_the_params_are_valid(logged_in_client, contacts):
    body = logged_in_client.get("/api/v1/reports/custom", {"source": "contacts", "dimension": "lifecycle_stage",
                                                           "metrics": "contact_count"}).json()
    assert body["report"] == "custom" and body["params"]["source"] == "contacts"
    assert [(r["dim_lifecycle_stage"], r["contact_count"]) for r in body["rows"]] == [
        ("Subscriber", 1), ("Lead", 2), ("Customer", 2)]
    assert body["columns"][1]["definition"] == "Number of contacts."


def test_custom_report_command_prints_csv_when_given_params(account, deals, capsys):
    call_command("report", "custom", "--param", "source=deals", "--param", "dimension=status",
                 "--param", "metrics=deal_count", "--csv")
    assert capsys.readouterr().out.splitlines() == ["Status,Deals", "Open,6"]


def test_builder_page_offers_the_sources_dimensions_and_save_control_when_opened(logged_in_client, contacts):
    html = logged_in_client.get("/reports/custom/", {"source": "deals"}).content.decode()
    assert 'name="source"' in html and 'value="stage"' in html and 'value="deal_amount"' in html
    assert "Save as report" in html and 'id="data-custom"' in html


def test_builder_page_answers_htmx_with_the_builder_only_and_shows_errors_when_params_are_bad(logged_in_client):
    response = logged_in_client.get("/reports/custom/", {"source": "contacts", "dimension": "nope"},
                                    headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "No dimension" in html


def test_builder_page_does_not_show_another_accounts_rows_when_a_user_of_it_opens_it(client, account, contacts,
                                                                                      other_account):
    globex_user = user_create(username="gus", email="gus@globex.test", password="yet another passphrase",
                              account=other_account)
    client.force_login(globex_user)
    body = client.get("/api/v1/reports/custom", {"source": "contacts", "dimension": "lifecycle_stage"}).json()
    assert [(r["dim_lifecycle_stage"], r["contact_count"]) for r in body["rows"]] == [("Lead", 1), ("Customer", 1)]
    with scope(account=account):
        assert Contact.objects.filter(account=account).count() == 5


def test_kpi_tile_shows_one_number_per_metric_when_a_kpi_report_is_saved(account, user, deals, logged_in_client):
    result = run(account, source="deals", dimension="", metrics="deal_count", chart="kpi")
    with scope(account=account):
        saved, dashboard = services.report_save(account=account, owner=user, name="Deal count",
                                                report_key="custom", params=result.params, chart_type="table",
                                                new_dashboard=services.NewDashboard("KPIs"))
        tile = Tile.objects.get(dashboard=dashboard)
    html = logged_in_client.get(f"/dashboards/{dashboard.pk}/tiles/{tile.pk}/").content.decode()
    assert 'class="kpi-value"' in html and ">6</p>" in html


def test_custom_report_is_added_from_the_library_when_its_params_are_filled_in(account, user, deals,
                                                                               logged_in_client):
    with scope(account=account):
        dashboard = services.dashboard_create(account=account, owner=user, name="Mine")
    form = logged_in_client.get(f"/dashboards/{dashboard.pk}/add/", {"report": "custom"}).content.decode()
    assert 'name="p_source"' in form
    response = logged_in_client.post(f"/dashboards/{dashboard.pk}/add/?report=custom", {
        "name": "Deals by status", "chart_type": "bar", "p_source": "deals", "p_dimension": "status",
        "p_range": "all_time", "p_chart": "bar", "p_model": "linear", "p_lookback": "0",
        "p_conversion": "contact_create"})
    assert response.status_code == 302
    with scope(account=account):
        tile = Tile.objects.select_related("saved_report").get(dashboard=dashboard)
    assert tile.saved_report.params["metrics"] == ""  # none given: the source's count
    csv = logged_in_client.get(f"/dashboards/{dashboard.pk}/tiles/{tile.pk}/", {"format": "csv"})
    assert csv.content.decode().splitlines() == ["Status,Deals", "Open,6"]
