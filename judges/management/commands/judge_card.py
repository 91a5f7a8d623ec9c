"""judge_card: how far one LLM assessor can be trusted (the judge card, as text or JSON)."""
from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from judges.card_selectors import JudgeCardError, judge_card


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


class Command(BaseCommand):
    help = (
        "The judge card of an LLM assessor: configuration, calls and tokens, agreement with each "
        "official or human assessor it shares pairs with (kappas, ordinal alpha, confusion matrix, "
        "per-grade precision and recall), calibration, self-consistency, effect on the runs, probes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--collection", help="needed when the assessor has labels in several collections")
        parser.add_argument("--assessor", required=True, help="the LLM assessor")
        parser.add_argument("--json", action="store_true", help="print the card as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            card = judge_card(assessor=options["assessor"], collection=options["collection"] or None)
        except JudgeCardError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(card, sort_keys=True) if options["json"] else self.summary(card))

    @staticmethod
    def summary(card: dict[str, Any]) -> str:
        c = card["configuration"]
        template = c["template"]
        lines = [
            f"judge card: {card['assessor']}" + (f" on {card['collection']}" if card["collection"] else ""),
            f"  model {c['model'] or '-'} ({c['scale']}), template "
            f"{(template['name'] + ' v' + str(template['version'])) if template['name'] else '-'}, parameters {json.dumps(c['parameters'])}",
            f"  endpoint host {', '.join(c['endpoint_hosts']) or '-'}; from {c['first'] or '-'} to {c['last'] or '-'}",
            f"  calls {c['calls']} ({c['cached']} cached), tokens {c['tokens']}, "
            f"{c['elapsed_seconds']:.1f} s, invalid {c['invalid']}, failed {c['failed']}",
        ]
        for r in card["references"]:
            lines += [
                "",
                f"against {r['reference']} ({r['reference_kind']}): {r['shared_pairs']} of {r['reference_pairs']} "
                f"pairs (coverage {_num(r['coverage'])})",
                f"  kappa {_num(r['kappa'])}  linear {_num(r['kappa_linear'])}  quadratic {_num(r['kappa_quadratic'])}"
                f"  alpha ordinal {_num(r['alpha_ordinal'])}  kappa >=2 split {_num(r['kappa_binary'])}",
                "  confusion matrix (rows: reference):",
                *("    " + " ".join(f"{v:>6}" for v in row) for row in r["confusion_matrix"]),
                "  grade  precision  recall  judge  reference",
                *(f"  {g['label']:>5}  {_num(g['precision']):>9}  {_num(g['recall']):>6}  "
                  f"{g['assessor_pairs']:>5}  {g['reference_pairs']:>9}" for g in r["per_grade"]),
            ]
            if r["calibration"]:
                lines.append(f"  calibration on {r['calibration']['n']} pairs: ECE {_num(r['calibration']['ece'])}, "
                             f"Brier {_num(r['calibration']['brier'])}")
            if r["evaluation_effect"]:
                lines.append(f"  Kendall's tau-b of {r['evaluation_effect']['n_runs']} runs: "
                             f"{_num(r['evaluation_effect']['kendall_tau_b'])}")
        if card["self_consistency"]:
            s = card["self_consistency"]
            lines += ["", f"self-consistency: {_num(s['split_share'])} of {s['pairs']} pairs had a split vote"]
        lines += ["", "probes: " + (", ".join(f"{p['probe']} {_num(p.get('flip_rate'))}" for p in card["probes"])
                                    or "not probed")]
        return "\n".join(lines)
