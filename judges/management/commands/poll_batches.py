"""poll_batches [--every SECONDS]: what celery beat's poll_llm_batches does, by hand."""
from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from judges import selectors
from judges.tasks import poll_llm_batches


class Command(BaseCommand):
    help = ("Poll the open batches of every running batch-mode LLM job once (read their answers, send what is "
            "left); with --every, again until no batch-mode job is running.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--every", type=float, help="seconds between polls, until no batch-mode job runs")

    def handle(self, *args, **options) -> None:
        every = options["every"]
        if every is not None and every <= 0:
            raise CommandError("--every must be a positive number of seconds")
        while True:
            # Without a broker the steps run here; with one, the workers take them.
            polled = poll_llm_batches()
            self.stdout.write(f"polled {len(polled['jobs'])} batch-mode job(s)")
            if every is None or not selectors.batch_jobs_running():
                return
            time.sleep(every)
