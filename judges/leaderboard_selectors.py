"""Every judge of a collection side by side: one row per assessor against a reference.

The page (``/judges/leaderboard/``), ``manage.py judges_leaderboard`` and
``GET /api/judges/leaderboard/`` render :func:`leaderboard`. A row's figures are
``judges.card_selectors.agreement_figures`` (the statistics of ``analysis.agreement``
on the label arrays) plus Kendall's tau-b of the runs' ranking
(``agreement.evaluation_effect``) when the collection has runs.

The rows are cached (Django's cache) under a key made of the labels' state (every
assessor's ``LabelVersion``, renewed by the one write path ``analysis.judgments`` in the
transaction of each write: the version the packed label arrays of the agreement
report are checked against) and the runs' state, so the next request after a write
recomputes; calls and tokens are read fresh every time.
"""
from __future__ import annotations

import hashlib
import io
import json
from typing import Any

from django.core.cache import cache
from django.db.models import Exists, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from analysis import agreement
from analysis import agreement_selectors as labels
from analysis.models import Assessor, Collection, Judgment, LabelVersion, Run
from conventions.csv_cells import CsvWriter
from judges import probe_selectors
from judges.card_selectors import agreement_figures, assessor_usage

# As the agreement page's default set: rows below it are behind the toggle.
DEFAULT_COVERAGE = 0.9
DEFAULT_SORT = "-kappa"
# Columns a leaderboard may be sorted by (``sort=-kappa``: descending).
SORT_KEYS = (
    "assessor", "kind", "coverage", "kappa", "kappa_linear", "kappa_quadratic", "alpha_ordinal", "kappa_binary",
    "kendall_tau_b", "calls", "tokens",
)
FIGURES = ("kappa", "kappa_linear", "kappa_quadratic", "alpha_ordinal", "kappa_binary", "kendall_tau_b")
CSV_COLUMNS = (
    "rank", "assessor", "kind", "scale", "model", "coverage", "shared_pairs", "reference_pairs", *FIGURES,
    "calls", "tokens", "included",
)
CACHE_SECONDS = 24 * 3600
_CACHE_VERSION = 1


class LeaderboardError(ValueError):
    """Parameters refused; ``field`` names the one at fault, ``status`` the HTTP status."""

    def __init__(self, message: str, *, field: str, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


def sort_parse(value: str | None) -> str:
    """``sort`` as given (a column, ``-`` for descending), the default when empty."""
    value = (value or "").strip() or DEFAULT_SORT
    if value.lstrip("-") not in SORT_KEYS:
        raise LeaderboardError(f"sort must be one of {', '.join(SORT_KEYS)} (with a leading - for descending)",
                               field="sort")
    return value


def rows_sorted(rows: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    """The rows by ``sort``; rows without the figure come last either way, ties by name."""
    key = sort.lstrip("-")
    descending = sort.startswith("-")
    present = [r for r in rows if r.get(key) is not None]
    missing = [r for r in rows if r.get(key) is None]
    present.sort(key=lambda r: r["assessor"])
    present.sort(key=lambda r: r[key], reverse=descending)
    missing.sort(key=lambda r: r["assessor"])
    return present + missing


def collection_judges(*, collection: Collection) -> list[dict[str, Any]]:
    """The assessors with a judgment in the collection and their label version (one query).

    Why not ``agreement_selectors.collection_assessors``: that one counts every judgment
    (an aggregate over all of them, about a second for 33 label sets of 4,423 pairs on
    a busy machine); here one index probe per assessor (``EXISTS``) finds the same set.
    """
    version = Subquery(LabelVersion.objects.filter(assessor_id=OuterRef("pk")).values("version")[:1])
    rows = (
        Assessor.objects.filter(Exists(Judgment.objects.filter(assessor_id=OuterRef("pk"), query__collection=collection)))
        .annotate(label_version=Coalesce(version, Value(0)))
        .order_by("kind", "name")
        .values("id", "name", "kind", "scale", "model", "label_version")
    )
    return list(rows)


def _resolve(*, collection: str, reference: str | None) -> tuple[Collection, list[dict[str, Any]], str]:
    coll = Collection.objects.filter(name=collection).first()
    if coll is None:
        raise LeaderboardError(f"unknown collection {collection!r}", field="collection", status=404)
    judged = collection_judges(collection=coll)
    names = [a["name"] for a in judged]
    if reference:
        if reference not in names:
            known = Assessor.objects.filter(name=reference).exists()
            raise LeaderboardError(
                f"assessor {reference!r} has no labels in collection {collection!r}" if known
                else f"unknown assessor {reference!r}", field="reference", status=400 if known else 404,
            )
    else:
        official = [a["name"] for a in judged if a["kind"] == Assessor.OFFICIAL]
        if not official:
            raise LeaderboardError(
                f"collection {collection!r} has no official assessor: name the reference", field="reference"
            )
        reference = official[0]
    return coll, judged, reference


def _cache_key(*, coll: Collection, judged: list[dict[str, Any]], reference: str) -> tuple[str, bool]:
    """The cache key of the rows, and whether the collection has runs.

    The labels' state is each assessor's ``LabelVersion``, which the one write path of
    the judgments (``analysis.judgments``) renews in the transaction of every write, the
    same version the packed label arrays are checked against. The runs' state is each
    run with the file it came from (a re-import with ``--replace`` changes the file's
    fingerprint and time).
    """
    state = sorted((a["id"], a["label_version"]) for a in judged)
    runs = list(Run.objects.filter(collection=coll).order_by("id").values_list(
        "id", "source__sha256", "source__imported_at"
    ))
    payload = json.dumps([_CACHE_VERSION, coll.pk, reference, state, runs], sort_keys=True, default=str)
    return "judges-leaderboard:" + hashlib.sha256(payload.encode()).hexdigest(), bool(runs)


def _compute_rows(*, coll: Collection, judged: list[dict[str, Any]], reference: str) -> list[dict[str, Any]]:
    """Every other assessor's figures against ``reference`` (the expensive part)."""
    others = [a for a in judged if a["name"] != reference]
    source = labels.LabelSource(collection=coll.name, assessors=[reference, *(a["name"] for a in others)])
    runs = labels.runs(collection=coll.name)
    reference_qrels = labels.qrels(collection=coll.name, assessor=reference) if runs else {}
    rows = []
    for a in others:
        coverage = source.coverage(reference, a["name"])
        row: dict[str, Any] = {
            "assessor": a["name"], "kind": a["kind"], "scale": a["scale"], "model": a["model"] or "",
            **coverage, **{k: None for k in FIGURES}, "binary": None, "probes": {},
        }
        if coverage["shared_pairs"]:
            figures = agreement_figures(source.aligned([reference, a["name"]]))
            row.update(
                kappa=figures.pair.kappa, kappa_linear=figures.pair.kappa_linear,
                kappa_quadratic=figures.pair.kappa_quadratic, alpha_ordinal=figures.alpha_ordinal,
                kappa_binary=figures.kappa_binary, binary=figures.pair.binary,
            )
            if runs:
                effect = agreement.evaluation_effect(
                    runs, reference=reference_qrels, assessor=labels.qrels(collection=coll.name, assessor=a["name"])
                )
                row["kendall_tau_b"] = effect["kendall_tau_b"]
        rows.append(agreement.json_ready(row))
    return rows


def leaderboard(
    *, collection: str, reference: str | None = None, sort: str | None = None, use_cache: bool = True
) -> dict[str, Any]:
    """The leaderboard of ``collection`` against ``reference`` (default: its official assessor).

    Keys: collection, reference, sort, coverage_threshold, has_runs, rows (the assessors
    covering at least ``DEFAULT_COVERAGE`` of the reference's pairs, in ``sort`` order, each
    with its ``rank``), excluded (the others, same order), cached (whether the figures came
    from the cache). Each row: assessor, kind, scale, model, coverage, shared_pairs,
    reference_pairs, assessor_pairs, kappa, kappa_linear, kappa_quadratic, alpha_ordinal,
    kappa_binary, kendall_tau_b (None without runs), probes (flip rate per probe, empty
    until probed), calls, tokens, included. Raises :class:`LeaderboardError`.

    Queries on a warm cache: the collection (1), its assessors with their label versions
    (1), the runs' state (1), the usage (1), the probe results (1).
    """
    sort = sort_parse(sort)
    coll, judged, reference = _resolve(collection=collection, reference=reference)
    key, has_runs = _cache_key(coll=coll, judged=judged, reference=reference)
    rows = cache.get(key) if use_cache else None
    cached = rows is not None
    if rows is None:
        rows = _compute_rows(coll=coll, judged=judged, reference=reference)
        cache.set(key, rows, CACHE_SECONDS)
    usage = assessor_usage(assessor_ids=[a["id"] for a in judged], collection=coll)
    # probes are read beside the usage, outside the cached figures: a finished probe job
    # shows at once, whatever the labels' version (one query for every row)
    probes = probe_selectors.probe_summaries(assessor_ids=[a["id"] for a in judged])
    ids = {a["name"]: a["id"] for a in judged}
    out_rows = []
    for row in rows:
        used = usage.get(ids[row["assessor"]], {})
        out_rows.append({
            **row, "calls": used.get("calls", 0), "tokens": used.get("tokens", 0),
            "probes": probes.get(ids[row["assessor"]], {}),
            "included": (row["coverage"] or 0) >= DEFAULT_COVERAGE,
        })
    ordered = rows_sorted(out_rows, sort)
    included = [r for r in ordered if r["included"]]
    for rank, row in enumerate(included, start=1):
        row["rank"] = rank
    excluded = [{**r, "rank": None} for r in ordered if not r["included"]]
    return {
        "collection": coll.name,
        "reference": reference,
        "sort": sort,
        "coverage_threshold": DEFAULT_COVERAGE,
        "has_runs": has_runs,
        "rows": included,
        "excluded": excluded,
        "cached": cached,
        "assessors": [{"name": a["name"], "kind": a["kind"]} for a in judged],
    }


def probe_names(board: dict[str, Any]) -> list[str]:
    """The probes any row has a flip rate for (the extra columns), sorted."""
    return sorted({name for row in [*board["rows"], *board["excluded"]] for name in row.get("probes") or {}})


def flip_rate(row: dict[str, Any], probe: str) -> float | None:
    """A row's flip rate for one probe (a number, or a probe's result dict with ``flip_rate``)."""
    value = (row.get("probes") or {}).get(probe)
    return value.get("flip_rate") if isinstance(value, dict) else value


def leaderboard_csv(board: dict[str, Any], *, everything: bool = True) -> str:
    """The leaderboard as CSV (through ``conventions.csv_cells``): the included rows, then
    the others unless ``everything`` is False; a ``flip_rate_<probe>`` column per probe."""
    probes = probe_names(board)
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.writerow([*CSV_COLUMNS, *(f"flip_rate_{p}" for p in probes)])
    for row in [*board["rows"], *(board["excluded"] if everything else [])]:
        writer.writerow([*(row.get(c) for c in CSV_COLUMNS), *(flip_rate(row, p) for p in probes)])
    return out.getvalue()
