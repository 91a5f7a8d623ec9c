"""Overlap of hard sets: intersections, Venn regions, and their picture.

Two or three sets are drawn as an area-proportional Venn diagram (matplotlib-venn, the
paper's figures); one set or more than three as an UpSet-style matrix (one bar per
non-empty exclusive region, dots naming its sets), because Venn diagrams of four or
more sets cannot show every region legibly. Set names come from users (system and
judge names): every text reaches matplotlib with ``parse_math=False``, so ``$...$``
is printed, never read as mathtext.
"""
from __future__ import annotations

import io
from itertools import combinations
from typing import Any

from conventions.csv_cells import CsvWriter

MAX_SETS = 10  # 2**10 - 1 regions: beyond that the table is unreadable anyway


def too_many_message(n: int) -> str | None:
    """Why ``n`` sets cannot be overlapped, or None when they can."""
    if n <= MAX_SETS:
        return None
    return f"{n} hard sets are chosen; at most {MAX_SETS} can be overlapped: choose fewer sets."


def nonempty_regions(sets: dict[str, set[str]]) -> list[dict[str, Any]]:
    """The exclusive (Venn) regions that hold at least one query, largest first."""
    regions = [r for r in overlap_regions(sets) if r["exclusive_size"] > 0]
    return sorted(regions, key=lambda r: (-r["exclusive_size"], len(r["sets"])))


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
    """An SVG (or ``fmt="png"``) picture of the overlap: an area-proportional Venn diagram
    for 2-3 sets, an UpSet matrix for 1 or 4+, a message when there are too many."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(sets)
    message = too_many_message(len(names))
    if not names or message or not any(sets.values()):
        fig, ax = plt.subplots(figsize=(6, 1))
        ax.axis("off")
        text = message or ("no hard sets chosen" if not names else "the chosen sets hold no hard query")
        ax.text(0.5, 0.5, text, ha="center", va="center", parse_math=False)
    elif len(names) in (2, 3):
        fig = _venn(sets)
    else:
        fig = _upset(sets)
    if title:
        fig.suptitle(title, parse_math=False)
    return _render(fig, fmt)


def _venn(sets: dict[str, set[str]]):
    """matplotlib-venn's area-proportional diagram; each region labelled with its size."""
    import matplotlib.pyplot as plt
    from matplotlib_venn import venn2, venn3

    names = list(sets)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    sizes = {tuple(r["sets"]): r["exclusive_size"] for r in overlap_regions(sets)}
    # matplotlib-venn's region ids: one bit per set, "100" = only in the first
    ids = [format(i, f"0{len(names)}b") for i in range(1, 2 ** len(names))]
    ids.sort(key=lambda b: int(b[::-1], 2))  # the order venn2/venn3 take their subsets in
    subsets = [sizes[tuple(n for n, bit in zip(names, b) if bit == "1")] for b in ids]
    labels = [f"{n} ({len(sets[n])})" for n in names]
    draw = venn2 if len(names) == 2 else venn3
    diagram = draw(subsets=subsets, set_labels=labels, ax=ax)
    for text in list(diagram.set_labels or []) + list(diagram.subset_labels or []):
        if text is not None:
            text.set_parse_math(False)
            text.set_fontsize(10)
    for region_id, size in zip(ids, subsets):
        label = diagram.get_label_by_id(region_id)
        if label is not None and size == 0:
            label.set_text("")  # only the regions that hold queries are numbered
    return fig


def _upset(sets: dict[str, set[str]]):
    """One bar per non-empty exclusive region; the dots below name its sets."""
    import matplotlib.pyplot as plt

    names = list(sets)
    regions = nonempty_regions(sets)
    n = max(len(regions), 1)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(max(6, 0.45 * n + 3), 2.5 + 0.35 * len(names)), sharex=True,
        gridspec_kw={"height_ratios": [2, max(1, 0.25 * len(names))]},
    )
    xs = list(range(len(regions)))
    top.bar(xs, [r["exclusive_size"] for r in regions], color="#444")
    for x, r in zip(xs, regions):
        top.text(x, r["exclusive_size"], str(r["exclusive_size"]), ha="center", va="bottom", fontsize=8)
    from matplotlib.ticker import MaxNLocator

    top.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of queries
    top.set_ylabel("queries (exclusive)")
    top.spines[["top", "right"]].set_visible(False)
    for x, r in zip(xs, regions):
        members = [names.index(s) for s in r["sets"]]
        bottom.scatter([x] * len(names), range(len(names)), color="#ddd", s=40, zorder=1)
        bottom.scatter([x] * len(members), members, color="#222", s=40, zorder=2)
        if len(members) > 1:
            bottom.plot([x, x], [min(members), max(members)], color="#222", lw=1.5, zorder=1)
    bottom.set_yticks(range(len(names)))
    bottom.set_yticklabels([f"{nm} ({len(sets[nm])})" for nm in names], fontsize=8, parse_math=False)
    bottom.set_xticks([])
    bottom.invert_yaxis()
    for side in ("top", "right", "bottom"):
        bottom.spines[side].set_visible(False)
    return fig


def _render(fig, fmt: str) -> str | bytes:
    """The figure as SVG text or PNG bytes; the figure is closed either way."""
    import matplotlib.pyplot as plt

    buf: io.StringIO | io.BytesIO = io.StringIO() if fmt == "svg" else io.BytesIO()
    fig.savefig(buf, format=fmt, bbox_inches="tight", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _readable(value: float) -> str:
    """A threshold as the pages write it: counts as integers, other values to 4 decimals."""
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}"


def distribution_svg(values: dict[str, float], threshold: float | None, hard: set[str], label: str = "") -> str:
    """A strip of the per-query values sorted, hard ones in red, the threshold dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted(((v, q) for q, v in values.items() if v is not None and v == v), key=lambda t: t[0])
    fig, ax = plt.subplots(figsize=(7, 2.8))
    xs = list(range(len(items)))
    colours = ["#d62728" if q in hard else "#9ab" for _, q in items]
    ax.bar(xs, [v for v, _ in items], color=colours)
    # a bar of height 0 draws nothing: a marker on top of every bar keeps the zeros visible
    ax.scatter(xs, [v for v, _ in items], color=colours, s=14, zorder=3, clip_on=False)
    top = max([v for v, _ in items] + [threshold or 0, 0]) or 1.0
    ax.set_ylim(min([v for v, _ in items] + [0]) - 0.03 * top, top * 1.08)
    if threshold is not None:
        ax.axhline(threshold, color="#222", ls="--", lw=1)
        ax.text(len(items) - 0.5 if items else 0, threshold, f" threshold {_readable(threshold)}", va="bottom", ha="right",
                fontsize=8, parse_math=False)
    ax.set_xlabel("queries, sorted by value")
    ax.set_ylabel(label, parse_math=False)
    ax.set_xticks([])
    ax.spines[["top", "right"]].set_visible(False)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
