"""Properties of the callback signature verifier and parser, and of the ID-number check:
whatever arrives, the answer is a verified message or a ProtocolError, never anything
else; a signed message verifies; any change to it does not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from puhui.verification import protocol
from puhui.verification.schemas import ID_CHECK, ID_WEIGHTS, id_number_ok

SECRET = "a-shared-secret-of-at-least-32-characters"
PATH = "/api/v1/verification/callbacks/http"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
nonces = st.from_regex(protocol.NONCE_RE, fullmatch=True)
bodies = st.binary(max_size=2048)


@given(body=bodies, nonce=nonces, skew=st.integers(-300, 300))
def test_a_signed_message_verifies_and_gives_its_nonce(body, nonce, skew):
    headers = protocol.signed_headers(
        SECRET, "POST", PATH, body, now=NOW + timedelta(seconds=skew), nonce=nonce
    )
    assert (
        protocol.authenticate(SECRET, "POST", PATH, headers, body, now=NOW, max_skew=300) == nonce
    )


@given(body=bodies, nonce=nonces, data=st.data())
def test_any_change_to_body_path_or_signature_is_refused(body, nonce, data):
    headers = protocol.signed_headers(SECRET, "POST", PATH, body, now=NOW, nonce=nonce)
    what = data.draw(st.sampled_from(["body", "path", "signature", "nonce", "secret"]))
    path, secret = PATH, SECRET
    if what == "body":
        changed = data.draw(bodies.filter(lambda b: b != body))
        body = changed
    elif what == "path":
        path = PATH + "/x"
    elif what == "signature":
        sig = headers[protocol.SIGNATURE_HEADER]
        i = data.draw(st.integers(0, len(sig) - 1))
        headers[protocol.SIGNATURE_HEADER] = (
            sig[:i] + ("0" if sig[i] != "0" else "1") + sig[i + 1 :]
        )
    elif what == "nonce":
        headers[protocol.NONCE_HEADER] = data.draw(nonces.filter(lambda n: n != nonce))
    else:
        secret = SECRET + "!"
    with pytest.raises(protocol.ProtocolError):
        protocol.authenticate(secret, "POST", path, headers, body, now=NOW, max_skew=300)


@given(seconds=st.integers(301, 10**8), sign=st.sampled_from([-1, 1]))
def test_old_and_future_timestamps_are_refused(seconds, sign):
    at = NOW + timedelta(seconds=sign * seconds)
    headers = protocol.signed_headers(SECRET, "POST", PATH, b"{}", now=at)
    with pytest.raises(protocol.ProtocolError, match="timestamp"):
        protocol.authenticate(SECRET, "POST", PATH, headers, b"{}", now=NOW, max_skew=300)


@given(
    headers=st.dictionaries(
        st.sampled_from(
            [protocol.TIMESTAMP_HEADER, protocol.NONCE_HEADER, protocol.SIGNATURE_HEADER, "X-Other"]
        ),
        st.text(max_size=80),
    ),
    body=bodies,
)
def test_arbitrary_headers_are_refused_not_crashed_on(headers, body):
    with pytest.raises(protocol.ProtocolError):
        protocol.authenticate(SECRET, "POST", PATH, headers, body, now=NOW, max_skew=300)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    doc=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {
                "reference": st.one_of(st.text(max_size=70), st.integers()),
                "result": st.one_of(
                    st.sampled_from(["verified", "rejected", "expired", "pending", "ok"]), st.none()
                ),
            },
            optional={"reason": st.one_of(st.text(max_size=600), st.integers(), st.none())},
        ),
    )
)
def test_the_parser_returns_a_result_or_refuses(doc):
    body = json.dumps(doc).encode()
    try:
        result = protocol.parse_result(body)
    except protocol.ProtocolError:
        return
    assert result.result in protocol.RESULTS
    assert protocol.REFERENCE_RE.fullmatch(result.reference)
    assert result.reason is None or len(result.reason) <= protocol.MAX_REASON
    if result.result == "rejected":
        assert result.reason


@given(raw=st.binary(max_size=200))
def test_the_parser_refuses_garbage(raw):
    """Any bytes either parse into a well-formed result or raise ProtocolError; nothing
    else escapes (no KeyError, UnicodeDecodeError…)."""
    try:
        result = protocol.parse_result(raw)
    except protocol.ProtocolError:
        return
    assert result.result in protocol.RESULTS
    assert protocol.REFERENCE_RE.fullmatch(result.reference)


@given(digits=st.text(alphabet="0123456789", min_size=17, max_size=17), wrong=st.data())
def test_id_numbers_with_their_check_character_pass_and_any_other_does_not(digits, wrong):
    total = sum(int(c) * w for c, w in zip(digits, ID_WEIGHTS, strict=True))
    good = digits + ID_CHECK[total % 11]
    assert id_number_ok(good)
    other = wrong.draw(st.sampled_from([c for c in "0123456789X" if c != good[-1]]))
    assert not id_number_ok(digits + other)
    assert not id_number_ok(good[:-1])
