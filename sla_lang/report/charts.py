"""The report's charts as SVG, drawn by matplotlib (`pip install 'sla-lang[report]'`).

- funnel: entries per funnel stage, each bar labelled with its conversion to the next;
- trend: SLA compliance per deadline over the trend periods, with a compliance KPI's target
  drawn where the policy has one (`rate mql.respond met` … `target >= 95%`);
- touch_<clause>: the time-to-first-touch histogram with the deadline (SLA) and the internal
  target (SLO) marked.

Deterministic bytes: matplotlib's SVG ids are salted with a fixed `svg.hashsalt`, no date or
creator goes into the metadata, and text is drawn as paths (`svg.fonttype = "path"`) in Noto
Sans CJK JP (Japanese and Latin in one design), so the SVG looks the same in every browser and
in Typst without fonts of its own. matplotlib is imported here only.
"""

from __future__ import annotations

import io
from typing import Any

from ..agreement.catalogue import Catalogue

INK = "#1a1a1a"
MUTED = "#666666"
ACCENT = "#23395d"
SERIES = ("#23395d", "#c0392b", "#2e86ab", "#e67e22", "#27ae60", "#8e44ad", "#7f8c8d")
PREFERRED_FAMILIES = ("Noto Sans CJK JP", "IPAexGothic", "DejaVu Sans")


def draw_charts(doc: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    """name → SVG text; or no charts and why (matplotlib is not installed)."""
    try:
        import matplotlib
    except ImportError:
        return {}, "charts left out: matplotlib is not installed (pip install 'sla-lang[report]')"
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    t = Catalogue(doc["language"], "report")
    with plt.rc_context(_style()):
        charts = {"funnel": _funnel(plt, doc, t), "trend": _trend(plt, doc, t)}
        for touch in doc["time_to_first_touch"]:
            charts["touch_" + touch["clause"].replace(".", "_")] = _touch(plt, touch, t)
    return charts, None


def _style() -> dict[str, Any]:
    from matplotlib import font_manager

    family = _family(font_manager)
    return {
        "svg.hashsalt": "sla-report",
        "svg.fonttype": "path",
        "font.family": "sans-serif",
        "font.sans-serif": [family, "DejaVu Sans"] if family else ["DejaVu Sans"],
        "font.size": 8.5,
        "axes.edgecolor": MUTED,
        "axes.labelcolor": INK,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "xtick.color": MUTED,
        "ytick.color": MUTED,
        "figure.dpi": 72,
        "path.simplify": False,
    }


def _family(font_manager) -> str | None:
    """The first preferred family installed; font files fontconfig knows are added first (the
    Noto CJK collection is not always in matplotlib's own font cache)."""
    from ..agreement.pdf import japanese_fonts

    names = {f.name for f in font_manager.fontManager.ttflist}
    if PREFERRED_FAMILIES[0] in names:
        return PREFERRED_FAMILIES[0]
    wanted = ("NotoSansCJK-Regular", "NotoSansCJKjp-Regular", "ipaexg")
    for path in japanese_fonts() or []:
        if not any(w in path for w in wanted):
            continue
        try:
            font_manager.fontManager.addfont(path)
        except (OSError, RuntimeError, ValueError):
            continue
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((f for f in PREFERRED_FAMILIES if f in names), None)


def _svg(plt, figure) -> str:
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(figure)
    text = out.getvalue()
    return text[text.index("<svg"):]  # the XML prolog and doctype would be invalid inside HTML


def _funnel(plt, doc: dict[str, Any], t: Catalogue) -> str:
    stages = doc["funnel"]
    figure, axes = plt.subplots(figsize=(7.0, 0.45 * max(len(stages), 2) + 0.6))
    labels = [s["stage_label"] for s in stages][::-1]
    values = [s["entered"] for s in stages][::-1]
    bars = axes.barh(range(len(values)), values, color=ACCENT, height=0.6)
    axes.set_yticks(range(len(values)), labels)
    top = max(values, default=0) or 1
    axes.set_xlim(0, top * 1.35)
    for bar, stage in zip(bars, stages[::-1], strict=True):
        text = f"{stage['entered']:,}"
        if stage["rate"] is not None:
            text += f"  → {stage['rate'] * 100:.1f}%"
        axes.text(bar.get_width() + top * 0.01, bar.get_y() + bar.get_height() / 2, text, va="center",
                  color=INK, fontsize=8)
    axes.set_xlabel(t("chart.leads"))
    axes.set_title(t("chart.funnel", period=doc["period"]["label"]), loc="left", color=INK)
    return _svg(plt, figure)


def _trend(plt, doc: dict[str, Any], t: Catalogue) -> str:
    periods = doc["trend_periods"]
    figure, axes = plt.subplots(figsize=(7.0, 3.0))
    targets = _compliance_targets(doc)
    for i, row in enumerate(doc["compliance"]):
        points = [(x, p["sla_rate"] * 100) for x, p in enumerate(row["trend"]) if p["sla_rate"] is not None]
        if not points:
            continue
        color = SERIES[i % len(SERIES)]
        axes.plot([x for x, _ in points], [y for _, y in points], marker="o", markersize=3.5, linewidth=1.5,
                  color=color, label=row["clause"])
        target = targets.get(row["clause"])
        if target is not None:
            axes.axhline(target * 100, color=color, linewidth=0.9, linestyle="--")
    axes.set_xticks(range(len(periods)), periods, rotation=45 if len(periods) > 6 else 0, ha="right"
                    if len(periods) > 6 else "center")
    axes.set_xlim(-0.5, max(len(periods) - 0.5, 0.5))
    axes.set_ylim(0, 105)
    axes.yaxis.set_major_formatter(lambda v, _: f"{v:.0f}%")
    axes.grid(axis="y", color="#e0e0e0", linewidth=0.6)
    axes.set_title(t("chart.trend"), loc="left", color=INK)
    if axes.lines:
        axes.legend(loc="lower left", fontsize=7.5, frameon=False, ncol=3)
    return _svg(plt, figure)


def _compliance_targets(doc: dict[str, Any]) -> dict[str, float]:
    """clause → the target of a KPI that measures that deadline's compliance (`rate S.respond met`)."""
    out = {}
    for kpi in doc["kpis"]:
        measure = kpi["measure"]
        target = kpi["target"]
        if not target or not measure.startswith("rate ") or not measure.split(" per ")[0].endswith(" met"):
            continue
        clause = measure.split()[1]
        try:
            out[clause] = float(target.split()[-1].rstrip("%")) / 100
        except ValueError:
            continue
    return out


def _touch(plt, touch: dict[str, Any], t: Catalogue) -> str:
    hours = 60.0
    bins = touch["histogram"]
    figure, axes = plt.subplots(figsize=(7.0, 2.8))
    width = (bins[0]["to_minutes"] or 60) / hours
    lefts = [b["from_minutes"] / hours for b in bins]
    counts = [b["count"] for b in bins]
    axes.bar(lefts, counts, width=width * 0.92, align="edge", color=ACCENT)
    within = touch["within_minutes"]
    if within:
        axes.axvline(within / hours, color="#c0392b", linewidth=1.6)
        axes.text(within / hours, max(counts, default=0) or 1, " " + t("chart.deadline", within=touch["within"]),
                  color="#c0392b", va="top", fontsize=8)
    if touch["target_minutes"]:
        axes.axvline(touch["target_minutes"] / hours, color="#e67e22", linewidth=1.2, linestyle="--")
        axes.text(touch["target_minutes"] / hours, (max(counts, default=0) or 1) * 0.85,
                  " " + t("chart.target", target=f"{touch['target_minutes'] / hours:g}h"), color="#e67e22",
                  va="top", fontsize=8)
    last = bins[-1]["from_minutes"] / hours
    ticks = [b["from_minutes"] / hours for b in bins[::2]] + [last]
    axes.set_xticks(ticks, [f"{x:g}" for x in ticks[:-1]] + [f"{last:g}+"])
    axes.set_xlabel(t("chart.touch_axis", unit=t("text.touch_unit" if touch["business"] else "text.touch_elapsed")))
    axes.set_ylabel(t("chart.leads"))
    axes.set_title(t("chart.touch", stage=touch["stage_label"]), loc="left", color=INK)
    return _svg(plt, figure)
