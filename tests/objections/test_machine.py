"""The state machine, property-tested: any sequence of events either moves along the
table or is refused without a change; nothing leaves a final state; open means exactly
submitted or routed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from puhui.objections import machine


@given(st.lists(st.sampled_from(machine.EVENTS), max_size=12))
def test_any_event_sequence_stays_inside_the_table(events):
    state = machine.SUBMITTED
    for event in events:
        before = state
        try:
            state = machine.advance(state, event)
        except machine.IllegalTransition:
            assert (before, event) not in machine.TRANSITIONS
            continue
        assert machine.TRANSITIONS[(before, event)] == state
        assert before not in machine.FINAL
        if event == "answer":
            assert before == machine.ROUTED  # only a routed objection is answered
    assert state in machine.STATES


@given(st.sampled_from(machine.STATES), st.sampled_from(machine.EVENTS))
def test_final_states_refuse_everything(state, event):
    if state in machine.FINAL:
        with pytest.raises(machine.IllegalTransition):
            machine.advance(state, event)
    assert machine.is_open(state) == (state in {"submitted", "routed"})


@given(st.lists(st.sampled_from(machine.EVENTS), max_size=12))
def test_withdraw_only_while_open(events):
    state = machine.SUBMITTED
    for event in events:
        was_open = machine.is_open(state)
        try:
            state = machine.advance(state, event)
        except machine.IllegalTransition:
            continue
        if event == "withdraw":
            assert was_open and state == machine.WITHDRAWN
