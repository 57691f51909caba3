"""A real SMTP server that keeps what it receives: the local sink `touchline serve` runs for the demo
(emails land in var/mailsink/ as .eml files and on the Outbox page), and the server the tests and the bench
send to. Built on aiosmtpd, running in its own thread.

`refuse` maps recipient addresses to an SMTP answer (e.g. "550 5.1.1 No such user") to play a server
that rejects them; `hold_seconds` makes the server wait before accepting DATA, so a test can kill a sender
in the middle of the conversation (`data_arrived` tells it when the DATA is in).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller

# aiosmtpd logs every SMTP command at INFO; a sink that takes thousands of messages only needs its warnings.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Handler:
    def __init__(self, sink: MailSink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self.sink.refuse.get(address.lower())
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.sink.data_arrived.set()
        if self.sink.hold_seconds:
            time.sleep(self.sink.hold_seconds)  # deliberately blocking: the sender waits for our answer
        self.sink.store(envelope.content)
        return "250 Message accepted for delivery"


class MailSink:
    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None, directory: Path | None = None):
        self.host, self.port = host, port or free_port()
        self.directory = directory
        self.refuse: dict[str, str] = {}
        self.hold_seconds = 0.0
        self.received: list[bytes] = []
        self.data_arrived = threading.Event()  # set when a message's DATA has reached the server
        self._lock = threading.Lock()
        self._controller = Controller(_Handler(self), hostname=host, port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> MailSink:
        self._controller.start()
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        return self

    def stop(self) -> None:
        self._controller.stop()

    def store(self, raw: bytes) -> None:
        with self._lock:
            self.received.append(raw)
            if self.directory is not None:
                name = f"{time.time_ns()}-{len(self.received)}.eml"
                (self.directory / name).write_bytes(raw)

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [message_from_bytes(raw, policy=policy.default) for raw in self.received]
