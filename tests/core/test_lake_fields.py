"""Personal text values sealed for the lake: which rows, the stored form, binding to the
indicator and the entity, reading by form across catalog changes."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from puhui.core.security import fields
from puhui.core.security.lake_fields import LakeFields, key_counts
from tests.core.test_fields import own_keyring  # noqa: F401 - the fixture is used by name

MOBILE, ID = 3, 7  # protected text indicators
SCOPE, AMOUNT = 5, 9  # a public text indicator; a number
SEALED = LakeFields.of({MOBILE: "BAS_CONTACT_MOBILE", ID: "BAS_LEGAL_REP_ID", SCOPE: "BAS_SCOPE"},
                       [MOBILE, ID])  # fmt: skip


def _rows(*rows: tuple[int, int, float | None, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [(e, i, 202609, n, t) for e, i, n, t in rows],
        schema={
            "entity_id": pl.Int32,
            "indicator_id": pl.Int16,
            "period": pl.Int32,
            "value_num": pl.Float64,
            "value_text": pl.String,
        },
        orient="row",
    )


def test_only_the_text_of_protected_indicators_is_sealed(settings):
    rows = _rows(
        (1, MOBILE, None, "13812345678"),
        (1, SCOPE, None, "五金制造"),
        (1, AMOUNT, 1200.0, None),
        (2, MOBILE, None, None),
        (2, ID, None, "330203198001011234"),
    )
    sealed = SEALED.seal(rows)
    texts = sealed.get_column("value_text").to_list()
    assert texts[1] == "五金制造" and texts[2] is None and texts[3] is None
    for i in (0, 4):
        assert texts[i].startswith(f"sm4:{fields.current().active}:")
        assert "1381234" not in texts[i] and "330203" not in texts[i]
    # every other column untouched, the row order kept
    assert sealed.drop("value_text").equals(rows.drop("value_text"))
    assert SEALED.reveal(sealed).equals(rows)
    assert key_counts(sealed) == {fields.current().active: 2}


def test_a_sealed_value_is_bound_to_its_indicator_and_entity(settings):
    sealed = SEALED.seal(_rows((1, MOBILE, None, "13812345678")))
    stored = sealed.item(0, "value_text")
    # copied to another entity's row, or to another protected indicator: refused
    for entity, indicator in ((2, MOBILE), (1, ID)):
        moved = _rows((entity, indicator, None, stored))
        with pytest.raises(fields.FieldCryptoError, match="another column"):
            SEALED.reveal(moved)
    # copied into a public text indicator: shown as the text it is, never decrypted
    public = _rows((1, SCOPE, None, stored))
    assert SEALED.reveal(public).item(0, "value_text") == stored


def test_reading_is_by_form_whatever_the_catalog_says_now(settings):
    sealed = SEALED.seal(_rows((1, MOBILE, None, "13812345678")))
    # a later catalog version no longer protects the indicator: old values still decrypt
    unprotected = LakeFields.of(SEALED.codes, [])
    assert unprotected.reveal(sealed).item(0, "value_text") == "13812345678"
    # a value written in clear before the indicator was protected is shown as it is
    clear = _rows((1, MOBILE, None, "13812345678"))
    assert SEALED.reveal(clear).equals(clear)
    # a department's public text that merely looks like a stored value stays as sent
    lookalike = _rows((1, SCOPE, None, "sm4:1:QUJD"))
    assert SEALED.reveal(lookalike).equals(lookalike)


def test_values_under_an_older_data_key_still_read_after_rotation(own_keyring):  # noqa: F811
    own_keyring()
    sealed = SEALED.seal(_rows((1, MOBILE, None, "13812345678")))
    old = fields.current().active
    fields.add_data_key()
    newer = SEALED.seal(_rows((2, MOBILE, None, "13912345678")))
    both = pl.concat([sealed, newer])
    assert key_counts(both) == {old: 1, old + 1: 1}
    assert SEALED.reveal(both).get_column("value_text").to_list() == [
        "13812345678",
        "13912345678",
    ]


@hsettings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.tuples(
            st.integers(0, 2_000_000),
            st.sampled_from([MOBILE, ID, SCOPE, AMOUNT]),
            st.none() | st.text(max_size=40),
        ),
        max_size=30,
    )
)
def test_seal_then_reveal_is_the_identity(settings, values):
    rows = _rows(*[(e, i, None, t) for e, i, t in values])
    sealed = SEALED.seal(rows)
    assert SEALED.reveal(sealed).equals(rows)
    # nothing protected is left in clear (an empty text is sealed too)
    for (_, i, t), stored in zip(values, sealed.get_column("value_text"), strict=True):
        if i in (MOBILE, ID) and t is not None:
            assert stored.startswith("sm4:")
        else:
            assert stored == t
