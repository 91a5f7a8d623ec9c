"""Load the demo: DL19 fixtures, demo accounts, and every analysis step that is installed."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis import demo
from analysis.models import Collection


class Command(BaseCommand):
    help = (
        "Load the demo (real DL19 fixtures, demo accounts admin/alice/bob with PUBLIC demo "
        "passwords, hardness analyses, a campaign, an agreement report). Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="delete the demo collection and accounts first")
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="the URL to print at the end")

    def handle(self, *args, **options) -> None:
        fixtures = demo.demo_fixtures_dir()
        if not (fixtures / demo.DEMO_COLLECTION).is_dir():
            raise CommandError(f"demo fixtures missing: {fixtures / demo.DEMO_COLLECTION}")
        installed = get_commands()
        for needed in ("import_bundle", "import_reasons"):
            if needed not in installed:
                raise CommandError(f"the demo needs the `{needed}` command, which is not installed")

        if options["reset"]:
            demo.demo_reset()
            self.stdout.write("Reset: demo collection and demo accounts deleted.")

        self._step("Importing the DL19 fixtures")
        call_command("import_bundle", str(fixtures / demo.DEMO_COLLECTION), collection=demo.DEMO_COLLECTION,
                     stdout=self.stdout, stderr=self.stderr)
        for path, task, assessor in demo.demo_reasons_files(fixtures=fixtures):
            self._step(f"Importing {task} reasons of {assessor}")
            call_command("import_reasons", str(path), task=task, assessor=assessor,
                         stdout=self.stdout, stderr=self.stderr)

        self._step("Demo accounts")
        accounts = demo.demo_accounts_ensure()
        for account, usable in accounts:
            if not usable:
                self.stderr.write(f"  user {account.username!r} exists and is not a demo account: left unchanged")

        collection = Collection.objects.get(name=demo.DEMO_COLLECTION)
        self._optional_steps(collection=collection, installed=set(installed))
        self._print_logins(url=options["url"], accounts=accounts)

    # --- steps of other parts of HardQ, run when their commands are installed -------
    # Arguments are passed as on the command line: these commands use sub-commands and
    # option aliases, which call_command's keyword form does not always map.
    def _optional_steps(self, *, collection: Collection, installed: set[str]) -> None:
        name = collection.name
        if "hardness" in installed:
            for system in demo.demo_h2r_subjects(collection=collection):
                if not demo.demo_has_analysis(collection=collection, task="h2r", subject=system):
                    self._try(f"H2R hardness of {system}", lambda s=system: call_command(
                        "hardness", "h2r", "--collection", name, "--system", s, stdout=self.stdout))
            for judge, scale in demo.demo_h2j_subjects(collection=collection):
                if not demo.demo_has_analysis(collection=collection, task="h2j", subject=judge):
                    self._try(f"H2J hardness of {judge} ({scale})", lambda j=judge, m=scale: call_command(
                        "hardness", "h2j", "--collection", name, "--assessor", j, "--mode", m, stdout=self.stdout))
            for generator in demo.demo_h2g_subjects(collection=collection):
                if not demo.demo_has_analysis(collection=collection, task="h2g", subject=generator):
                    self._try(f"H2G hardness of {generator} (imported BERTScore)", lambda g=generator: call_command(
                        "hardness", "h2g", "--collection", name, "--generator", g, "--source", "imported",
                        stdout=self.stdout))
        else:
            self._waiting("hardness")

        if "create_campaign" in installed:
            if not demo.demo_has_campaign(collection=collection):
                self._try("Campaign for the demo annotators", lambda: call_command(
                    "create_campaign", "--collection", name, "--kind", "reasons", "--task", "h2r",
                    "--annotators", ",".join(demo.DEMO_ANNOTATORS), "--overlap", str(len(demo.DEMO_ANNOTATORS)),
                    stdout=self.stdout))
        else:
            self._waiting("create_campaign")

        if "export_agreement" in installed:
            report = Path(settings.MEDIA_ROOT) / "reports" / f"agreement-{name}.html"
            report.parent.mkdir(parents=True, exist_ok=True)
            self._try(f"Agreement report -> {report}", lambda: call_command(
                "export_agreement", "--collection", name, "--format", "html", "--output", str(report),
                stdout=self.stdout))
        else:
            self._waiting("export_agreement")

    def _try(self, title: str, step: Callable[[], object]) -> None:
        """Run one optional step; a failing one is reported and the demo goes on.

        The core of the demo (data and accounts) is already in place, and a newcomer is
        better served by a site with one missing analysis than by no site.
        """
        self._step(title)
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - any failure of a plug-in step is reported, not fatal
            self.stderr.write(self.style.WARNING(f"  skipped, it failed: {type(exc).__name__}: {exc}"))

    def _step(self, title: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"== {title}"))

    def _waiting(self, command: str) -> None:
        self.stdout.write(f"   (`{command}` is not installed yet: that part of the demo is skipped)")

    def _print_logins(self, *, url: str, accounts) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"HardQ demo ready at {url}"))
        self.stdout.write("DEMO CREDENTIALS (public, for this local demo only):")
        for account, usable in accounts:
            role = "admin" if account.is_admin else "annotator"
            note = "" if usable else "  (existing non-demo user: unchanged)"
            self.stdout.write(f"  {role:9s} {account.username:6s} / {account.password}{note}")
