"""CSV traces: a round trip keeps every event, and a bad line is named in the error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmpool.sim import TraceError, TraceEvent, format_trace, make_trace, parse_trace, steady


def test_a_generated_trace_survives_a_csv_round_trip():
    trace = steady(hours=2, seed=4)
    again = parse_trace(format_trace(trace), horizon=trace.horizon)
    assert again == trace


def test_parsing_sorts_by_time_keeps_ties_in_file_order_and_skips_comments():
    text = (
        "time,node,pod,event\n"
        "# a comment\n"
        "\n"
        "5,n1,b,add\n"
        "1.5,n1,a,add\n"
        "5,n1,a,del\n"
        '7.25,n2,"pod,with,commas",add\n'
    )
    trace = parse_trace(text)
    assert [(e.time, e.node, e.pod, e.event) for e in trace.events] == [
        (1.5, "n1", "a", "add"),
        (5.0, "n1", "b", "add"),
        (5.0, "n1", "a", "del"),
        (7.25, "n2", "pod,with,commas", "add"),
    ]
    assert trace.horizon == 7.25 and trace.nodes == ("n1", "n2") and trace.churn_events == 4


def test_parse_accepts_lines_as_a_file_yields_them():
    trace = parse_trace(["time,node,pod,event\n", "0,n,p,add\n", "3,n,p,del\n"])
    assert trace.churn_events == 2


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("", 0, "empty trace"),
        ("when,node,pod,event\n0,n,p,add\n", 1, "expected the header"),
        ("time,node,pod,event\n0,n,p\n", 2, "expected 4 fields"),
        ("time,node,pod,event\n0,n,p,add\nsoon,n,q,add\n", 3, "is not a number"),
        ("time,node,pod,event\n-1,n,p,add\n", 2, "finite number >= 0"),
        ("time,node,pod,event\nnan,n,p,add\n", 2, "finite number >= 0"),
        ("time,node,pod,event\n0,n,p,start\n", 2, "'add' or 'del'"),
        ("time,node,pod,event\n0,,p,add\n", 2, "must not be empty"),
        ("time,node,pod,event\n0,n,p,add\n\n1,n,p,add\n", 4, "added again while it lives"),
        ("time,node,pod,event\n0,n,p,add\n1,n,q,del\n", 3, "deleted but was not added"),
        ("time,node,pod,event\n5,n,p,add\n1,n,p,del\n", 3, "deleted but was not added"),
    ],
)
def test_a_bad_trace_names_its_line(text, line, says):
    with pytest.raises(TraceError, match=says) as caught:
        parse_trace(text)
    assert caught.value.line == line
    if line:
        assert str(caught.value).startswith(f"line {line}: ")


def test_a_pod_may_be_added_again_after_its_del():
    trace = parse_trace("time,node,pod,event\n0,n,p,add\n1,n,p,del\n2,n,p,add\n")
    assert [e.event for e in trace.events] == ["add", "del", "add"]


def test_a_horizon_before_the_last_event_is_refused():
    with pytest.raises(TraceError, match="horizon"):
        make_trace([TraceEvent(10.0, "n", "p", "add")], horizon=5.0)


names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
    min_size=1,
    max_size=8,
).filter(lambda s: s.strip() == s and not s.startswith("#"))


@settings(max_examples=100, deadline=None)
@given(
    pods=st.lists(
        st.tuples(names, names, st.floats(0, 1e6, allow_nan=False), st.floats(0, 1e3)),
        max_size=30,
        unique_by=lambda p: (p[0], p[1]),
    )
)
def test_any_trace_survives_a_csv_round_trip(pods):
    events = []
    for node, pod, start, life in pods:
        events += [TraceEvent(start, node, pod, "add"), TraceEvent(start + life, node, pod, "del")]
    trace = make_trace(events)
    assert parse_trace(format_trace(trace), horizon=trace.horizon) == trace
