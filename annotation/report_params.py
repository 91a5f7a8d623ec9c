"""The parameters of an agreement report, parsed and bounded in one place.

The dashboard, its downloads, the API (``/api/agreement/``, ``/api/agreement/report/``)
and the ``agreement`` / ``export_agreement`` commands all read their parameters through
:func:`report_params_parse`, so that they accept the same values with the same limits
and refuse the same ones with the same messages (a 400 with field messages in the API,
a form error on the page, a ``CommandError`` in a command).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from django import forms

from analysis import agreement
from analysis import agreement_selectors as selectors
from analysis.models import Assessor, Collection, Task

# Bootstrap resamples over queries: each costs a pass over the pairs, and the page and
# the API compute on the request, so the bound keeps one report within seconds.
MAX_N_BOOT = 10_000
# numpy's generator takes any non-negative integer; a bound that every client's integer
# type holds keeps a seed written in one place valid in every other.
MAX_SEED = 2**31 - 1
# The default assessor set: the assessors that judged at least this share of the
# reference's pairs. A six-pair annotator would otherwise shrink the pairs every
# assessor judged (the set statistics) to six; the page offers to add the rest.
DEFAULT_COVERAGE = 0.9
TRUE = {"1", "on", "true", "yes"}
FALSE = {"", "0", "off", "false", "no"}


class AgreementParamsError(ValueError):
    """Parameters refused; ``errors`` maps each parameter to its messages."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = {k: list(v) for k, v in errors.items()}
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in self.errors.items()))


class AgreementParamsForm(forms.Form):
    """The one parser; every field is optional here (the callers say what they need)."""

    collection = forms.CharField(required=False, max_length=64)
    reference = forms.CharField(required=False, max_length=150)
    assessors = forms.CharField(required=False, help_text="comma-separated")
    binary = forms.CharField(required=False)
    n_boot = forms.IntegerField(required=False, min_value=0, max_value=MAX_N_BOOT)
    seed = forms.IntegerField(required=False, min_value=0, max_value=MAX_SEED)
    task = forms.ChoiceField(required=False, choices=[("", "any"), *Task.choices])
    model = forms.CharField(required=False, max_length=150)
    annotator = forms.CharField(required=False, max_length=150)

    def clean_binary(self) -> bool:
        value = str(self.cleaned_data.get("binary") or "").strip().lower()
        if value in TRUE:
            return True
        if value in FALSE:
            return False
        raise forms.ValidationError("binary must be one of 1, true, on, yes or 0, false, off, no.")


@dataclass
class ReportParams:
    """What a report is about; the same parameters give the same report."""

    collection: str
    reference: str | None = None
    assessors: list[str] = field(default_factory=list)
    binary: bool = False
    n_boot: int = agreement.DEFAULT_N_BOOT
    seed: int = agreement.DEFAULT_SEED
    task: str = ""
    model: str = ""
    annotator: str = ""

    def resolved(self) -> ReportParams:
        """Fill the defaults: reference = the official assessor; assessors = those that cover
        at least ``DEFAULT_COVERAGE`` of the reference's pairs (everyone without a reference)."""
        return self.resolved_with_coverage(coverage=False)[0]

    def resolved_with_coverage(self, *, coverage: bool = True) -> tuple[ReportParams, list[dict[str, Any]] | None]:
        """The resolved parameters and, when there is a reference, every other assessor's
        coverage of its pairs (``agreement_selectors.assessor_coverage``) with ``included``
        saying whether the report compares it. ``coverage=False`` reads the coverage only
        when the default set needs it."""
        if not Collection.objects.filter(name=self.collection).exists():
            raise selectors.AgreementInputError(f"unknown collection {self.collection!r}")
        judged = selectors.collection_assessors(collection=self.collection)
        reference = self.reference
        if reference is None and not self.assessors:
            official = [a["name"] for a in judged if a["kind"] == Assessor.OFFICIAL]
            reference = official[0] if official else None
        covered = None
        if reference and (coverage or not self.assessors):
            covered = selectors.assessor_coverage(collection=self.collection, reference=reference, judged=judged)
        if self.assessors:
            assessors = list(self.assessors)
        elif covered is not None:
            assessors = [a["name"] for a in covered if (a["coverage"] or 0) >= DEFAULT_COVERAGE]
        else:
            assessors = [a["name"] for a in judged if a["name"] != reference]
        if self.model:
            by_name = {a["name"]: a for a in judged}
            assessors = [
                a for a in assessors if self.model.lower() in (by_name.get(a, {}).get("model") or a).lower()
            ]
        if covered is not None:
            covered = [{**a, "included": a["name"] in assessors} for a in covered]
        return ReportParams(**{**asdict(self), "reference": reference, "assessors": assessors}), covered

    def involved(self) -> list[str]:
        return ([self.reference] if self.reference else []) + [a for a in self.assessors if a != self.reference]


def report_params_parse(query: Any, *, n_boot: int = agreement.DEFAULT_N_BOOT) -> ReportParams | None:
    """Report parameters from a query string (a QueryDict) or a plain dict of options;
    None without a collection. Raises :class:`AgreementParamsError` on a bad value.

    Keys: collection, reference, assessor (repeatable) or assessors (comma-separated),
    binary (1/on/true/yes), n_boot (0..10,000; default ``n_boot``), seed (0..2^31-1),
    task, model, annotator. Unknown keys (``format``, ``page``) are left to the caller.
    """
    data = {name: query.get(name) for name in AgreementParamsForm.base_fields}
    form = AgreementParamsForm(data={k: v for k, v in data.items() if v is not None})
    if not form.is_valid():
        raise AgreementParamsError(form.errors)
    cleaned = form.cleaned_data
    collection = (cleaned["collection"] or "").strip()
    if not collection:
        return None
    if hasattr(query, "getlist"):
        repeated = [a.strip() for a in query.getlist("assessor") if a.strip()]
    else:
        single = query.get("assessor")
        repeated = list(single) if isinstance(single, (list, tuple)) else [single] if single else []
    # Each repeated ?assessor= is a name as the form's fields take one (no NUL, at most 150).
    name_field = forms.CharField(max_length=150)
    refused = []
    for name in repeated:
        try:
            name_field.clean(name)
        except forms.ValidationError as exc:
            refused += exc.messages
    if refused:
        raise AgreementParamsError({"assessor": refused})
    assessors = repeated or [a.strip() for a in (cleaned["assessors"] or "").split(",") if a.strip()]
    return ReportParams(
        collection=collection,
        reference=cleaned["reference"] or None,
        assessors=assessors,
        binary=cleaned["binary"],
        n_boot=n_boot if cleaned["n_boot"] is None else cleaned["n_boot"],
        seed=agreement.DEFAULT_SEED if cleaned["seed"] is None else cleaned["seed"],
        task=cleaned["task"] or "",
        model=cleaned["model"] or "",
        annotator=cleaned["annotator"] or "",
    )
