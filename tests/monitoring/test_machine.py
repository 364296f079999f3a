"""The alert lifecycle: new → acknowledged → handled → closed, and nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from puhui.monitoring import machine
from puhui.monitoring.machine import TransitionRefused
from puhui.monitoring.schemas import ACTIONS, OUTCOMES, STATES

PATH = list(STATES)

steps = st.lists(
    st.tuples(
        st.sampled_from([*ACTIONS, "reopen"]),
        st.one_of(st.none(), st.sampled_from([*OUTCOMES, "maybe"])),
        st.sampled_from(["", "  ", "called the owner", "x" * 2001]),
    ),
    max_size=12,
)


@given(steps)
def test_any_sequence_of_requests_moves_only_forward_along_the_one_path(requests):
    status, outcome = machine.NEW, None
    for action, wanted_outcome, note in requests:
        try:
            step = machine.step(status, action, outcome=wanted_outcome, note=note)
        except TransitionRefused as exc:
            assert exc.field in {"action", "outcome", "note"}
            continue
        assert PATH.index(step.status) == PATH.index(status) + 1
        assert action in machine.allowed_actions(status)
        if step.status == machine.HANDLED:
            assert step.outcome in OUTCOMES and step.note
            outcome = step.outcome
        else:
            assert step.outcome is None
        assert len(step.note) <= machine.MAX_NOTE
        status = step.status
    if status == machine.CLOSED:
        assert outcome in OUTCOMES
        assert machine.allowed_actions(status) == []


@pytest.mark.parametrize(
    ("status", "action", "outcome", "note", "field"),
    [
        ("new", "handle", "confirmed_risk", "n", "action"),  # acknowledge first
        ("acknowledged", "handle", None, "n", "outcome"),
        ("acknowledged", "handle", "false_positive", "  ", "note"),
        ("acknowledged", "close", None, "", "action"),
        ("closed", "acknowledge", None, "", "action"),
        ("new", "acknowledge", "confirmed_risk", "", "outcome"),
    ],
)
def test_refusals_name_the_field(status, action, outcome, note, field):
    with pytest.raises(TransitionRefused) as caught:
        machine.step(status, action, outcome=outcome, note=note)
    assert caught.value.field == field


def test_the_whole_path():
    s = machine.step("new", "acknowledge")
    s = machine.step(s.status, "handle", outcome="false_positive", note="  data error  ")
    assert (s.status, s.outcome, s.note) == ("handled", "false_positive", "data error")
    assert machine.step(s.status, "close").status == "closed"
