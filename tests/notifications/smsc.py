"""A test SMSC on 127.0.0.1 built on the ``smpp34`` package's SMPP 3.4 server.

It answers binds, ``enquire_link`` and ``unbind`` (the library does), records every
``submit_sm`` it receives, accepts it with a fresh message id (or refuses it with a chosen
``command_status``, or *holds* it unanswered), and sends delivery receipts as ``deliver_sm``
to a bound transceiver, keeping them (store and forward) until one acknowledges them.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import smpp34

from puhui.notifications.channels.receipts import ReceiptText, format_receipt_text

TLV_USER_MESSAGE_REFERENCE = 0x0204


@dataclass(frozen=True)
class Submission:
    session_id: str
    source_addr: str
    destination_addr: str
    dest_addr_ton: int
    data_coding: int
    esm_class: int
    registered_delivery: int
    short_message: bytes
    user_reference: int | None
    message_id: str | None  # None while held or when refused


@dataclass(frozen=True)
class PendingReceipt:
    message_id: str
    source_addr: str  # the handset (the submit's destination)
    destination_addr: str
    stat: str
    user_reference: int | None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Smsc:
    def __init__(self) -> None:
        self.port = free_port()
        self.submissions: list[Submission] = []
        self.delivered_receipts: list[PendingReceipt] = []  # acknowledged by an ESME
        self.binds = 0
        self.reject_status: int | None = None  # refuse every submit_sm with this status
        self.hold = False  # leave submit_sm unanswered
        self.auto_receipt_stat: str | None = "DELIVRD"  # None: no automatic receipts
        self.stat_for: Callable[[str], str] | None = None  # destination -> stat
        self._queue: list[PendingReceipt] = []
        self._sessions: dict[str, smpp34.Esme] = {}
        self._counter = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: smpp34.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-smsc", daemon=True)

    # --- life cycle -------------------------------------------------------------------

    def start(self) -> Smsc:
        self._thread.start()
        assert self._ready.wait(10), "the test SMSC did not start"
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                await self._server.stop()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.create_task(self._serve())
        self._loop.run_forever()

    async def _serve(self) -> None:
        self._server = smpp34.Server("127.0.0.1", self.port, system_id="TESTSMSC")
        await self._server.start()
        self._ready.set()
        while True:
            try:
                event = await self._server.next()
            except Exception:  # the server stopped
                return
            if isinstance(event, smpp34.Esme):
                self.binds += 1
                self._sessions[event.session_id] = event
                self._flush()
            elif isinstance(event, smpp34.Unbound):
                self._sessions.pop(event.session_id, None)
            elif isinstance(event, smpp34.SubmitSmEvent):
                self._submitted(event)

    def _submitted(self, event: smpp34.SubmitSmEvent) -> None:
        user_ref = next(
            (
                int.from_bytes(t.value, "big")
                for t in event.tlvs
                if t.tag == TLV_USER_MESSAGE_REFERENCE
            ),
            None,
        )
        message_id = None
        if self.hold:
            self._held = event  # keep it alive, unanswered
        elif self.reject_status is not None:
            event.reject(self.reject_status)
        else:
            self._counter += 1
            message_id = f"SM{self._counter:08d}"
            event.accept(message_id)
        submission = Submission(
            session_id=event.session_id,
            source_addr=event.source_addr,
            destination_addr=event.destination_addr,
            dest_addr_ton=event.dest_addr_ton,
            data_coding=event.data_coding,
            esm_class=event.esm_class,
            registered_delivery=event.registered_delivery,
            short_message=event.short_message,
            user_reference=user_ref,
            message_id=message_id,
        )
        with self._lock:
            self.submissions.append(submission)
        if message_id and event.registered_delivery & 1 and self.auto_receipt_stat:
            stat = self.stat_for(event.destination_addr) if self.stat_for else None
            self._queue.append(
                PendingReceipt(
                    message_id,
                    event.destination_addr,
                    event.source_addr,
                    stat or self.auto_receipt_stat,
                    user_ref,
                )
            )
            self._flush()

    # --- receipts ---------------------------------------------------------------------

    def send_receipt(self, receipt: PendingReceipt) -> None:
        """Queue a receipt (from the test thread); it goes to the next bound ESME."""

        def queue() -> None:
            self._queue.append(receipt)
            self._flush()

        self._loop.call_soon_threadsafe(queue)

    def _flush(self) -> None:
        receivers = [esme for esme in self._sessions.values() if esme.can_receive]
        if not receivers:
            return
        pending, self._queue = self._queue, []
        for receipt in pending:
            self._loop.create_task(self._push(receivers[-1], receipt))

    async def _push(self, esme: smpp34.Esme, receipt: PendingReceipt) -> None:
        now = datetime.now(UTC)
        text = format_receipt_text(
            ReceiptText(id=receipt.message_id, stat=receipt.stat, submit_date=now, done_date=now)
        )
        state = {"DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "REJECTD": 8}
        tlvs = [
            smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, receipt.message_id.encode() + b"\0"),
            smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([state.get(receipt.stat, 7)])),
        ]
        if receipt.user_reference is not None:
            tlvs.append(
                smpp34.Tlv(TLV_USER_MESSAGE_REFERENCE, receipt.user_reference.to_bytes(2, "big"))
            )
        try:
            resp = await esme.deliver_sm(
                receipt.destination_addr,
                text.encode("ascii"),
                source_addr=receipt.source_addr,
                esm_class=0x04,
                tlvs=tlvs,
            )
            ok = resp.is_success
        except Exception:
            ok = False
        if ok:
            with self._lock:
                self.delivered_receipts.append(receipt)
        else:  # store and forward: try again with the next session
            self._queue.append(receipt)

    def received(self) -> list[Submission]:
        with self._lock:
            return list(self.submissions)
