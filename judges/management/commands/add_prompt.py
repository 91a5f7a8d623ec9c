"""add_prompt NAME FILE --kind graded [--examples FILE]"""
from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from judges import services
from judges.models import PromptKind


class Command(BaseCommand):
    help = "Add a prompt template version from a file (UMBRELA files load as they are); same text = same version."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("file")
        parser.add_argument("--kind", required=True, choices=PromptKind.values)
        parser.add_argument("--examples", help="few-shot text for {examples}")

    def handle(self, *args, **options) -> None:
        try:
            template = services.template_add_from_file(
                name=options["name"], path=Path(options["file"]), kind=options["kind"],
                examples_path=Path(options["examples"]) if options["examples"] else None,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages))
        except OSError as exc:
            raise CommandError(str(exc))
        self.stdout.write(f"{template.name} v{template.version} ({template.kind}) {template.content_hash[:12]}")
