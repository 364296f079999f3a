from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from puhui.entities import uscc

BODY = st.text(alphabet=uscc.ALPHABET, min_size=9, max_size=9)
DIVISION = st.sampled_from(["330203", "330205", "330206", "330211", "330212", "330225", "330282"])
CATEGORY = st.sampled_from(["91", "92", "93", "11", "51"])


@st.composite
def valid_codes(draw) -> str:
    return uscc.make(draw(CATEGORY) + draw(DIVISION) + draw(BODY))


class TestValidation:
    @pytest.mark.parametrize(
        "code",
        ["91350100M000100Y43", "91110000802100433B", "91440300708461136T", "9144030071526726XG"],
    )
    def test_codes_issued_in_the_wild(self, code):
        assert uscc.validate(code) == code

    @given(valid_codes())
    def test_every_valid_code_is_accepted(self, code):
        assert uscc.validate(code) == code

    @given(valid_codes(), st.data())
    def test_every_single_character_change_is_rejected(self, code, data):
        position = data.draw(st.integers(0, 17))
        replacement = data.draw(st.sampled_from([c for c in uscc.ALPHABET if c != code[position]]))
        changed = code[:position] + replacement + code[position + 1 :]
        with pytest.raises(uscc.InvalidUSCC):
            uscc.validate(changed)

    @given(valid_codes())
    def test_lower_case_spaces_and_full_width_are_normalised(self, code):
        full_width = "".join(chr(ord(c) + 0xFEE0) for c in code.lower())
        spaced = " ".join([full_width[:6], full_width[6:12], full_width[12:]])
        assert uscc.validate(spaced) == code

    @given(st.text(max_size=30))
    def test_arbitrary_text_is_either_valid_or_rejected_with_a_reason(self, text):
        try:
            code = uscc.validate(text)
        except uscc.InvalidUSCC as exc:
            assert exc.reason
        else:
            assert len(code) == 18 and uscc.is_valid(code)

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            ("91330200MA2AFT1Q6", "18 characters"),
            ("91330200MA2AFT1Q6BX", "18 characters"),
            ("91330200MA2AFTIQ6B", "not allowed"),
            ("9133O200MA2AFT1Q6B", "not allowed"),
            ("91ABCDEFMA2AFT1Q6B", "administrative division"),
            ("91350100M000100Y44", "check character"),
        ],
    )
    def test_each_reason(self, raw, reason):
        with pytest.raises(uscc.InvalidUSCC) as info:
            uscc.validate(raw)
        assert reason in str(info.value)

    @pytest.mark.parametrize(
        ("prefix", "kind"),
        [
            ("91", "enterprise"),
            ("92", "individual_business"),
            ("93", "cooperative"),
            ("11", "other"),
        ],
    )
    def test_kind_from_the_code(self, prefix, kind):
        code = uscc.make(prefix + "330203" + "MA2H3K4L5")
        assert uscc.kind_of(code) == kind
        assert uscc.division_of(code) == "330203"
