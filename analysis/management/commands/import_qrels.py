from django.core.management.base import BaseCommand

from analysis.importers import services
from analysis.management.importing import COMMON_HELP, add_common_arguments, common_options, run_import


class Command(BaseCommand):
    help = (
        "Import TREC qrels (qid Q0 docid grade) as the judgments of one assessor. Without --assessor "
        "they are the official NIST qrels (assessor 'official'); any other assessor is an LLM unless "
        "--kind says otherwise (import_bundle names LLM judges '<model>-graded' / '<model>-binary'). "
        "Every qid must be a query of the collection. " + COMMON_HELP
    )

    def add_arguments(self, parser):
        add_common_arguments(parser)
        parser.add_argument("--assessor", default="official", help="assessor name (default: official)")
        parser.add_argument("--scale", choices=["graded", "binary"], default="graded",
                            help="graded 0..3 (default) or binary 0/1")
        parser.add_argument("--kind", choices=["official", "llm", "human"], default=None,
                            help="assessor kind when the assessor is new (default: official for 'official', else llm)")
        parser.add_argument("--model", default="", help="LLM model id, e.g. llama3.2:latest")
        parser.add_argument(
            "--probabilities", metavar="FILE",
            help="LARA's CSV of the assessor's grade probabilities (topic_id,doc_id,annotation,prob_0,...,prob_k; "
                 "binary: prob_yes,prob_no) of pairs of this qrels file, stored with their judgments",
        )

    def handle(self, *args, **options):
        run_import(
            self, services.qrels_import, collection=options["collection"], assessor=options["assessor"],
            scale=options["scale"], assessor_kind=options["kind"], model=options["model"],
            probabilities_path=options["probabilities"], **common_options(options),
        )
