"""One PNG of how the central systems' load grows with the number of sidecars: a Plotly
figure (matplotlib and kaleido are not installed here) rendered by Debian's chromium
through Playwright (`save_png`, also used by bench/soak.py)."""

from __future__ import annotations

from pathlib import Path

from bench.scale_report import Step

# (attribute, label): each drawn as its ratio to the smallest fleet.
LINES = (
    ("series", "Prometheus series"),
    ("prom_rss", "Prometheus RSS"),
    ("scrape_s_avg", "scrape duration (mean)"),
    ("es_docs", "Elasticsearch documents (cumulative)"),
    ("es_store_bytes", "emulator store bytes (cumulative)"),
)
CHROMIUM = "/usr/bin/chromium"


def figure(steps: list[Step]):
    """Ratios to the first step against N, log-log, beside the linear reference."""
    import plotly.graph_objects as go

    n = [s.agents for s in steps]
    fig = go.Figure()
    fig.add_scatter(x=n, y=[x / n[0] for x in n], name="linear in N", line={"dash": "dash"})
    for attr, label in LINES:
        base = getattr(steps[0], attr) or 1
        fig.add_scatter(x=n, y=[getattr(s, attr) / base for s in steps], name=label)
    fig.update_xaxes(type="log", title="sidecars scraped and shipping (N)", tickvals=n)
    fig.update_yaxes(type="log", title=f"ratio to N = {n[0]}")
    fig.update_layout(
        title="Central load against fleet size (bench/scale_out.py)",
        width=900,
        height=540,
        template="plotly_white",
    )
    return fig


def plot(steps: list[Step], path: Path) -> None:
    """Write the figure as a PNG at `path`."""
    save_png(figure(steps), path, (920, 560))


def save_png(fig, path: Path, viewport: tuple[int, int]) -> None:
    """Render a Plotly figure to a PNG at `path` in chromium (a viewport a little larger
    than the figure's layout)."""
    from playwright.sync_api import sync_playwright

    html = fig.to_html(include_plotlyjs=True, full_html=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        page.set_content(html, wait_until="load")
        page.wait_for_selector(".main-svg")
        page.screenshot(path=str(path), full_page=False)
        browser.close()
