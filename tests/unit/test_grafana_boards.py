"""The generated Grafana boards: committed copies equal the generator's output, every series
a panel reads exists (the catalogue, vLLM's own /metrics, or a shipped recording rule), and
lint rules in the spirit of grafana/dashboard-linter hold on every panel."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from agent.catalogue import load_catalogue
from alerts.rules.load import recorded_names
from alerts.rules.promql import metric_names
from dashboards.grafana import cli
from dashboards.grafana.export import BOARDS, INPUT, board, filename
from dashboards.grafana.provisioning import CONFIGMAPS, provisioned

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
BOARD_DIR = ROOT / "dashboards" / "grafana"
VLLM_CAPTURE = ROOT / "tests" / "fixtures" / "vllm-0.32-cpu-metrics.txt"
# Grafana's own variables a query may use.
BUILTINS = {"__rate_interval", "__interval", "__range", "__range_s", "__interval_ms"}
# Counters may only appear under these (a raw counter plotted is a line that only rises).
COUNTER_FUNCS = {"rate", "increase", "irate"}
# Catalogue families no board shows, and why.
NOT_ON_A_BOARD = {
    # Exposed only with collectors.dcgm_compat, so dcgm-exporter's own board (12239) works
    # on the agent's /metrics; ours reads the OpenTelemetry hw_gpu_* names of the same values.
    *(n for n in load_catalogue() if n.startswith("DCGM_FI_")),
    # prometheus_client's runtime internals: nothing an operator of the agent acts on.
    "python_gc_collections_total",
    "python_gc_objects_collected_total",
    "python_gc_objects_uncollectable_total",
    "python_info",
    "process_virtual_memory_bytes",
}


def boards() -> dict[str, dict]:
    """The committed boards, by key."""
    return {key: json.loads((BOARD_DIR / filename(key)).read_text()) for key in BOARDS}


def panels(model: dict) -> list[dict]:
    """Every panel of a board but rows (and the panels a collapsed row holds)."""
    out = []
    for p in model["panels"]:
        out += p.get("panels", []) if p["type"] == "row" else [p]
    return out


def targets() -> list[tuple[str, str, dict]]:
    """(board, panel title, target) for every query of every board, annotations included."""
    out = []
    for key, m in boards().items():
        out += [(key, p["title"], t) for p in panels(m) for t in p["targets"]]
        out += [
            (key, f"annotation {a['name']}", a) for a in m["annotations"]["list"] if "expr" in a
        ]
    return out


def catalogue_series() -> dict[str, str]:
    """Every series name the agent exposes -> its family's type (histogram suffixes too)."""
    out = {}
    for name, spec in load_catalogue().items():
        out[name] = spec.type
        if spec.type == "histogram":
            out.update({name + s: "counter" for s in ("_bucket", "_count", "_sum")})
    return out


def vllm_series() -> set[str]:
    """The series names of a real vLLM 0.32 /metrics page (the captured fixture)."""
    names = set()
    for fam in text_string_to_metric_families(VLLM_CAPTURE.read_text()):
        names |= {s.name for s in fam.samples}
    return names


def test_committed_boards_are_what_the_code_generates(capsys):
    from agent.cli import main

    assert main(["grafana", "export", "--check"]) == 0
    assert "8 files match" in capsys.readouterr().out


def test_check_names_a_stale_or_missing_file(tmp_path, capsys, monkeypatch):
    from agent.cli import main

    stale, missing = tmp_path / "a.json", tmp_path / "b.json"
    stale.write_text("{}\n")
    generated = {stale: '{"x": 1}\n', missing: "{}\n"}
    monkeypatch.setattr(cli, "outputs", lambda _options: generated)
    assert main(["grafana", "export", "--check"]) == 1
    err = capsys.readouterr().err
    assert str(stale) in err and str(missing) in err


def test_every_series_a_panel_reads_exists():
    known = set(catalogue_series()) | vllm_series() | recorded_names()
    unknown = [
        f"{key} / {title}: {name}"
        for key, title, t in targets()
        for name in metric_names(t["expr"])
        if name not in known
    ]
    assert not unknown, unknown


def test_a_misspelled_metric_fails_the_name_check():
    # The check above is only as good as the name extraction: a typo must surface.
    expr = 'sum(rate(gen_ai_server_request_duration_second_count{job=~"$job"}[$__rate_interval]))'
    assert "gen_ai_server_request_duration_second_count" in metric_names(expr)
    assert "gen_ai_server_request_duration_second_count" not in catalogue_series()


def test_every_catalogue_family_is_on_a_board_or_listed_why_not():
    read = {name for _, _, t in targets() for name in metric_names(t["expr"])}
    series = catalogue_series()
    shown = {
        re.sub(r"_(bucket|count|sum)$", "", n) if n not in load_catalogue() else n for n in read
    }
    missing = [n for n in load_catalogue() if n not in shown and n not in NOT_ON_A_BOARD]
    assert not missing, f"catalogue families no board shows: {missing}"
    assert set(series) >= NOT_ON_A_BOARD, "an exception names a metric that no longer exists"


def _counter_uses(expr: str, name: str) -> tuple[int, int]:
    """(occurrences of `name` as a selector, occurrences inside rate/increase/irate)."""
    token = rf"(?<![\w:]){re.escape(name)}(?![\w:])"
    total = len(re.findall(token, expr))
    funcs = "|".join(COUNTER_FUNCS)
    wrapped = len(re.findall(rf"\b(?:{funcs})\(\s*{token}(?:\{{[^}}]*\}})?\[", expr))
    return total, wrapped


def test_counters_only_through_rate_or_increase_and_gauges_never():
    types = catalogue_series()
    wrong = []
    for key, title, t in targets():
        for name in metric_names(t["expr"]):
            kind = types.get(name)
            total, wrapped = _counter_uses(t["expr"], name)
            if kind == "counter" and wrapped != total:
                wrong.append(f"{key} / {title}: raw counter {name}")
            if kind in ("gauge", "info") and wrapped:
                wrong.append(f"{key} / {title}: rate of gauge {name}")
    assert not wrong, wrong


def test_the_counter_rule_catches_a_raw_counter():
    assert _counter_uses(
        "sum(inferwatch_store_records_written_total)", "inferwatch_store_records_written_total"
    ) == (1, 0)
    rated = 'rate(inferwatch_store_records_written_total{job=~"$job"}[$__rate_interval])'
    assert _counter_uses(rated, "inferwatch_store_records_written_total") == (1, 1)


def test_range_windows_are_grafana_variables():
    fixed = [
        f"{key} / {title}: [{w}]"
        for key, title, t in targets()
        for w in re.findall(r"\[([^\]]+)\]", t["expr"])
        if w.lstrip("$") not in BUILTINS
    ]
    assert not fixed, f"hard-coded range windows (use $__rate_interval): {fixed}"


def test_rates_use_the_rate_interval():
    slow = [
        f"{key} / {title}"
        for key, title, t in targets()
        if re.search(r"\b(?:rate|irate)\([^\[]*\[\$__range\]", t["expr"])
        or re.search(r"\[\$__interval\]", t["expr"])
    ]
    # At its minimum (the scrape interval) $__interval holds one sample: rate() and
    # increase() over it return nothing (dashboard-linter's target-rate-interval rule).
    assert not slow, f"use $__rate_interval: {slow}"


@pytest.mark.parametrize("key", list(BOARDS))
def test_every_panel_has_a_unit_a_description_and_the_datasource_variable(key):
    problems = []
    for p in panels(boards()[key]):
        if not p.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            problems.append(f"{p['title']}: no unit")
        if len(p.get("description", "")) < 20:
            problems.append(f"{p['title']}: no description")
        refs = [p["datasource"], *(t["datasource"] for t in p["targets"])]
        if any(r != {"type": "prometheus", "uid": "${datasource}"} for r in refs):
            problems.append(f"{p['title']}: datasource is not ${{datasource}}")
        if not p["targets"]:
            problems.append(f"{p['title']}: no query")
        if p["type"] == "graph":
            problems.append(f"{p['title']}: legacy graph panel")
    assert not problems, problems


@pytest.mark.parametrize("key", list(BOARDS))
def test_every_variable_a_query_uses_is_declared(key):
    model = boards()[key]
    declared = {v["name"] for v in model["templating"]["list"]} | BUILTINS
    used = {
        m for p in panels(model) for t in p["targets"] for m in re.findall(r"\$\{?(\w+)", t["expr"])
    }
    assert used <= declared, used - declared
    for var in model["templating"]["list"]:
        for m in re.findall(
            r"\$\{?(\w+)", var.get("query", "") if isinstance(var.get("query"), str) else ""
        ):
            assert m in declared, f"variable {var['name']} uses undeclared ${m}"


def test_label_filters_match_the_labels_each_family_carries():
    """A `tenant=~"$tenant"` on a family without a tenant label would ignore the user's
    choice silently; a family with the label but no matcher would ignore it too."""
    specs = load_catalogue()
    filters = {
        "gen_ai_request_model": "$model",
        "tenant": "$tenant",
        "gpu": "$gpu",
        "experiment": "$experiment",
        "variant": "$variant",
    }
    wrong = []
    for key, title, t in targets():
        for name, labels in re.findall(r"([A-Za-z_:][\w:]*)\{([^{}]*)\}", t["expr"]):
            base = re.sub(r"_(bucket|count|sum)$", "", name) if name not in specs else name
            if base not in specs:
                continue  # a recording rule or vLLM's own series
            for label, var in filters.items():
                has = f'{label}=~"{var}"' in labels
                if has != (label in specs[base].labels):
                    wrong.append(f"{key} / {title}: {name} {label}")
    assert not wrong, wrong


@pytest.mark.parametrize("key", list(BOARDS))
def test_board_shape_ids_layout_and_import_inputs(key):
    model = boards()[key]
    assert model["uid"] == f"inferwatch-{key}" and model["schemaVersion"] >= 39
    assert "inferwatch" in model["tags"]
    assert any(
        link["type"] == "dashboards" and link["tags"] == ["inferwatch"] for link in model["links"]
    )
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids)) and all(i > 0 for i in ids)
    for p in panels(model):
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)) and all(refs), p["title"]
        pos = p["gridPos"]
        assert pos["x"] + pos["w"] <= 24, p["title"]
    for row in _rows(model):
        assert sum(p["gridPos"]["w"] for p in row[1]) % 24 == 0, f"row {row[0]} is ragged"
    notes = {a["name"]: a for a in model["annotations"]["list"]}
    assert notes["Annotations & Alerts"]["builtIn"] == 1
    assert "inferwatch_vllm_restarts_total" in notes["vLLM restarts"]["target"]["expr"]
    [inp] = model["__inputs"]
    assert inp["name"] == INPUT and inp["pluginId"] == "prometheus"
    [ds] = [v for v in model["templating"]["list"] if v["type"] == "datasource"]
    assert ds["current"]["value"] == "${" + INPUT + "}"
    names = {v["name"] for v in model["templating"]["list"]}
    assert {"datasource", "job", "instance"} <= names


def _rows(model: dict) -> list[tuple[str, list[dict]]]:
    """(row title, the panels under it) in board order."""
    rows: list[tuple[str, list[dict]]] = []
    for p in model["panels"]:
        if p["type"] == "row":
            rows.append((p["title"], []))
        else:
            rows[-1][1].append(p)
    return rows


def test_titles_and_uids_are_unique_across_boards():
    models = boards().values()
    assert len({m["uid"] for m in models}) == len(BOARDS)
    assert len({m["title"] for m in models}) == len(BOARDS)


def test_slo_choices_are_bucket_bounds_as_metrics_writes_le():
    from dashboards.grafana import slo

    serving = boards()["serving"]
    specs = load_catalogue()
    for name, histogram, *_ in slo.SLOS:
        [var] = [v for v in serving["templating"]["list"] if v["name"] == name]
        buckets = {repr(float(b)) for b in specs[histogram].buckets}
        assert set(var["query"].split(",")) <= buckets, name


def test_an_slo_bound_that_is_not_a_bucket_is_refused(monkeypatch):
    from dashboards.grafana import slo

    bad = (("slo_latency", "gen_ai_server_request_duration_seconds", "x", (3.0,), 3.0),)
    monkeypatch.setattr(slo, "SLOS", bad)
    with pytest.raises(ValueError, match="not buckets"):
        slo.variables()


def test_an_slo_bound_that_is_not_a_bucket_of_the_tenant_histogram_is_refused(monkeypatch):
    from dashboards.grafana import slo

    # 40.96 is a bucket of the model histogram, not of the per-tenant one.
    ok_for_models = (
        ("slo_latency", "gen_ai_server_request_duration_seconds", "x", (40.96,), 40.96),
    )
    monkeypatch.setattr(slo, "SLOS", ok_for_models)
    with pytest.raises(ValueError, match="inferwatch_tenant_request_duration_seconds"):
        slo.variables()


def test_an_unknown_metric_cannot_be_put_on_a_board():
    from dashboards.grafana.promql import rate, recorded, series

    with pytest.raises(KeyError, match="not in the metrics catalogue"):
        series("inferwatch_no_such_metric")
    with pytest.raises(ValueError, match="rate only counters"):
        rate("inferwatch_requests_in_flight")
    with pytest.raises(KeyError, match="not recorded"):
        recorded("tenant:no_such:rate5m")


def test_configmaps_hold_the_provisioning_flavour_of_every_board():
    docs = list(yaml.safe_load_all((ROOT / CONFIGMAPS).read_text()))
    assert [d["metadata"]["name"] for d in docs] == [f"inferwatch-dashboard-{k}" for k in BOARDS]
    for key, doc in zip(BOARDS, docs, strict=True):
        assert doc["kind"] == "ConfigMap" and doc["metadata"]["labels"]["grafana_dashboard"] == "1"
        [(name, body)] = doc["data"].items()
        model = json.loads(body)
        assert name == filename(key) and model == provisioned(board(key))
        assert "__inputs" not in model and "${DS_PROMETHEUS}" not in body
        [ds] = [v for v in model["templating"]["list"] if v["type"] == "datasource"]
        assert "current" not in ds


def test_export_cli_writes_both_flavours(tmp_path, capsys):
    from agent.cli import main

    assert main(["grafana", "export", str(tmp_path / "import")]) == 0
    assert main(["grafana", "export", "--provisioning", str(tmp_path / "prov")]) == 0
    for key in BOARDS:
        imported = json.loads((tmp_path / "import" / filename(key)).read_text())
        prov = json.loads((tmp_path / "prov" / filename(key)).read_text())
        assert imported == boards()[key]
        assert prov == provisioned(imported)
    assert main(["grafana", "export", "--provisioning"]) == 2
    assert "--provisioning needs DIR" in capsys.readouterr().err


def test_export_cli_currency_sets_the_cost_unit(tmp_path):
    from agent.cli import main

    assert main(["grafana", "export", "--currency", "eur", str(tmp_path)]) == 0
    cost = json.loads((tmp_path / filename("cost")).read_text())
    units = {p["fieldConfig"]["defaults"]["unit"] for p in panels(cost)}
    assert "currencyEUR" in units and "currencyUSD" not in units


def test_export_cli_refuses_a_currency_that_is_not_a_code(tmp_path, capsys):
    from agent.cli import main

    assert main(["grafana", "export", "--currency", "EU<b>", str(tmp_path)]) == 2
    assert "not an ISO 4217 code" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_export_without_a_folder_outside_a_checkout_says_to_give_one(tmp_path, monkeypatch, capsys):
    from agent.cli import main

    monkeypatch.setattr(cli, "ROOT", tmp_path)  # an installed copy: no deploy/ beside it
    assert main(["grafana", "export"]) == 2
    assert main(["grafana", "export", "--check"]) == 2
    err = capsys.readouterr().err
    assert "not in a source checkout" in err and "Traceback" not in err


def test_export_to_a_folder_that_cannot_be_written_is_one_line(tmp_path, capsys):
    from agent.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["grafana", "export", str(blocker / "boards")]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"grafana export: cannot write {blocker / 'boards'}")
