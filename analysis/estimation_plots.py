"""Pictures of budgeted evaluation, drawn server-side by matplotlib (SVG or PNG).

Two figures: the forest plot of one estimate report (per run, the LLM-only mean, the
human-only and the prediction-powered interval side by side) and the simulator's
curves (error and interval width against budget, one line per method).
"""
from __future__ import annotations

import io
from typing import Any

ESTIMATE_STYLES = (
    ("llm_only", "LLM only (no interval: biased)", "#8c8c8c", "D"),
    ("human_only", "human only", "#1f77b4", "s"),
    ("ppi", "prediction-powered (PPI++)", "#d62728", "o"),
)
METHOD_COLOURS = {"random": "#7f7f7f", "uncertainty": "#1f77b4", "lara": "#d62728"}


def _figure(**kwargs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(**kwargs)


def _render(fig, fmt: str) -> str | bytes:
    import matplotlib.pyplot as plt

    buf: io.StringIO | io.BytesIO = io.StringIO() if fmt == "svg" else io.BytesIO()
    fig.savefig(buf, format=fmt, bbox_inches="tight", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def forest_plot(report: dict[str, Any], *, fmt: str = "svg") -> str | bytes:
    """One row per run (best PPI estimate on top), the three estimates offset vertically."""
    runs = report["runs"]
    fig, ax = _figure(figsize=(7.5, 0.9 + 0.75 * max(1, len(runs))))
    offsets = (0.22, 0.0, -0.22)
    for (key, label, colour, marker), offset in zip(ESTIMATE_STYLES, offsets):
        for i, row in enumerate(runs):
            y = len(runs) - 1 - i + offset
            if key == "llm_only":
                ax.plot(row[key], y, marker=marker, color=colour, ls="none", label=label if i == 0 else None)
                continue
            est = row[key]
            ax.errorbar(
                est["estimate"], y, xerr=[[est["estimate"] - est["ci_low"]], [est["ci_high"] - est["estimate"]]],
                fmt=marker, color=colour, capsize=3, label=label if i == 0 else None,
            )
    ax.set_yticks(range(len(runs)), [r["run"] for r in reversed(runs)])
    ax.set_ylim(-0.6, len(runs) - 0.4)
    ax.set_xlabel(f"{report['measure']} (mean over queries)")
    ax.set_title(f"{report['level']:.0%} intervals, {report['interval']}: LLM {report['llm']}, human {report['human']}",
                 fontsize=9)
    ax.grid(axis="x", color="#eee")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=8, frameon=False)
    return _render(fig, fmt)


def _dodge(results: list[dict[str, Any]]) -> dict[str, float]:
    """A small horizontal shift per method, so that error bars at one budget do not
    hide each other (a fraction of the smallest gap between budgets)."""
    budgets = sorted({r["budget"] for r in results})
    gaps = [b - a for a, b in zip(budgets, budgets[1:])] or [max(1, budgets[0] if budgets else 1)]
    methods = list(dict.fromkeys(r["method"] for r in results))
    step = min(gaps) * 0.06
    return {m: (i - (len(methods) - 1) / 2) * step for i, m in enumerate(methods)}


def _curve(ax, results: list[dict[str, Any]], metric: str, *, dashed: bool = False, label_suffix: str = "",
           dodge: dict[str, float] | None = None) -> bool:
    drawn = False
    for method in dict.fromkeys(r["method"] for r in results):
        rows = [r for r in results if r["method"] == method and r.get(metric)]
        if not rows:
            continue
        xs = [r["budget"] + (dodge or {}).get(method, 0.0) for r in rows]
        ax.errorbar(
            xs, [r[metric]["mean"] for r in rows], yerr=[r[metric]["std"] for r in rows],
            color=METHOD_COLOURS.get(method), marker="o", capsize=3, ls="--" if dashed else "-",
            label=f"{method}{label_suffix}",
        )
        drawn = True
    return drawn


def simulation_plot(report: dict[str, Any], *, fmt: str = "svg") -> str | bytes:
    """Left: the error of the resulting evaluation (RMSE of nDCG@10 where there are
    runs, else 1 − kappa against the oracle); right: the PPI intervals' half-width
    (``--unit query``) or the kappa. Bars are one standard deviation over repeats."""
    results = report["results"]
    fig, (left, right) = _figure(ncols=2, figsize=(10, 3.8))
    unit = "queries" if report["unit"] == "query" else "pairs"
    has_runs = any(r.get("rmse") for r in results)
    dodge = _dodge(results)
    if has_runs:
        _curve(left, results, "rmse", dodge=dodge)
        left.set_ylabel("RMSE of runs' nDCG@10 vs oracle")
    else:
        errors = [
            {**r, "error": {"mean": 1 - r["kappa"]["mean"], "std": r["kappa"]["std"]}} for r in results if r.get("kappa")
        ]
        _curve(left, errors, "error", dodge=dodge)
        left.set_ylabel("1 − kappa against the oracle")
    if report["unit"] == "query" and any(r.get("half_width") for r in results):
        _curve(right, results, "half_width", dodge=dodge)
        _curve(right, [r for r in results if r["method"] == "random"], "human_only_half_width", dashed=True,
               label_suffix=" (human only)", dodge=dodge)
        right.set_ylabel(f"{report['level']:.0%} interval half-width ({report['interval']})")
    else:
        _curve(right, results, "kappa", dodge=dodge)
        right.set_ylabel("kappa against the oracle")
    for ax in (left, right):
        ax.set_xlabel(f"budget ({unit} judged by people)")
        ax.grid(color="#eee")
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(fontsize=8, frameon=False)
    fig.suptitle(
        f"{report['collection']}: LLM {'+'.join(report['llm'])}, oracle {report['oracle']}, "
        f"{report['repeats']} repeats", fontsize=10,
    )
    return _render(fig, fmt)
