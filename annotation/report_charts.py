"""Pictures of an agreement report: confusion heatmaps and the kappa chart, as PNG.

Drawn with matplotlib's Agg backend (no display); the same data gives the same bytes
(no "Software" metadata), so an HTML report's validator stays meaningful.
"""
from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from analysis import agreement


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    # No "Software" metadata: the same data gives the same bytes.
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def confusion_heatmap_png(pair: dict[str, Any], *, normalised: bool = False) -> bytes:
    """A heatmap of one pair's confusion matrix (counts, or each row divided by its total)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(pair["confusion_matrix"], dtype=float)
    shown = agreement.row_normalised(cm) if normalised else cm
    labels = [str(v) for v in pair["labels"]]
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalised else max(shown.max(), 1))
    for i in range(shown.shape[0]):
        for j in range(shown.shape[1]):
            text = f"{shown[i, j]:.2f}" if normalised else f"{int(cm[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if shown[i, j] > (0.6 if normalised else 0.6 * shown.max()) else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel(pair["assessor"])
    ax.set_ylabel(f"{pair['reference']} (reference)")
    ax.set_title("row-normalised" if normalised else "counts", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return _png(fig)


def kappa_chart_png(pairs: Sequence[dict[str, Any]]) -> bytes:
    """Cohen's kappa (unweighted, linear, quadratic) per assessor with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [p["assessor"] for p in pairs]
    keys = [("kappa", "unweighted"), ("kappa_linear", "linear"), ("kappa_quadratic", "quadratic")]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(names) + 2), 3.2))
    width = 0.8 / len(keys)
    x = np.arange(len(names))
    for i, (key, label) in enumerate(keys):
        values = np.array([p[key] if p[key] is not None else np.nan for p in pairs], dtype=float)
        ci = [p.get(f"{key}_ci") or [v, v] for p, v in zip(pairs, values)]
        err = np.array([[v - lo for v, (lo, _) in zip(values, ci)], [hi - v for v, (_, hi) in zip(values, ci)]])
        ax.bar(x + (i - 1) * width, values, width, yerr=np.nan_to_num(err), capsize=3, label=label)
    ax.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("Cohen's kappa (95% CI)")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=7)
    return _png(fig)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def report_images(report: dict[str, Any]) -> dict[str, Any]:
    """Base64 PNGs for the HTML report and the dashboard: heatmaps per pair, the kappa chart."""
    return {
        "heatmaps": [
            {
                "assessor": pair["assessor"],
                "counts": _data_uri(confusion_heatmap_png(pair)),
                "normalised": _data_uri(confusion_heatmap_png(pair, normalised=True)),
            }
            for pair in report["pairs"]
        ],
        "kappa_chart": _data_uri(kappa_chart_png(report["pairs"])) if report["pairs"] else None,
    }
