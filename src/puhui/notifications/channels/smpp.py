"""SMS over SMPP 3.4 with ``smpplib``: one ``bind_transceiver`` session per process and
configuration, kept open between messages and checked with ``enquire_link`` before use.

- Text that fits GSM 03.38 goes as the SMSC default alphabet, anything else (Chinese) as
  UCS-2 (``data_coding`` 8); a long text is split into concatenated parts with a UDH, as
  ``smpplib.gsm.make_parts`` does. Each part asks for a delivery receipt
  (``registered_delivery`` 1) and carries ``user_message_reference`` = message id mod 2¹⁶,
  which many SMSCs echo in the receipt; it lets a receipt settle a message whose
  hand-over outcome was lost with its worker.
- A ``deliver_sm`` that arrives while waiting for a response, or in
  :meth:`SmppGateway.collect_receipts`, is parsed into a :class:`Receipt`. It is *not*
  answered at once: :meth:`SmppGateway.acknowledge` sends ``deliver_sm_resp`` after the
  caller committed it, so a crash in between makes the SMSC send it again (receipts are
  stored once) instead of losing it.
- ``command_status`` values that mean "later" (throttled, queue full, system error) raise
  :class:`TransientGatewayError`; the others :class:`PermanentGatewayError`. A connection
  that breaks after a ``submit_sm`` was written raises :class:`UncertainDelivery`.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
from dataclasses import dataclass
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp

from puhui.notifications.channels import (
    Accepted,
    Envelope,
    PermanentGatewayError,
    Recalled,
    Receipt,
    TransientGatewayError,
    UncertainDelivery,
)
from puhui.notifications.channels.receipts import (
    MESSAGE_STATES,
    ReceiptFormatError,
    parse_receipt_text,
)

log = logging.getLogger("puhui.notifications.smpp")

ESM_RECEIPT_MASK = 0x3C  # esm_class bits 2-5: message type (0x04 SMSC delivery receipt)
# command_status values after which the same submit may succeed later
TRANSIENT_STATUSES = frozenset(
    {
        0x08,  # ESME_RSYSERR system error
        0x14,  # ESME_RMSGQFUL message queue full
        0x45,  # ESME_RSUBMITFAIL submit_sm failed
        0x58,  # ESME_RTHROTTLED throttling error
        0x64,  # ESME_RX_T_APPN ESME receiver temporary app error
        0xFF,  # ESME_RUNKNOWNERR
    }
)


@dataclass(frozen=True)
class SmppConfig:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str
    source_addr: str
    source_ton: int
    source_npi: int
    timeout: float

    @classmethod
    def from_settings(cls, settings: Any) -> SmppConfig:
        return cls(
            host=settings.smpp_host,
            port=settings.smpp_port,
            system_id=settings.smpp_system_id,
            password=settings.smpp_password,
            system_type=settings.smpp_system_type,
            source_addr=settings.smpp_source_addr,
            source_ton=settings.smpp_source_ton,
            source_npi=settings.smpp_source_npi,
            timeout=settings.smpp_timeout_seconds,
        )


def destination(recipient: str) -> tuple[int, int, str]:
    """(TON, NPI, address): ``+86…`` is international; a national number is left for the
    SMSC's numbering plan (TON unknown), both in the E.164 (ISDN) plan."""
    if recipient.startswith("+"):
        return 1, 1, recipient[1:]
    return 0, 1, recipient


def receipt_from_pdu(pdu: Any) -> Receipt | None:
    """The receipt a ``deliver_sm`` carries, or None for a mobile-originated message.
    The ``receipted_message_id``/``message_state`` parameters win over the text."""
    if not (pdu.esm_class or 0) & ESM_RECEIPT_MASK:
        return None
    raw = pdu.short_message or b""
    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
    try:
        parsed = parse_receipt_text(raw)
    except ReceiptFormatError:
        parsed = None
    ref = pdu.receipted_message_id
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    ref = ref or (parsed.id if parsed else None)
    stat = MESSAGE_STATES.get(pdu.message_state or 0) or (parsed.stat if parsed else None)
    if not ref or not stat:
        log.warning("unreadable delivery receipt ignored", extra={"receipt": text[:200]})
        return None
    source = pdu.source_addr
    if isinstance(source, bytes):
        source = source.decode("ascii", "replace")
    return Receipt(
        gateway_ref=ref[:64],
        stat=stat,
        error_code=parsed.err if parsed else "",
        done_at=parsed.done_date if parsed else None,
        destination=(source or "")[:32],
        user_reference=pdu.user_message_reference,
        text=text[:300],
    )


class _Broken(Exception):
    """The session cannot be used any more."""


class SmppGateway:
    name = "smpp"

    def __init__(self, config: SmppConfig) -> None:
        self.config = config
        self._lock = threading.RLock()
        self._client: smpplib.client.Client | None = None
        self._generation = 0  # which session a receipt's sequence number belongs to
        self._receipts: list[tuple[Receipt, int, int]] = []  # (receipt, generation, sequence)

    # --- session --------------------------------------------------------------------

    def _connect(self) -> smpplib.client.Client:
        cfg = self.config
        client = smpplib.client.Client(
            cfg.host,
            cfg.port,
            timeout=cfg.timeout,
            logger_name="puhui.notifications.smpplib",
            allow_unknown_opt_params=True,
        )
        try:
            client.connect()
            client.bind_transceiver(
                system_id=cfg.system_id, password=cfg.password, system_type=cfg.system_type
            )
        except smpplib.exceptions.PDUError as exc:
            self._close(client)
            raise TransientGatewayError(f"the SMSC refused the bind: {exc}") from exc
        except (smpplib.exceptions.ConnectionError, OSError) as exc:
            self._close(client)
            raise TransientGatewayError(
                f"the SMSC at {cfg.host}:{cfg.port} cannot be reached: {exc!r}"
            ) from exc
        self._generation += 1
        self._receipts.clear()  # unanswered receipts of the old session come again
        log.info("SMPP session bound", extra={"host": cfg.host, "port": cfg.port})
        return client

    @staticmethod
    def _close(client: smpplib.client.Client) -> None:
        sock = client._socket
        client._socket = None
        client.state = smpplib.consts.SMPP_CLIENT_STATE_CLOSED
        if sock is not None:
            with contextlib.suppress(OSError):  # closing a broken socket
                sock.close()

    def _drop(self) -> None:
        if self._client is not None:
            self._close(self._client)
            self._client = None

    def _bound(self) -> smpplib.client.Client:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def prepare(self) -> None:
        """Bind if needed and check the session with ``enquire_link``: a session the SMSC
        dropped while idle is found here, before a message is at stake."""
        with self._lock:
            for _ in range(2):
                client = self._bound()
                try:
                    pdu = smpplib.smpp.make_pdu("enquire_link", client=client)
                    client.send_pdu(pdu)
                    self._await(client, "enquire_link_resp", pdu.sequence)
                    return
                except (_Broken, smpplib.exceptions.ConnectionError, OSError):
                    self._drop()
            raise TransientGatewayError("the SMSC session broke twice in a row")

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            if client is None:
                return
            try:
                pdu = smpplib.smpp.make_pdu("unbind", client=client)
                client.send_pdu(pdu)
                self._await(client, "unbind_resp", pdu.sequence)
            except (_Broken, smpplib.exceptions.ConnectionError, OSError):
                pass
            finally:
                self._close(client)

    # --- reading --------------------------------------------------------------------

    def _read(self, client: smpplib.client.Client) -> Any:
        try:
            return client.read_pdu()
        except (TimeoutError, smpplib.exceptions.ConnectionError, OSError) as exc:
            self._drop()
            raise _Broken(repr(exc)) from exc
        except smpplib.exceptions.PDUError as exc:
            self._drop()
            raise _Broken(f"unreadable PDU: {exc}") from exc

    def _handle_unsolicited(self, client: smpplib.client.Client, pdu: Any) -> None:
        if pdu.command == "deliver_sm":
            receipt = receipt_from_pdu(pdu)
            if receipt is None:  # a mobile-originated message: not ours to keep
                self._respond(client, "deliver_sm_resp", pdu.sequence)
            else:
                self._receipts.append((receipt, self._generation, pdu.sequence))
        elif pdu.command == "enquire_link":
            self._respond(client, "enquire_link_resp", pdu.sequence)
        elif pdu.command == "unbind":
            self._respond(client, "unbind_resp", pdu.sequence)
            self._drop()
            raise _Broken("the SMSC unbound the session")
        else:
            log.warning("unexpected SMPP PDU ignored", extra={"command": pdu.command})

    def _respond(self, client: smpplib.client.Client, command: str, sequence: int) -> None:
        resp = smpplib.smpp.make_pdu(command, client=client)
        resp.sequence = sequence
        try:
            client.send_pdu(resp)
        except (smpplib.exceptions.ConnectionError, OSError) as exc:
            self._drop()
            raise _Broken(repr(exc)) from exc

    def _await(self, client: smpplib.client.Client, command: str, sequence: int) -> Any:
        """Read until the response ``command`` to ``sequence``; other PDUs are handled."""
        while True:
            pdu = self._read(client)
            if pdu.sequence == sequence and pdu.command in (command, "generic_nack"):
                return pdu
            self._handle_unsolicited(client, pdu)

    # --- sending --------------------------------------------------------------------

    def send(self, envelope: Envelope) -> Accepted:
        try:
            parts, coding, esm_class = smpplib.gsm.make_parts(envelope.body)
        except smpplib.exceptions.MessageTooLong as exc:
            raise PermanentGatewayError("the text is too long for one SMS (255 parts)") from exc
        ton, npi, address = destination(envelope.recipient)
        cfg = self.config
        with self._lock:
            client = self._bound()
            refs: list[str] = []
            for number, part in enumerate(parts, start=1):
                try:
                    pdu = client.send_message(
                        source_addr_ton=cfg.source_ton,
                        source_addr_npi=cfg.source_npi,
                        source_addr=cfg.source_addr,
                        dest_addr_ton=ton,
                        dest_addr_npi=npi,
                        destination_addr=address,
                        short_message=part,
                        data_coding=coding,
                        esm_class=esm_class,
                        registered_delivery=1,
                        user_message_reference=envelope.message_id % 65536,
                    )
                except (smpplib.exceptions.ConnectionError, OSError) as exc:
                    self._drop()
                    if not refs:  # the first submit_sm never left: nothing handed over
                        raise TransientGatewayError(f"the SMSC session broke: {exc!r}") from exc
                    raise UncertainDelivery(
                        f"the SMSC session broke after part {number - 1} of {len(parts)}",
                        accepted=Accepted(tuple(refs)),
                    ) from exc
                try:
                    resp = self._await(client, "submit_sm_resp", pdu.sequence)
                except _Broken as exc:
                    raise UncertainDelivery(
                        f"no answer to part {number} of {len(parts)} (the SMSC may have "
                        f"accepted it): {exc}",
                        accepted=Accepted(tuple(refs)) if refs else None,
                    ) from exc
                status = int(resp.status or 0)
                if status != 0 or resp.command == "generic_nack":
                    described = smpplib.consts.DESCRIPTIONS.get(status, "unknown status")
                    reason = (
                        f"the SMSC refused part {number} of {len(parts)}: {status:#04x} {described}"
                    )
                    if refs:  # earlier parts are on their way: sending again duplicates them
                        raise PermanentGatewayError(reason)
                    if status in TRANSIENT_STATUSES:
                        raise TransientGatewayError(reason)
                    raise PermanentGatewayError(reason)
                message_id = resp.message_id
                if isinstance(message_id, bytes):
                    message_id = message_id.decode("ascii", "replace")
                refs.append(str(message_id or ""))
            return Accepted(tuple(refs), receipts=self._take())

    def recall(self, reference: str) -> Recalled:
        return None  # SMPP cannot look a message up by the sender's reference

    # --- receipts -------------------------------------------------------------------

    def _take(self) -> tuple[Receipt, ...]:
        return tuple(receipt for receipt, _, _ in self._receipts)

    def collect_receipts(self, *, wait: float) -> tuple[Receipt, ...]:
        """Read what the SMSC has sent until it has been quiet for ``wait`` seconds;
        returns every receipt not yet acknowledged (call :meth:`acknowledge` after
        storing them)."""
        with self._lock:
            client = self._bound()
            while True:
                sock = client._socket
                if sock is None:
                    break
                readable, _, _ = select.select([sock], [], [], wait)
                if not readable:
                    break
                try:
                    self._handle_unsolicited(client, self._read(client))
                except _Broken:
                    break
            return self._take()

    def acknowledge(self, receipts: tuple[Receipt, ...]) -> None:
        """Answer the ``deliver_sm`` of receipts that are now stored."""
        with self._lock:
            done = {id(r) for r in receipts}
            keep: list[tuple[Receipt, int, int]] = []
            for receipt, generation, sequence in self._receipts:
                if id(receipt) not in done:
                    keep.append((receipt, generation, sequence))
                elif self._client is not None and generation == self._generation:
                    try:
                        self._respond(self._client, "deliver_sm_resp", sequence)
                    except _Broken:
                        keep = []  # a new session will be sent them again
                        break
            self._receipts = keep
