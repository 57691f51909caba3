"""The local outbox: the emails the SMTP sink of `touchline serve` has received (var/mailsink/*.eml), for
trying Touchline without a real mail server. Only the account's own emails are shown — a file is listed when
its Message-ID is one of the account's sent messages."""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from django.conf import settings

from touchline.sequences.models import SentMessage

MAX_LISTED = 200


@dataclass(frozen=True)
class OutboxEmail:
    name: str
    message_id: str
    to: str
    subject: str
    date: str
    sent_message_id: int


def outbox_dir() -> Path:
    return Path(settings.VAR_DIR) / "mailsink"


def _parse(path: Path) -> EmailMessage:
    return message_from_bytes(path.read_bytes(), policy=policy.default)


def outbox_list(account) -> list[OutboxEmail]:
    """The newest emails of `account` in the sink, newest first."""
    folder = outbox_dir()
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.eml"), key=lambda p: p.name, reverse=True)[: MAX_LISTED * 5]
    parsed = [(path, _parse(path)) for path in files]
    ours = dict(SentMessage.objects.filter(account=account, message_id__in=[m["Message-ID"] for _, m in parsed
                                                                            if m["Message-ID"]])
                .values_list("message_id", "pk"))
    return [OutboxEmail(path.name, mail["Message-ID"], mail["To"], mail["Subject"], mail["Date"],
                        ours[mail["Message-ID"]])
            for path, mail in parsed if mail["Message-ID"] in ours][:MAX_LISTED]


def outbox_get(account, name: str) -> tuple[OutboxEmail, EmailMessage] | None:
    """One email of the account by its file name; None when it is not there or not the account's."""
    path = outbox_dir() / name
    if "/" in name or not name.endswith(".eml") or not path.is_file():
        return None
    mail = _parse(path)
    sent = SentMessage.objects.filter(account=account, message_id=mail["Message-ID"] or "").first()
    if sent is None:
        return None
    return OutboxEmail(name, mail["Message-ID"], mail["To"], mail["Subject"], mail["Date"], sent.pk), mail
