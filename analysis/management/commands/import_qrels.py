from django.core.management.base import BaseCommand, CommandError

from analysis.importers import services
from analysis.importers.errors import ImportFileError
from analysis.management.importing import COMMON_HELP, add_common_arguments, common_options, run_import


class Command(BaseCommand):
    help = (
        "Import TREC qrels (qid Q0 docid grade) as the judgments of one assessor. Without --assessor "
        "they are the official NIST qrels (assessor 'official'); any other assessor is an LLM unless "
        "--kind says otherwise (import_bundle names LLM judges '<model>-graded' / '<model>-binary'). "
        "Every qid must be a query of the collection. Several files with --assessor-from-filename are "
        "one assessor each, named after the file without its extension, imported in ONE transaction "
        "(a bad line in any file writes nothing of any file). " + COMMON_HELP
    )

    def add_arguments(self, parser):
        add_common_arguments(parser, several=True)
        parser.add_argument("--assessor", default=None, help="assessor name (default: official)")
        parser.add_argument(
            "--assessor-from-filename", action="store_true",
            help="each file is the assessor named after its file name without the extension "
                 "(willia-umbrela1.txt is willia-umbrela1); needed for several files",
        )
        parser.add_argument("--scale", choices=["graded", "binary"], default="graded",
                            help="graded 0..3 (default) or binary 0/1")
        parser.add_argument("--clamp", action="store_true",
                            help="move a grade outside the scale to its nearest end (a 5 becomes 3) and count it, "
                                 "instead of refusing the line")
        parser.add_argument("--kind", choices=["official", "llm", "human"], default=None,
                            help="assessor kind when the assessor is new (default: official for 'official', else llm)")
        parser.add_argument("--model", default="", help="LLM model id, e.g. llama3.2:latest")
        parser.add_argument(
            "--probabilities", metavar="FILE",
            help="LARA's CSV of the assessor's grade probabilities (topic_id,doc_id,annotation,prob_0,...,prob_k; "
                 "binary: prob_yes,prob_no) of pairs of this qrels file, stored with their judgments",
        )

    def handle(self, *args, **options):
        files = options["file"]
        if not options["assessor_from_filename"]:
            if len(files) > 1:
                raise CommandError(f"{len(files)} files given: name each file's assessor with --assessor-from-filename")
            run_import(
                self, services.qrels_import, collection=options["collection"],
                assessor=options["assessor"] or "official", scale=options["scale"], assessor_kind=options["kind"],
                model=options["model"], probabilities_path=options["probabilities"], clamp=options["clamp"],
                **{**common_options(options), "path": files[0]},
            )
            return
        if options["assessor"] is not None:
            raise CommandError("--assessor and --assessor-from-filename exclude each other")
        if options["probabilities"]:
            raise CommandError("--probabilities belongs to one qrels file: not with --assessor-from-filename")
        common = common_options(options)
        common.pop("path")
        try:
            reports = services.qrels_import_many(
                collection=options["collection"], paths=files, scale=options["scale"], assessor_kind=options["kind"],
                model=options["model"], clamp=options["clamp"], **common,
            )
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for report in reports:
            self.stdout.write(report.summary())
        clamped = sum(r.clamped for r in reports)
        self.stdout.write(
            f"{len(reports)} files, {len(reports)} assessors, {sum(r.rows for r in reports)} rows read"
            + (f", {clamped} grades clamped to the scale" if options["clamp"] else "")
        )
