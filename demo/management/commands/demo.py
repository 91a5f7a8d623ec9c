"""Load the demo: DL19 fixtures, demo accounts, and one pass through every app."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo import services
from demo.accounts import DEMO_COLLECTION, DemoAccount
from demo.services import DemoError


class Command(BaseCommand):
    help = (
        "Load the demo (real DL19 fixtures, demo accounts admin/alice/bob with PUBLIC demo "
        "passwords, hardness analyses, a campaign, an agreement report). Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="delete the demo collection and accounts first")
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="the URL to print at the end")

    def handle(self, *args, **options) -> None:
        fixtures = services.demo_fixtures_dir()
        if not (fixtures / DEMO_COLLECTION).is_dir():
            raise CommandError(f"demo fixtures missing: {fixtures / DEMO_COLLECTION}")
        if options["reset"]:
            services.demo_reset()
            self.stdout.write("Reset: demo collection and demo accounts deleted.")

        self._step("Importing the DL19 fixtures and their failure reasons")
        try:
            collection = services.demo_data_import(fixtures=fixtures, say=self.stdout.write)
        except DemoError as exc:
            raise CommandError(str(exc)) from exc

        self._step("Demo accounts")
        accounts = services.demo_accounts_ensure()
        for account, usable in accounts:
            if not usable:
                self.stderr.write(f"  user {account.username!r} exists and is not a demo account: left unchanged")

        for step in services.demo_steps(collection=collection, say=self.stdout.write):
            self._step(step.title)
            try:
                step.run()
            except Exception as exc:  # noqa: BLE001 - a failing step is reported, the demo goes on
                # The core of the demo (data and accounts) is in place, and a newcomer is
                # better served by a site with one missing analysis than by no site.
                self.stderr.write(self.style.WARNING(f"  skipped, it failed: {type(exc).__name__}: {exc}"))
        self._print_logins(url=options["url"], accounts=accounts)

    def _step(self, title: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"== {title}"))

    def _print_logins(self, *, url: str, accounts: list[tuple[DemoAccount, bool]]) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"HardQ demo ready at {url}"))
        self.stdout.write("DEMO CREDENTIALS (public, for this local demo only):")
        for account, usable in accounts:
            role = "admin" if account.is_admin else "annotator"
            note = "" if usable else "  (existing non-demo user: unchanged)"
            self.stdout.write(f"  {role:9s} {account.username:6s} / {account.password}{note}")
