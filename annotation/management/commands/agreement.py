"""agreement: relevance agreement of two assessors, or among three or more, on one collection."""
from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from analysis.agreement import DEFAULT_N_BOOT, DEFAULT_SEED
from analysis.agreement_selectors import AgreementInputError
from annotation import reports
from annotation.report_params import AgreementParamsError, report_params_parse


class Command(BaseCommand):
    help = (
        "Agreement on the (query, passage) pairs the assessors share. Two assessors: "
        "--reference A --assessor B (confusion matrix rows are A; Cohen's kappa unweighted, "
        "linear, quadratic). Three or more: --assessors A,B,C (Fleiss' kappa, Krippendorff's "
        "alpha nominal and ordinal). 95%% intervals bootstrap queries."
    )

    def add_arguments(self, parser):
        parser.add_argument("--collection", required=True)
        parser.add_argument("--reference", help="reference assessor (rows of the confusion matrix)")
        parser.add_argument("--assessor", help="assessor compared with the reference")
        parser.add_argument("--assessors", help="comma-separated assessors for Fleiss / Krippendorff")
        parser.add_argument("--binary", action="store_true", help="compare on the grade >= 2 split")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--n-boot", type=int, default=DEFAULT_N_BOOT, help="bootstrap resamples (0: none)")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)

    def handle(self, *args, **options):
        # The same parser (and limits) as the dashboard and the API.
        try:
            params = report_params_parse({key: options[key] for key in ("collection", "binary", "n_boot", "seed")})
        except AgreementParamsError as exc:
            raise CommandError(str(exc)) from exc
        if params is None:
            raise CommandError("--collection is required")
        result: dict[str, Any]
        try:
            if options["assessors"]:
                if options["reference"] or options["assessor"]:
                    raise CommandError("give either --reference/--assessor or --assessors")
                names = [n.strip() for n in options["assessors"].split(",") if n.strip()]
                result = reports.set_report(
                    collection=params.collection, assessors=names, binary=params.binary, n_boot=params.n_boot,
                    seed=params.seed,
                )
                text = self.set_table(result)
            elif options["reference"] and options["assessor"]:
                result = reports.pair_report(
                    collection=params.collection, reference=options["reference"], assessor=options["assessor"],
                    binary=params.binary, n_boot=params.n_boot, seed=params.seed,
                )
                text = self.pair_table(result)
            else:
                raise CommandError("give --reference and --assessor, or --assessors A,B,C")
        except AgreementInputError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(result, sort_keys=True) if options["json"] else text)

    @staticmethod
    def _ci(result, key):
        ci = result.get(f"{key}_ci")
        return f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""

    def pair_table(self, r) -> str:
        labels = r["labels"]
        width = max(8, *(len(str(v)) + 2 for row in r["confusion_matrix"] for v in row))
        lines = [
            f"{r['collection']}: {r['reference']} (rows) vs {r['assessor']} (columns)"
            f"{' on the binary split (grade >= 2)' if r['binary'] else ''}",
            f"pairs: {r['n']}  queries: {r['n_queries']}",
            "",
            "ref\\" + "".join(f"{lab:>{width}}" for lab in labels) + f"{'accuracy':>{width + 2}}",
        ]
        for lab, row, acc in zip(labels, r["confusion_matrix"], r["per_grade_accuracy"]):
            acc_text = f"{acc:.4f}" if acc is not None else "-"
            lines.append(f"{lab:<4}" + "".join(f"{v:>{width}}" for v in row) + f"{acc_text:>{width + 2}}")
        lines.append("")
        for key, name in (("percent_agreement", "percent agreement"), ("kappa", "Cohen's kappa"),
                          ("kappa_linear", "linear kappa"), ("kappa_quadratic", "quadratic kappa")):
            value = r[key]
            lines.append(f"{name:<18} {value:.4f}  {self._ci(r, key)}" if value is not None else f"{name:<18} -")
        return "\n".join(lines)

    def set_table(self, r) -> str:
        lines = [
            f"{r['collection']}: {', '.join(r['assessors'])}{' (binary split)' if r['binary'] else ''}",
            f"pairs judged by all: {r['n']}  queries: {r['n_queries']}",
        ]
        for key, name in (("fleiss_kappa", "Fleiss' kappa"), ("alpha_nominal", "alpha nominal"),
                          ("alpha_ordinal", "alpha ordinal")):
            value = r[key]
            lines.append(f"{name:<15} {value:.4f}  {self._ci(r, key)}" if value is not None else f"{name:<15} -")
        return "\n".join(lines)
