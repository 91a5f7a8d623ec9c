"""Overlap of hard sets: intersections, Venn regions, and their picture.

Up to three sets are drawn as a Venn diagram (the paper's figures); more sets as an
UpSet-style matrix (one bar per non-empty exclusive region, dots naming its sets),
because Venn diagrams of four or more sets cannot show every region legibly.
"""
from __future__ import annotations

import io
from itertools import combinations
from typing import Any

from conventions.csv_cells import CsvWriter

MAX_SETS = 10  # 2**10 - 1 regions: beyond that the table is unreadable anyway


def overlap_regions(sets: dict[str, set[str]]) -> list[dict[str, Any]]:
    """Every combination of the named sets with its intersection and exclusive region.

    ``intersection``: queries in all sets of the combination; ``exclusive``: queries in
    exactly those sets (the Venn region). Rows are ordered by combination size, then
    by the order of ``sets``.
    """
    names = list(sets)
    if len(names) > MAX_SETS:
        raise ValueError(f"at most {MAX_SETS} sets can be overlapped")
    rows = []
    for size in range(1, len(names) + 1):
        for combo in combinations(names, size):
            inter = set.intersection(*(set(sets[n]) for n in combo))
            others = [sets[n] for n in names if n not in combo]
            exclusive = inter - set().union(*others) if others else set(inter)
            rows.append({
                "sets": list(combo),
                "intersection": sorted(inter),
                "exclusive": sorted(exclusive),
                "intersection_size": len(inter),
                "exclusive_size": len(exclusive),
            })
    return rows


def overlap_csv(sets: dict[str, set[str]]) -> str:
    """CSV: one row per combination (sets joined by ' & ', sizes, qids joined by spaces)."""
    buf = io.StringIO()
    w = CsvWriter(buf, lineterminator="\r\n")
    w.writerow(["sets", "intersection_size", "exclusive_size", "intersection", "exclusive"])
    for r in overlap_regions(sets):
        w.writerow([" & ".join(r["sets"]), r["intersection_size"], r["exclusive_size"],
                    " ".join(r["intersection"]), " ".join(r["exclusive"])])
    return buf.getvalue()


def overlap_svg(sets: dict[str, set[str]], title: str = "", fmt: str = "svg") -> str | bytes:
    """An SVG (or ``fmt="png"``) picture of the overlap: a Venn diagram for 1-3 sets, an UpSet matrix beyond."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    names = list(sets)
    if not names:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no hard sets yet", ha="center", va="center")
    elif len(names) <= 3:
        fig, ax = plt.subplots(figsize=(6.5, 5.5))
        ax.set_aspect("equal")
        ax.axis("off")
        layouts: dict[int, list[tuple[float, float]]] = {
            1: [(0.0, 0.0)], 2: [(-0.6, 0.0), (0.6, 0.0)], 3: [(-0.6, 0.45), (0.6, 0.45), (0.0, -0.55)],
        }
        centres = layouts[len(names)]
        colours = ["#1f77b4", "#d62728", "#2ca02c"]
        for (x, y), name, colour in zip(centres, names, colours):
            ax.add_patch(Circle((x, y), 1.0, alpha=0.25, color=colour, lw=2))
            ax.add_patch(Circle((x, y), 1.0, fill=False, edgecolor=colour, lw=2))
            lx, ly = x * 1.6, (y + 1.3 if y >= 0 else y - 1.3)
            ax.text(lx, ly, f"{name}\n({len(sets[name])})",
                    ha="center", va="center", fontsize=9, color=colour)
        for region in overlap_regions(sets):
            idx = [names.index(n) for n in region["sets"]]
            px = sum(centres[i][0] for i in idx) / len(idx)
            py = sum(centres[i][1] for i in idx) / len(idx)
            if len(idx) == 1 and len(names) > 1:
                # push a set's own region away from the others' centre
                cx = sum(c[0] for c in centres) / len(centres)
                cy = sum(c[1] for c in centres) / len(centres)
                px, py = px + (px - cx) * 0.6, py + (py - cy) * 0.6
            if len(idx) == 2 and len(names) == 3:
                third = [i for i in range(3) if i not in idx][0]
                px, py = px + (px - centres[third][0]) * 0.25, py + (py - centres[third][1]) * 0.25
            ax.text(px, py, str(region["exclusive_size"]), ha="center", va="center", fontsize=13, weight="bold")
        ax.set_xlim(-2.3, 2.3)
        ax.set_ylim(-2.3, 2.3)
    else:
        regions = [r for r in overlap_regions(sets) if r["exclusive_size"] > 0]
        regions.sort(key=lambda r: -r["exclusive_size"])
        n = max(len(regions), 1)
        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=(max(6, 0.45 * n + 3), 2.5 + 0.35 * len(names)), sharex=True,
            gridspec_kw={"height_ratios": [2, max(1, 0.25 * len(names))]},
        )
        xs = list(range(len(regions)))
        top.bar(xs, [r["exclusive_size"] for r in regions], color="#444")
        for x, r in zip(xs, regions):
            top.text(x, r["exclusive_size"], str(r["exclusive_size"]), ha="center", va="bottom", fontsize=8)
        top.set_ylabel("queries (exclusive)")
        top.spines[["top", "right"]].set_visible(False)
        for x, r in zip(xs, regions):
            members = [names.index(s) for s in r["sets"]]
            bottom.scatter([x] * len(names), range(len(names)), color="#ddd", s=40, zorder=1)
            bottom.scatter([x] * len(members), members, color="#222", s=40, zorder=2)
            if len(members) > 1:
                bottom.plot([x, x], [min(members), max(members)], color="#222", lw=1.5, zorder=1)
        bottom.set_yticks(range(len(names)))
        bottom.set_yticklabels([f"{nm} ({len(sets[nm])})" for nm in names], fontsize=8)
        bottom.set_xticks([])
        bottom.invert_yaxis()
        for side in ("top", "right", "bottom"):
            bottom.spines[side].set_visible(False)
    if title:
        fig.suptitle(title)
    return _render(fig, fmt)


def _render(fig, fmt: str) -> str | bytes:
    """The figure as SVG text or PNG bytes; the figure is closed either way."""
    import matplotlib.pyplot as plt

    buf: io.StringIO | io.BytesIO = io.StringIO() if fmt == "svg" else io.BytesIO()
    fig.savefig(buf, format=fmt, bbox_inches="tight", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def distribution_svg(values: dict[str, float], threshold: float | None, hard: set[str], label: str = "") -> str:
    """A strip of the per-query values sorted, hard ones in red, the threshold dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted(((v, q) for q, v in values.items() if v is not None and v == v), key=lambda t: t[0])
    fig, ax = plt.subplots(figsize=(7, 2.8))
    xs = list(range(len(items)))
    ax.bar(xs, [v for v, _ in items], color=["#d62728" if q in hard else "#9ab" for _, q in items])
    if threshold is not None:
        ax.axhline(threshold, color="#222", ls="--", lw=1)
        ax.text(len(items) - 0.5 if items else 0, threshold, f" threshold {threshold:.4f}", va="bottom", ha="right", fontsize=8)
    ax.set_xlabel("queries, sorted by value")
    ax.set_ylabel(label)
    ax.set_xticks([])
    ax.spines[["top", "right"]].set_visible(False)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
