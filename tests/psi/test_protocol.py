"""The DH-PSI arithmetic on its own: it finds exactly the plain intersection, blinding
commutes, malformed values are refused by position, and a shuffle is a permutation."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.psi import protocol

items = st.sets(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=1, max_size=18))


def _run(client: list[str], server: set[str], *, shuffle: bool) -> list[int]:
    a, b = protocol.new_secret(), protocol.new_secret()
    doubled = protocol.blind(b, protocol.blind_items(a, client))
    if shuffle:
        doubled = protocol.shuffled(doubled)
    theirs = protocol.shuffled(protocol.blind_items(b, sorted(server)))
    return protocol.intersect(a, doubled, theirs)


class TestCorrectness:
    @settings(max_examples=40, deadline=None)
    @given(client=items, server=items, shared=items)
    def test_which_mode_finds_exactly_the_plain_intersection(self, client, server, shared):
        mine = sorted(client | shared)
        found = _run(mine, server | shared, shuffle=False)
        assert [mine[i] for i in found] == [x for x in mine if x in server | shared]

    @settings(max_examples=40, deadline=None)
    @given(client=items, server=items, shared=items)
    def test_count_mode_counts_the_plain_intersection(self, client, server, shared):
        mine = sorted(client | shared)
        assert len(_run(mine, server | shared, shuffle=True)) == len(set(mine) & (server | shared))

    @settings(max_examples=25, deadline=None)
    @given(item=st.text(min_size=1, max_size=40))
    def test_blinding_commutes(self, item):
        a, b = protocol.new_secret(), protocol.new_secret()
        point = protocol.hash_to_point(item)
        ab = protocol.blind(b, protocol.blind(a, [point]))
        ba = protocol.blind(a, protocol.blind(b, [point]))
        assert ab == ba

    def test_derived_session_keys_differ_by_nonce(self):
        k1 = protocol.derive_secret(b"m" * 32, "n1")
        assert k1 == protocol.derive_secret(b"m" * 32, "n1")
        assert k1 != protocol.derive_secret(b"m" * 32, "n2")


class TestMalformed:
    def test_low_order_point_is_refused_by_position(self):
        good = protocol.hash_to_point("x")
        zero = bytes(32)  # u = 0: a point of order 2 (all-zero shared value)
        with pytest.raises(protocol.MalformedPoint) as exc:
            protocol.blind(protocol.new_secret(), [good, zero])
        assert exc.value.index == 1

    @pytest.mark.parametrize(
        "text", ["not base64!", base64.b64encode(b"short").decode(), "A" * 43 + "?"]
    )
    def test_bad_encodings_are_refused(self, text):
        with pytest.raises(protocol.MalformedPoint) as exc:
            protocol.decode([base64.b64encode(bytes(32)).decode(), text])
        assert exc.value.index == 1


class TestShuffle:
    @given(st.lists(st.binary(min_size=32, max_size=32), max_size=50))
    def test_shuffle_is_a_permutation(self, values):
        assert sorted(protocol.shuffled(values)) == sorted(values)

    def test_shuffle_moves_things(self):
        values = [bytes([i]) * 32 for i in range(40)]
        assert any(protocol.shuffled(values) != values for _ in range(3))
