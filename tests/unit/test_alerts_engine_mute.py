"""Matchers, silences and inhibition, with Alertmanager's semantics."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts import db
from alerts.config import AlertsConfig
from alerts.engine.config import InhibitRuleConfig, RouteConfig, default_inhibit_rules
from alerts.engine.engine import AlertEngine
from alerts.engine.matchers import Matcher, MatcherError, parse_matcher, parse_matchers
from alerts.engine.silences import SilenceError
from alerts.engine.state import EngineState
from alerts.model import Alert

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "labels", "hit"),
    [
        ('tenant="acme"', {"tenant": "acme"}, True),
        ('tenant="acme"', {"tenant": "acme2"}, False),
        ("tenant!=acme", {"tenant": "b"}, True),
        ('tenant!="acme"', {}, True),  # a missing label is the empty string
        ('tenant=~"ac.*"', {"tenant": "acme"}, True),
        ('tenant=~"cm"', {"tenant": "acme"}, False),  # anchored: ^(?:cm)$
        ('tenant=~"a|acme"', {"tenant": "acme"}, True),
        ('tenant!~"a.*"', {"tenant": "acme"}, False),
        ('tenant!~"a.*"', {"tenant": "b"}, True),
        ('x=""', {}, True),
        ('path="a\\"b"', {"path": 'a"b'}, True),
    ],
)
def test_matcher_kinds(text, labels, hit):
    assert parse_matcher(text).matches(labels) is hit


@pytest.mark.parametrize(("op", "hit"), [("=~", True), ("!~", False)])
def test_a_regex_matcher_built_directly_compiles_its_regex(op, hit):
    # Matcher is a public dataclass: built without make_matcher it has no compiled regex.
    assert Matcher("tenant", op, "ac.*").matches({"tenant": "acme"}) is hit


def test_brace_list_with_commas_inside_values():
    ms = parse_matchers('{alertname="A", tenant=~"x,y|z"}')
    assert [(m.name, m.op, m.value) for m in ms] == [
        ("alertname", "=", "A"),
        ("tenant", "=~", "x,y|z"),
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('="x"', "label name is missing"),
        ('9t="x"', "bad label name '9t'"),
        ("tenant", "expected NAME OP VALUE"),
        ('t=~"("', "bad regular expression '('"),
        ('t="x', "not closed"),
        ('t=x"y', "stray double quote"),
    ],
)
def test_bad_matcher_says_which_part_is_wrong(text, says):
    with pytest.raises(MatcherError) as err:
        parse_matcher(text)
    assert says in str(err.value)


def make(tmp_path, rules=()):
    sent = []
    cfg = RouteConfig(
        receivers=["hook"],
        group_by=["alertname", "tenant"],
        group_wait_s=10,
        group_interval_s=60,
        repeat_interval_s=3600,
    )
    state = EngineState(db.connect(tmp_path / "alerts.db"))
    return AlertEngine(cfg, list(rules), state, sent.append), state, sent


def cost(tenant):
    return Alert({"alertname": "InferwatchCostAnomaly", "tenant": tenant})


def budget(tenant):
    return Alert({"alertname": "InferwatchBudgetExhausted", "tenant": tenant})


def test_exhausted_budget_inhibits_the_cost_alert_of_its_tenant_only(tmp_path):
    e, _, _ = make(tmp_path, default_inhibit_rules())
    e.process(0, "budget", [budget("a")])
    e.process(0, "cost", [cost("a"), cost("b")])
    sent = e.tick(10)
    names = sorted((n.alerts[0].name, n.alerts[0].labels["tenant"]) for n in sent)
    assert names == [("InferwatchBudgetExhausted", "a"), ("InferwatchCostAnomaly", "b")]
    [muted] = [s for s in e.statuses(10) if s.alert.labels == cost("a").labels]
    assert muted.state == "suppressed" and muted.inhibited_by == (budget("a").fingerprint,)
    e.process(30, "budget", [])  # the budget alert resolves: the cost alert is news
    after = e.tick(70)
    assert sorted((n.status, n.alerts[0].name) for n in after) == [
        ("firing", "InferwatchCostAnomaly"),
        ("resolved", "InferwatchBudgetExhausted"),
    ]


def test_inhibition_equal_label_missing_on_both_sides_counts_as_equal(tmp_path):
    rule = InhibitRuleConfig(
        source_matchers=['alertname="S"'], target_matchers=['alertname="T"'], equal=["zone"]
    )
    e, _, _ = make(tmp_path, [rule])
    e.process(0, "d", [Alert({"alertname": "S"}), Alert({"alertname": "T"})])
    assert [n.alerts[0].name for n in e.tick(10)] == ["S"]


def test_alerts_matching_both_sides_do_not_inhibit_each_other(tmp_path):
    rule = InhibitRuleConfig(source_matchers=['sev="x"'], target_matchers=['sev="x"'])
    e, _, _ = make(tmp_path, [rule])
    e.process(
        0, "d", [Alert({"alertname": "A", "sev": "x"}), Alert({"alertname": "B", "sev": "x"})]
    )
    assert len(e.tick(10)) == 2


def test_silenced_alert_is_kept_and_notified_once_the_silence_expires(tmp_path):
    e, state, _ = make(tmp_path)
    s = state.silences.add(['tenant="a"'], starts_at=0, ends_at=100, created_by="ops")
    e.process(0, "cost", [cost("a"), cost("b")])
    [n] = e.tick(10)
    assert n.alerts[0].labels["tenant"] == "b"
    assert [x.silenced_by for x in e.statuses(10) if x.alert.labels["tenant"] == "a"] == [(s.id,)]
    assert e.tick(70) == []  # still silenced at 70
    [n] = e.tick(130)  # silence ended at 100; the next flush tells it
    assert n.alerts[0].labels["tenant"] == "a"


def test_expiring_a_silence_by_hand(tmp_path):
    e, state, _ = make(tmp_path)
    s = state.silences.add(['alertname=~"Inferwatch.*"'], 0, 10_000)
    e.process(0, "cost", [cost("a")])
    assert e.tick(10) == []
    state.silences.expire(s.id, 20)
    assert len(e.tick(70)) == 1
    assert state.silences.list(30) == [] and [
        x.id for x in state.silences.list(30, expired=True)
    ] == [s.id]
    with pytest.raises(SilenceError, match="already expired"):
        state.silences.expire(s.id, 40)
    with pytest.raises(SilenceError, match="no silence with id 'nope'"):
        state.silences.expire("nope", 40)


@pytest.mark.parametrize(
    ("matchers", "says"),
    [
        ([], "at least one matcher"),
        (['tenant=""'], "must not match the empty string"),
        (['tenant=~".*"', 'x!="y"'], "must not match the empty string"),
        (['tenant=~"("'], "bad regular expression"),
    ],
)
def test_silence_refused_as_alertmanager_refuses_it(tmp_path, matchers, says):
    silences = EngineState(db.connect(tmp_path / "a.db")).silences
    with pytest.raises(SilenceError, match=says):
        silences.add(matchers, 0, 100)
    assert silences.list(0, expired=True) == []


def test_silence_end_before_start_is_refused(tmp_path):
    silences = EngineState(db.connect(tmp_path / "a.db")).silences
    with pytest.raises(SilenceError, match="before its start"):
        silences.add(['a="b"'], 100, 50)


def test_bad_matcher_in_an_inhibit_rule_is_a_config_error():
    with pytest.raises(ValidationError, match="bad regular expression"):
        AlertsConfig.model_validate(
            {"inhibit_rules": [{"source_matchers": ['a=~"("'], "target_matchers": ['b="c"']}]}
        )
    assert AlertsConfig().inhibit_rules == default_inhibit_rules()


def test_silenced_and_inhibited_alerts_still_count_as_firing(tmp_path):
    e, state, _ = make(tmp_path, default_inhibit_rules())
    state.silences.add(['tenant="b"'], 0, 100)
    e.process(0, "cost", [budget("a"), cost("a"), cost("b")])
    assert e.tick(10)[0].alerts[0].name == "InferwatchBudgetExhausted"  # the others muted
    [fam] = e.families()
    assert {s.labels["alertname"]: s.value for s in fam.samples} == {
        "InferwatchBudgetExhausted": 1,
        "InferwatchCostAnomaly": 2,
    }
