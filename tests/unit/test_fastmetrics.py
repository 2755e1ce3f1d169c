"""The lean instruments render exactly what prometheus_client's own instruments render for
the same observations (prometheus_client is the reference), and their collect() agrees."""

import sys
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.parser import text_string_to_metric_families

from agent.fastmetrics import AgentRegistry, FastCounter, FastGauge, FastHistogram

pytestmark = pytest.mark.unit
BOUNDS = [0.001, 0.01, 0.1, 1, 2.5, 10]
labels = st.sampled_from(["a", "b", 'q"uote', "back\\slash", "new\nline", "ünï"])
values = st.floats(min_value=0, max_value=100, allow_nan=False) | st.sampled_from(BOUNDS)


def reference(observations, kind):
    disable_created_metrics()
    reg = CollectorRegistry()
    if kind == "histogram":
        m = Histogram("x_seconds", "help \\ me\nplease", ["t", "m"], buckets=BOUNDS, registry=reg)
    elif kind == "counter":
        m = Counter("x", "help", ["t", "m"], registry=reg)
    else:
        m = Gauge("x", "help", ["t", "m"], registry=reg)
    for (t, mo), v in observations:
        child = m.labels(t, mo)
        child.observe(v) if kind == "histogram" else child.inc(v)
    return generate_latest(reg).decode()


def fast(observations, kind):
    reg = AgentRegistry()
    if kind == "histogram":
        m = FastHistogram("x_seconds", "help \\ me\nplease", ["t", "m"], BOUNDS)
    elif kind == "counter":
        m = FastCounter("x_total", "help", ["t", "m"])
    else:
        m = FastGauge("x", "help", ["t", "m"])
    reg.add_fast(m)
    for (t, mo), v in observations:
        child = m.labels(t, mo)
        child.observe(v) if kind == "histogram" else child.inc(v)
    return reg


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.tuples(labels, labels), values), max_size=40),
    st.sampled_from(["histogram", "counter", "gauge"]),
)
def test_render_matches_prometheus_client(observations, kind):
    reg = fast(observations, kind)
    assert reg.render().decode() == reference(observations, kind)
    # the slow path (collect) agrees too, sample for sample
    assert parsed(generate_latest(reg).decode()) == parsed(reference(observations, kind))


def parsed(text):
    return [
        (s.name, sorted(s.labels.items()), s.value)
        for f in text_string_to_metric_families(text)
        for s in f.samples
    ]


def test_unlabelled_gauge_function_and_keyword_labels():
    reg = AgentRegistry()
    g = reg.add_fast(FastGauge("q", "queued"))
    g.set_function(lambda: 7)
    c = reg.add_fast(FastCounter("v_total", "v", ["version"]))
    c.labels(version="1.2").inc()
    assert reg.get_sample_value("q") == 7
    assert reg.get_sample_value("v_total", {"version": "1.2"}) == 1
    with pytest.raises(ValueError):
        reg.add_fast(FastGauge("q", "again"))
    with pytest.raises(ValueError):
        c.labels("a", "b")


def test_cached_series_text_follows_new_observations():
    reg = AgentRegistry()
    h = reg.add_fast(FastHistogram("h_seconds", "h", ["t"], BOUNDS))
    h.labels("a").observe(0.5)
    first = reg.render()
    h.labels("a").observe(5)
    second = reg.render()
    assert first != second
    assert reg.get_sample_value("h_seconds_count", {"t": "a"}) == 2
    assert b'h_seconds_bucket{le="10.0",t="a"} 2.0' in second
    assert b'h_seconds_bucket{le="1.0",t="a"} 1.0' in second


# A non-UTF-8 header byte reaches the agent as a lone surrogate (aiohttp decodes header
# bytes with surrogateescape): `x-tenant-id: t\xff` arrives as 't\udcff'.
UNENCODABLE = ["t\udcff", "\ud800", 'a\udcff\nb"c\\']


@pytest.mark.parametrize("value", UNENCODABLE)
@pytest.mark.parametrize("kind", ["histogram", "counter", "gauge"])
def test_unencodable_label_value_renders_escaped(value, kind):
    reg = fast([((value, "m"), 1.0)], kind)
    text = reg.render().decode("utf-8")  # strict: the page itself is valid UTF-8
    shown = {s.labels["t"] for f in text_string_to_metric_families(text) for s in f.samples}
    # the value shows with Python's backslash escapes, made literal in the exposition
    assert shown == {value.encode("utf-8", "backslashreplace").decode()}


def test_unencodable_label_value_in_a_prometheus_client_collector_renders_escaped():
    # The slow path: a collector rendered by prometheus_client (e.g. a scraped upstream's
    # series) whose label value cannot be encoded; prometheus_client alone would raise.
    reg = AgentRegistry()
    Counter("up_total", "scraped", ["t"], registry=reg).labels("t\udcff").inc()
    reg.add_fast(FastCounter("mine_total", "mine", ["t"])).labels("ok").inc()
    families = {f.name: f for f in text_string_to_metric_families(reg.render().decode())}
    assert [s.labels["t"] for s in families["up"].samples] == ["t\\udcff"]
    assert [s.labels["t"] for s in families["mine"].samples] == ["ok"]


@pytest.mark.parametrize("how", ["render", "collect"])
def test_series_added_by_another_thread_while_scraping_never_break_the_scrape(how):
    # The store's writer thread counts on families that a scrape iterates on the event loop;
    # a label value it sees for the first time mid-scrape must not raise "dictionary
    # changed size during iteration" (see the threading rule in agent/fastmetrics.py).
    registry = AgentRegistry()
    counter = registry.add_fast(FastCounter("t_errors_total", "Errors.", ["kind"]))
    hist = registry.add_fast(FastHistogram("t_seconds", "Durations.", ["kind"], [0.1, 1.0]))
    for i in range(2000):  # a long table, so a scrape spans many thread switches
        counter.labels(f"k{i}").inc()
    done = threading.Event()

    def writer() -> None:
        for i in range(3000):
            counter.labels(f"new{i}").inc()
            hist.labels(f"new{i}").observe(0.5)
        done.set()

    scrape = registry.render if how == "render" else lambda: generate_latest(registry)
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        thread = threading.Thread(target=writer)
        thread.start()
        scrapes = 0
        while not done.is_set() or scrapes == 0:
            page = scrape()
            scrapes += 1
        thread.join()
    finally:
        sys.setswitchinterval(before)
    assert b't_errors_total{kind="k1999"} 1.0' in page
    # The last page and a scrape after the writer ended hold every series once.
    final = registry.render().decode()
    assert (
        final.count("\nt_errors_total{") == 5000 and 't_seconds_count{kind="new2999"} 1.0' in final
    )


def test_describe_gives_name_help_and_type_without_samples():
    fam = FastCounter("t_errors_total", "Errors.", ["kind"])
    fam.labels("a").inc()
    (described,) = fam.describe()
    assert (described.name, described.documentation, described.type) == (
        "t_errors",
        "Errors.",
        "counter",
    )
    assert described.samples == []
