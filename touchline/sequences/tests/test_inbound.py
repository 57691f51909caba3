"""Inbound mail against real MIME fixtures (fixtures/inbound/*.eml), answering an email the engine really sent
to the SMTP sink; and flufl.bounce's own 117 real bounce messages."""

import ast
import os
from email import message_from_binary_file, policy
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_scopes import scopes_disabled

from touchline.api.tokens import api_token_create
from touchline.crm.services import contact_other_emails_set
from touchline.sequences.inbound import bounce_failures, inbound_process
from touchline.sequences.models import (
    EmailSuppression,
    EngagementEvent,
    Enrollment,
    EnrollmentStatus,
    EventKind,
    InboundMessage,
)

pytestmark = pytest.mark.django_db
BOUNCE_DATA = Path(os.environ.get("FLUFL_BOUNCE_SOURCE", Path(__file__).resolve().parents[3] / "var" / "test-data"
                                  / "flufl_bounce-6.0.0"))


def status(enrollment) -> str:
    with scopes_disabled():
        return Enrollment.all_accounts.get(pk=enrollment.pk).status


def events(kind):
    with scopes_disabled():
        return list(EngagementEvent.all_accounts.filter(kind=kind))


@pytest.mark.parametrize("name", ["reply_outlook.eml", "reply_gmail.eml", "reply_apple_mail.eml"])
def test_a_reply_ends_the_enrollment_as_replied_when_it_answers_a_sequence_email(sent, name):
    enrollment, message, raw = sent
    result = inbound_process(raw(name))
    assert (result.classification, result.enrollment_ids) == ("reply", [enrollment.pk])
    assert status(enrollment) == EnrollmentStatus.REPLIED
    [reply] = events(EventKind.REPLY)
    assert reply.message_id == message.pk  # matched by In-Reply-To


def test_a_reply_to_a_non_sequence_email_still_ends_the_enrollment(sent):
    enrollment, _, raw = sent
    assert inbound_process(raw("reply_not_to_a_sequence_email.eml")).classification == "reply"
    assert status(enrollment) == EnrollmentStatus.REPLIED


@pytest.mark.parametrize("name", ["out_of_office_auto_submitted.eml", "exchange_automatic_reply.eml"])
def test_an_out_of_office_answer_is_recorded_and_the_sequence_goes_on(sent, name):
    enrollment, _, raw = sent
    assert inbound_process(raw(name)).classification == "auto_reply"
    assert status(enrollment) == EnrollmentStatus.ACTIVE
    assert len(events(EventKind.AUTO_REPLY)) == 1


def test_a_hard_bounce_ends_the_enrollment_and_suppresses_the_address(sent):
    enrollment, message, raw = sent
    result = inbound_process(raw("dsn_hard_bounce.eml"))
    assert result.classification == "bounce" and "5.1.1" in result.detail
    assert status(enrollment) == EnrollmentStatus.BOUNCED
    [bounce] = events(EventKind.BOUNCE)
    assert (bounce.bounce_type, bounce.message_id) == ("hard", message.pk)
    with scopes_disabled():
        assert EmailSuppression.all_accounts.get().reason == "bounced"


def test_a_soft_bounce_is_recorded_and_ends_nothing(sent):
    enrollment, _, raw = sent
    assert inbound_process(raw("dsn_soft_bounce.eml")).classification == "bounce"
    assert status(enrollment) == EnrollmentStatus.ACTIVE
    assert [e.bounce_type for e in events(EventKind.BOUNCE)] == ["soft"]


def test_a_spam_complaint_ends_and_suppresses(sent):
    enrollment, _, raw = sent
    assert inbound_process(raw("arf_complaint.eml")).classification == "complaint"
    assert status(enrollment) == EnrollmentStatus.BOUNCED
    with scopes_disabled():
        assert EmailSuppression.all_accounts.get().reason == "complaint"


def test_the_same_message_twice_changes_nothing_the_second_time(sent):
    _, _, raw = sent
    assert inbound_process(raw("reply_outlook.eml")).classification == "reply"
    assert inbound_process(raw("reply_outlook.eml")).classification == "duplicate"
    assert len(events(EventKind.REPLY)) == 1
    with scopes_disabled():
        assert InboundMessage.all_accounts.count() == 1


def test_a_reply_quoting_a_bounce_is_a_reply_when_a_person_sent_it(sent):
    enrollment, _, raw = sent
    quoting = raw("reply_not_to_a_sequence_email.eml").replace(
        b"Hi Ada, separate question", b"FYI this bounced:\n\nThe following addresses had permanent fatal errors "
        b"-----\n<bob@navy.test>\n<<< 550 5.1.1 <bob@navy.test>... User unknown\n\nSeparate question")
    assert inbound_process(quoting).classification == "reply"
    assert status(enrollment) == EnrollmentStatus.REPLIED
    with scopes_disabled():
        assert not EmailSuppression.all_accounts.exists()


def test_a_stranger_s_email_is_kept_as_unmatched(sent):
    enrollment, _, raw = sent
    stranger = raw("reply_not_to_a_sequence_email.eml").replace(b"grace@navy.test", b"nobody@else.test")
    assert inbound_process(stranger).classification == "unmatched"
    assert status(enrollment) == EnrollmentStatus.ACTIVE


def test_an_email_from_another_address_of_the_contact_ends_the_enrollment_when_it_is_outside_the_thread(sent):
    enrollment, _, raw = sent
    with scopes_disabled():
        contact_other_emails_set(contact=enrollment.contact, emails=["grace.hopper@home.test"])
    from_home = raw("reply_not_to_a_sequence_email.eml").replace(b"grace@navy.test", b"Grace.Hopper@home.test")
    result = inbound_process(from_home)  # no account given: found through the other address
    assert (result.classification, result.enrollment_ids) == ("reply", [enrollment.pk])
    assert status(enrollment) == EnrollmentStatus.REPLIED


def test_inbound_command_reads_a_file_and_refuses_what_is_not_an_email(sent, tmp_path, capsys):
    enrollment, _, raw = sent
    path = tmp_path / "reply.eml"
    path.write_bytes(raw("reply_outlook.eml"))
    call_command("inbound", str(path))
    assert capsys.readouterr().out.startswith(f"reply — enrollment(s) {enrollment.pk} (")
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    with pytest.raises(CommandError) as error:
        call_command("inbound", str(empty))
    assert error.value.returncode == 2


def test_inbound_command_exits_75_when_the_database_cannot_store_the_message(sent, tmp_path, inbound_rejected):
    enrollment, _, raw = sent
    path = tmp_path / "reply.eml"
    path.write_bytes(raw("reply_outlook.eml"))
    with inbound_rejected(), pytest.raises(CommandError) as error:
        call_command("inbound", str(path))
    assert error.value.returncode == 75  # EX_TEMPFAIL: the MTA keeps the message and tries again
    assert status(enrollment) == EnrollmentStatus.ACTIVE  # nothing half-applied


def test_inbound_api_refuses_a_body_when_it_is_not_sent_as_an_email(sent, client, cadence):
    _, _, raw = sent
    _, token = api_token_create(user=cadence.user, account=cadence.account, name="mta")
    response = client.post("/api/v1/sequences/inbound", raw("reply_outlook.eml"), content_type="text/plain",
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 415


def test_inbound_api_answers_503_when_the_database_cannot_store_the_message(sent, client, cadence,
                                                                          inbound_rejected):
    enrollment, _, raw = sent
    _, token = api_token_create(user=cadence.user, account=cadence.account, name="mta")
    with inbound_rejected():
        response = client.post("/api/v1/sequences/inbound", raw("reply_outlook.eml"), content_type="message/rfc822",
                               headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert status(enrollment) == EnrollmentStatus.ACTIVE


def test_inbound_api_takes_the_raw_message_with_a_token(sent, client, cadence):
    enrollment, _, raw = sent
    _, token = api_token_create(user=cadence.user, account=cadence.account, name="mta")
    assert client.post("/api/v1/sequences/inbound", raw("reply_outlook.eml"),
                       content_type="message/rfc822").status_code == 401
    response = client.post("/api/v1/sequences/inbound", raw("reply_outlook.eml"), content_type="message/rfc822",
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json() | {"detail": ""} == {"classification": "reply", "enrollment_ids": [enrollment.pk],
                                                 "detail": ""}
    too_big = client.post("/api/v1/sequences/inbound", b"x" * (10 * 1024 * 1024 + 1), content_type="message/rfc822",
                          headers={"Authorization": f"Bearer {token}"})
    assert too_big.status_code == 413


def _flufl_expectations() -> list[tuple[str, set[str], bool]]:
    """flufl.bounce's own table of (file, expected addresses, temporary?) from its test suite."""
    source = (BOUNCE_DATA / "tests" / "test_detectors.py").read_text()
    table = next(node.value for node in ast.parse(source).body
                 if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DETECTORS")
    return [(f, {a.decode() for a in addresses}, temporary) for _, f, addresses, temporary in ast.literal_eval(table)]


def test_flufl_bounce_source_is_fetched():
    assert (BOUNCE_DATA / "tests" / "data").is_dir(), \
        f"{BOUNCE_DATA} is missing: `make test` fetches it (make var/test-data/flufl_bounce-6.0.0)"
    assert len(list((BOUNCE_DATA / "tests" / "data").glob("*.txt"))) == 117


@pytest.mark.parametrize(("filename", "expected", "temporary"),
                         _flufl_expectations() if (BOUNCE_DATA / "tests").is_dir() else [])
def test_bounce_failures_finds_the_failed_addresses_of_real_bounces(filename, expected, temporary):
    with (BOUNCE_DATA / "tests" / "data" / filename).open("rb") as handle:
        mail = message_from_binary_file(handle, policy=policy.default)
    found = {f.address for f in bounce_failures(mail) if f.bounce_type == ("soft" if temporary else "hard")}
    assert {e.lower() for e in expected} <= found
