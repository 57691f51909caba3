"""The local outbox lists and shows only the account's own emails from the mail sink's folder."""

from datetime import UTC, datetime

import pytest
from django_scopes import scope

from touchline.core.accounts import user_create
from touchline.crm.services import contact_create
from touchline.sequences.models import EmailTemplate, Enrollment, Inbox, SentMessage, Sequence, Step, StepType

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)


def sent_email(account, user, folder, name: str) -> str:
    with scope(account=account):
        inbox = Inbox.objects.create(account=account, user=user, from_name="S", from_email=user.email)
        template = EmailTemplate.objects.create(account=account, name="t", subject="s", body="b")
        sequence = Sequence.objects.create(account=account, name="q")
        step = Step.objects.create(account=account, sequence=sequence, position=1, step_type=StepType.AUTOMATED_EMAIL,
                                   template=template)
        contact = contact_create(account=account, email=f"{name}@example.test")
        enrollment = Enrollment.objects.create(account=account, sequence=sequence, contact=contact, inbox=inbox,
                                               current_step=step, enrolled_at=NOW)
        message = SentMessage.objects.create(account=account, enrollment=enrollment, step=step, inbox=inbox,
                                             message_id=f"<{name}@acme.test>", to_email=contact.email,
                                             subject=f"Hello {name}", status="sent", sent_at=NOW)
    (folder / f"1-{name}.eml").write_bytes(
        f"Message-ID: {message.message_id}\r\nTo: {contact.email}\r\nSubject: Hello {name}\r\n"
        f"Content-Type: text/plain\r\n\r\nHi {name}\r\n".encode())
    return f"1-{name}.eml"


def test_outbox_lists_and_shows_only_the_accounts_own_emails(logged_in_client, account, user, other_account,
                                                             settings, tmp_path):
    settings.VAR_DIR = tmp_path
    folder = tmp_path / "mailsink"
    folder.mkdir()
    mine = sent_email(account, user, folder, "ours")
    stranger = user_create(username="eve", email="eve@globex.test", password="a long passphrase here",
                           account=other_account)
    theirs = sent_email(other_account, stranger, folder, "theirs")
    listed = logged_in_client.get("/outbox/").context["emails"]
    assert [e.name for e in listed] == [mine]
    page = logged_in_client.get(f"/outbox/{mine}")
    assert page.status_code == 200 and "Hi ours" in page.content.decode()
    assert logged_in_client.get(f"/outbox/{theirs}").status_code == 404
    assert logged_in_client.get("/outbox/..%2Fsecret_key").status_code == 404
