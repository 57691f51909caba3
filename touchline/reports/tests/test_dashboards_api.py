"""Saved reports and dashboards through the JSON API with bearer tokens, on the real database: visibility as three
users (owner Ada, Bob, Carol) with the same expectations as the pages (test_dashboards.py), owners' changes and
viewers' refusals, a saved report run compared with `/api/v1/reports/<key>`, tiles added, moved and removed.

Sequence numbers come from the root conftest's `history` (worked out in test_sequence_engagement.py): Outbound has
5 enrolled contacts c1–c5 over all time; c3 enrolled on 10 January, the others in March, so March alone has 4.
"""

from __future__ import annotations

import pytest
from django_scopes import scope

from touchline.api.tokens import api_token_create
from touchline.core.accounts import user_create
from touchline.crm.services import deal_create
from touchline.reports import pipeline
from touchline.reports.models import Dashboard, SavedReport, Tile, Visibility
from touchline.reports.services import report_save
from touchline.reports.tests.test_dashboards import _outbound_params, _summary_on_dashboard
from touchline.reports.tests.test_pipeline import SlowReport

pytestmark = pytest.mark.django_db


class Api:
    """The test client as one user: their token on every call."""

    def __init__(self, client, user, account):
        _, plain = api_token_create(user=user, account=account, name="tests")
        self.client, self.headers = client, {"Authorization": f"Bearer {plain}"}

    def get(self, path, data=None):
        return self.client.get(f"/api/v1{path}", data or {}, headers=self.headers)

    def post(self, path, body=None):
        return self.client.post(f"/api/v1{path}", body or {}, content_type="application/json", headers=self.headers)

    def patch(self, path, body):
        return self.client.patch(f"/api/v1{path}", body, content_type="application/json", headers=self.headers)

    def delete(self, path):
        return self.client.delete(f"/api/v1{path}", headers=self.headers)


@pytest.fixture
def people(account, user):
    """Ada (the `user` fixture) owns; Bob and Carol are members of the same account (as in test_dashboards.py)."""
    bob = user_create(username="bob2", email="bob2@acme.test", password="another long passphrase", account=account,
                      first_name="Bob")
    carol = user_create(username="carol", email="carol@acme.test", password="yet another passphrase",
                        account=account, first_name="Carol")
    return {"ada": user, "bob": bob, "carol": carol}


@pytest.fixture
def apis(client, account, people):
    return {name: Api(client, person, account) for name, person in people.items()}


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


# Visibility: three users, the same expectations as the pages.

@pytest.mark.parametrize(("visibility", "shared_with", "sees"), [
    (Visibility.PRIVATE, (), {"ada": True, "bob": False, "carol": False}),
    (Visibility.EVERYONE, (), {"ada": True, "bob": True, "carol": True}),
    (Visibility.USERS, ("bob",), {"ada": True, "bob": True, "carol": False}),
])
def test_dashboard_is_seen_only_by_its_audience_when_asked_by_api(apis, account, history, people, visibility,
                                                                 shared_with, sees):
    saved, board = _summary_on_dashboard(account, people["ada"], history, visibility,
                                         [people[n] for n in shared_with])
    paths = [f"/dashboards/{board.pk}", f"/saved-reports/{saved.pk}", f"/saved-reports/{saved.pk}/run"]
    for name, api in apis.items():
        statuses = {path: api.get(path).status_code for path in paths}
        expected = 200 if sees[name] else 404
        assert set(statuses.values()) == {expected}, (name, statuses)
        if not sees[name]:  # the same answer as a dashboard that does not exist: the id tells nothing
            assert api.get(paths[0]).json() == api.get("/dashboards/999999").json()
        listed = [d["name"] for d in api.get("/dashboards").json()["items"]]
        assert listed == (["Team"] if sees[name] else []), name
        in_list = [r["name"] for r in api.get("/saved-reports").json()["items"]]
        assert in_list == (["Outbound summary"] if sees[name] else []), name


def test_dashboard_detail_shows_its_audience_and_tiles_when_read_by_a_chosen_user(apis, account, history, people):
    saved, board = _summary_on_dashboard(account, people["ada"], history, Visibility.USERS, [people["bob"]])
    body = apis["bob"].get(f"/dashboards/{board.pk}").json()
    assert (body["name"], body["visibility"], body["user_ids"]) == ("Team", "users", [people["bob"].pk])
    assert (body["owner_email"], body["is_owner"], body["is_default"]) == ("ada@acme.test", False, True)
    assert [(t["position"], t["saved_report"]["id"]) for t in body["tiles"]] == [(0, saved.pk)]
    assert apis["ada"].get(f"/dashboards/{board.pk}").json()["is_owner"] is True


def test_dashboard_changes_are_refused_with_403_to_a_viewer_when_they_do_not_own_it(apis, account, history,
                                                                                    people):
    saved, board = _summary_on_dashboard(account, people["ada"], history, Visibility.EVERYONE)
    with scope(account=account):
        tile = board.tiles.get()
    bob = apis["bob"]
    with scope(account=account):
        bobs, _ = report_save(account=account, owner=people["bob"], name="Bob's", report_key="deals_by_stage",
                              params={})
    answers = {
        "rename": bob.patch(f"/dashboards/{board.pk}", {"name": "Bob's now"}),
        "share": bob.patch(f"/dashboards/{board.pk}", {"visibility": "private"}),
        "delete": bob.delete(f"/dashboards/{board.pk}"),
        "add tile": bob.post(f"/dashboards/{board.pk}/tiles", {"saved_report_id": bobs.pk}),
        "remove tile": bob.delete(f"/dashboards/{board.pk}/tiles/{tile.pk}"),
        "move tile": bob.post(f"/dashboards/{board.pk}/tiles/{tile.pk}/move", {"direction": "up"}),
        "rename report": bob.patch(f"/saved-reports/{saved.pk}", {"name": "Mine now"}),
        "delete report": bob.delete(f"/saved-reports/{saved.pk}"),
    }
    assert {k: r.status_code for k, r in answers.items()} == dict.fromkeys(answers, 403)
    assert {_error(r)["code"] for r in answers.values()} == {"forbidden"}
    with scope(account=account):
        board.refresh_from_db()
        assert (board.name, board.visibility) == ("Team", "everyone")
        assert SavedReport.objects.get(pk=saved.pk).name == "Outbound summary"
        assert list(Tile.objects.filter(dashboard=board)) == [tile]
    # Seeing it is enough to make it one's own default.
    assert bob.post(f"/dashboards/{board.pk}/default").json()["is_default"] is True


def test_dashboard_of_another_account_is_404_when_asked_by_api(client, account, history, people, other_account):
    saved, board = _summary_on_dashboard(account, people["ada"], history, Visibility.EVERYONE)
    with scope(account=account):
        tile = board.tiles.get()
    stranger = user_create(username="eve", email="eve@globex.test", password="a long passphrase here",
                           account=other_account)
    eve = Api(client, stranger, other_account)
    answers = [eve.get(f"/dashboards/{board.pk}"), eve.patch(f"/dashboards/{board.pk}", {"name": "x"}),
               eve.delete(f"/dashboards/{board.pk}"), eve.post(f"/dashboards/{board.pk}/default"),
               eve.delete(f"/dashboards/{board.pk}/tiles/{tile.pk}"),
               eve.post(f"/dashboards/{board.pk}/tiles/{tile.pk}/move", {"direction": "up"}),
               eve.get(f"/saved-reports/{saved.pk}"), eve.get(f"/saved-reports/{saved.pk}/run"),
               eve.delete(f"/saved-reports/{saved.pk}")]
    assert [r.status_code for r in answers] == [404] * len(answers)
    assert eve.get("/dashboards").json()["items"] == [] and eve.get("/saved-reports").json()["items"] == []
    assert eve.get("/dashboards/default").status_code == 404


# Saved reports, dashboards and tiles made through the API; runs compared with the report endpoint.

def test_saved_report_run_matches_the_report_endpoint_when_made_and_tiled_by_api(apis, account, history):
    ada = apis["ada"]
    params = _outbound_params(history) | {"enrolled": "custom", "enrolled_from": "2026-03-01",
                                          "enrolled_to": "2026-03-31"}
    board = ada.post("/dashboards", {"name": "Outbound", "visibility": "everyone"})
    assert board.status_code == 201 and board.json()["tiles"] == [] and board.json()["is_owner"] is True
    saved = ada.post("/saved-reports", {"name": "March", "report_key": "sequence_summary", "params": params,
                                        "chart_type": "table"})
    assert saved.status_code == 201
    assert (saved.json()["report_key"], saved.json()["params"], saved.json()["chart_type"]) == (
        "sequence_summary", params, "table")
    tile = ada.post(f"/dashboards/{board.json()['id']}/tiles", {"saved_report_id": saved.json()["id"]})
    assert tile.status_code == 201 and tile.json()["saved_report"]["id"] == saved.json()["id"]

    run = ada.get(f"/saved-reports/{saved.json()['id']}/run")
    live = ada.get("/reports/sequence_summary", params)
    assert run.status_code == live.status_code == 200
    assert run.json() == live.json()
    assert run.json()["rows"][0]["enrolled_contacts"] == 4  # c1, c2, c4, c5 in March; not c3 (January)
    tiles = ada.get(f"/dashboards/{board.json()['id']}").json()["tiles"]
    assert [t["saved_report"]["name"] for t in tiles] == ["March"]
    # Bob sees it on the shared dashboard and runs it alike.
    assert apis["bob"].get(f"/saved-reports/{saved.json()['id']}/run").json() == live.json()


def test_saved_report_run_uses_the_date_range_over_its_own_when_one_is_given(apis, account, history):
    ada = apis["ada"]
    saved = ada.post("/saved-reports", {"name": "All time", "report_key": "sequence_summary",
                                        "params": _outbound_params(history)}).json()
    assert ada.get(f"/saved-reports/{saved['id']}/run").json()["rows"][0]["enrolled_contacts"] == 5
    march = {"range": "custom", "range_from": "2026-03-01", "range_to": "2026-03-31"}
    ranged = ada.get(f"/saved-reports/{saved['id']}/run", march).json()
    live = ada.get("/reports/sequence_summary", _outbound_params(history) | {
        "enrolled": "custom", "enrolled_from": "2026-03-01", "enrolled_to": "2026-03-31"}).json()
    assert ranged == live and ranged["rows"][0]["enrolled_contacts"] == 4
    bad = ada.get(f"/saved-reports/{saved['id']}/run", {"range": "custom", "range_from": "2026-03-01"})
    assert bad.status_code == 422 and "range_from" in _error(bad)["fields"]


def test_saved_report_run_answers_503_timed_out_when_over_the_budget(apis, account, user, monkeypatch, settings):
    monkeypatch.setitem(pipeline.REGISTRY, SlowReport.key, SlowReport())
    settings.REPORT_TIME_BUDGET_MS = 100
    with scope(account=account):
        deal_create(account=account, name="one deal")
        saved, _ = report_save(account=account, owner=user, name="Slow", report_key=SlowReport.key, params={})
    response = apis["ada"].get(f"/saved-reports/{saved.pk}/run")
    assert response.status_code == 503 and _error(response)["code"] == "timed_out"


def test_saved_report_create_answers_422_naming_the_field_when_the_report_or_its_params_are_bad(apis, account):
    ada = apis["ada"]
    unknown = ada.post("/saved-reports", {"name": "X", "report_key": "no_such_report"})
    assert unknown.status_code == 422 and set(_error(unknown)["fields"]) == {"report_key"}
    bad = ada.post("/saved-reports", {"name": "X", "report_key": "sequence_summary",
                                      "params": {"enrolled": "someday"}})
    assert bad.status_code == 422 and set(_error(bad)["fields"]) == {"params"}
    nameless = ada.post("/saved-reports", {"name": " ", "report_key": "deals_by_stage"})
    assert nameless.status_code == 422 and set(_error(nameless)["fields"]) == {"name"}
    with scope(account=account):
        assert not SavedReport.objects.exists()


def test_saved_report_rename_and_delete_take_its_tiles_along_when_the_owner_asks(apis, account, user):
    ada = apis["ada"]
    board = ada.post("/dashboards", {"name": "Mine"}).json()
    saved = ada.post("/saved-reports", {"name": "Deals", "report_key": "deals_by_stage",
                                        "dashboard_id": board["id"]}).json()
    assert [t["saved_report"]["id"] for t in ada.get(f"/dashboards/{board['id']}").json()["tiles"]] == [saved["id"]]
    renamed = ada.patch(f"/saved-reports/{saved['id']}", {"name": "Deals by stage"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Deals by stage"
    assert ada.delete(f"/saved-reports/{saved['id']}").status_code == 204
    assert ada.get(f"/saved-reports/{saved['id']}").status_code == 404
    assert ada.get(f"/dashboards/{board['id']}").json()["tiles"] == []


def test_tiles_move_and_removal_keep_positions_gapless_when_the_owner_rearranges_by_api(apis, account, user):
    ada = apis["ada"]
    board = ada.post("/dashboards", {"name": "Order"}).json()["id"]
    tiles = {}
    for name in ("A", "B", "C"):
        saved = ada.post("/saved-reports", {"name": name, "report_key": "deals_by_stage"}).json()
        tiles[name] = ada.post(f"/dashboards/{board}/tiles", {"saved_report_id": saved["id"]}).json()["id"]

    def order(response=None):
        body = (response or ada.get(f"/dashboards/{board}")).json()
        return [(t["position"], t["saved_report"]["name"]) for t in body["tiles"]]

    assert order() == [(0, "A"), (1, "B"), (2, "C")]
    moved = ada.post(f"/dashboards/{board}/tiles/{tiles['C']}/move", {"direction": "up"})
    assert moved.status_code == 200 and order(moved) == [(0, "A"), (1, "C"), (2, "B")]
    assert order(ada.post(f"/dashboards/{board}/tiles/{tiles['A']}/move", {"direction": "up"})) == [
        (0, "A"), (1, "C"), (2, "B")]  # already first: stays
    assert order(ada.post(f"/dashboards/{board}/tiles/{tiles['A']}/move", {"direction": "down"})) == [
        (0, "C"), (1, "A"), (2, "B")]
    sideways = ada.post(f"/dashboards/{board}/tiles/{tiles['A']}/move", {"direction": "left"})
    assert sideways.status_code == 422 and set(_error(sideways)["fields"]) == {"direction"}
    assert ada.delete(f"/dashboards/{board}/tiles/{tiles['A']}").status_code == 204
    assert order() == [(0, "C"), (1, "B")]
    assert [r["name"] for r in ada.get("/saved-reports").json()["items"]] == ["A", "B", "C"]  # reports stay


def test_dashboard_sharing_changes_who_sees_it_when_the_owner_patches_it(apis, account, people):
    ada, bob, carol = apis["ada"], apis["bob"], apis["carol"]
    board = ada.post("/dashboards", {"name": "Plans", "visibility": "users", "user_ids": [people["carol"].pk]})
    assert board.status_code == 201 and board.json()["user_ids"] == [people["carol"].pk]
    path = f"/dashboards/{board.json()['id']}"
    assert (bob.get(path).status_code, carol.get(path).status_code) == (404, 200)
    patched = ada.patch(path, {"user_ids": [people["bob"].pk]})
    assert patched.status_code == 200 and patched.json()["user_ids"] == [people["bob"].pk]
    assert (bob.get(path).status_code, carol.get(path).status_code) == (200, 404)
    patched = ada.patch(path, {"visibility": "private", "name": "Plans (mine)"})
    assert (patched.json()["name"], patched.json()["visibility"], patched.json()["user_ids"]) == (
        "Plans (mine)", "private", [])
    assert (bob.get(path).status_code, carol.get(path).status_code) == (404, 404)
    alone = ada.patch(path, {"visibility": "users", "user_ids": []})
    assert alone.status_code == 422 and set(_error(alone)["fields"]) == {"user_ids"}


def test_dashboard_create_answers_422_naming_user_ids_when_sharing_with_a_stranger(apis, other_account):
    stranger = user_create(username="eve", email="eve@globex.test", password="a long passphrase here",
                           account=other_account)
    response = apis["ada"].post("/dashboards", {"name": "Leak", "visibility": "users", "user_ids": [stranger.pk]})
    assert response.status_code == 422 and set(_error(response)["fields"]) == {"user_ids"}


def test_default_dashboard_is_the_chosen_one_when_set_by_api(apis, account, people):
    ada = apis["ada"]
    assert ada.get("/dashboards/default").status_code == 404
    mine = ada.post("/dashboards", {"name": "Mine"}).json()
    theirs = apis["bob"].post("/dashboards", {"name": "Bob's", "visibility": "everyone"}).json()
    assert ada.get("/dashboards/default").json()["id"] == mine["id"]  # the first own one
    chosen = ada.post(f"/dashboards/{theirs['id']}/default")
    assert chosen.status_code == 200 and chosen.json()["is_default"] is True
    assert ada.get("/dashboards/default").json()["id"] == theirs["id"]
    listed = {d["name"]: d["is_default"] for d in ada.get("/dashboards").json()["items"]}
    assert listed == {"Mine": False, "Bob's": True}
    with scope(account=account):
        Dashboard.objects.filter(pk=theirs["id"]).update(visibility=Visibility.PRIVATE)
    assert ada.get("/dashboards/default").json()["id"] == mine["id"]  # no longer visible: falls back
