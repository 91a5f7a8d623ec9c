"""The demo's writes: fixtures, demo accounts, then one pass through every app's services.

Only ``manage.py demo`` calls this. The demo accounts are created here and nowhere
else; their passwords are public (printed, in the README) and they exist for a local
demo only. A user of the same name that the demo did not create is never touched, so
running the demo against a real database cannot take over a real account.

The steps call each app's services directly (importers, hardness, campaigns, agreement
reports): this package sits above every app, so it may.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from analysis import hardness_services
from analysis.importers import bundle
from analysis.importers import services as import_services
from analysis.importers.errors import ImportFileError
from analysis.models import Collection, HardnessAnalysis
from annotation import reports
from annotation.report_params import ReportParams
from annotation import services as annotation_services
from demo import selectors
from demo.accounts import DEMO_ACCOUNTS, DEMO_COLLECTION, DEMO_MARK, DemoAccount

REASONS_FILE = re.compile(r"^original\.reasons\.(?P<model>.+)\.(?P<task>h2r|h2g|h2j)\.all\.txt$")


def demo_fixtures_dir() -> Path:
    """The fixtures shipped with the code (not the shared paper data: the demo stands alone)."""
    return Path(settings.BASE_DIR) / "fixtures"


def demo_reasons_files(*, fixtures: Path) -> list[tuple[Path, str, str]]:
    """(file, task, assessor) of every reasons file in ``fixtures/reasons``.

    The assessor is the model named in the file name (``qwen3_8b``), as the pipeline
    names its files ``original.reasons.<model>.<task>.all.txt``.
    """
    found = []
    for path in sorted((fixtures / "reasons").glob("*.txt")):
        match = REASONS_FILE.match(path.name)
        if match:
            found.append((path, match["task"], match["model"]))
    return found


@transaction.atomic
def demo_reset(*, collection_name: str = DEMO_COLLECTION) -> None:
    """Delete the demo collection (with everything hanging off it) and the demo's own accounts."""
    Collection.objects.filter(name=collection_name).delete()
    get_user_model().objects.filter(
        username__in=[a.username for a in DEMO_ACCOUNTS], last_name=DEMO_MARK
    ).delete()


@transaction.atomic
def demo_accounts_ensure() -> list[tuple[DemoAccount, bool]]:
    """Create the demo accounts, or reset their passwords to the published ones.

    Returns each account with whether it is usable: False when a user of that name
    exists and is not a demo account (it is then left alone).
    """
    User = get_user_model()
    result = []
    for account in DEMO_ACCOUNTS:
        user, created = User.objects.get_or_create(
            username=account.username,
            defaults={"last_name": DEMO_MARK, "email": f"{account.username}@demo.invalid"},
        )
        if not created and user.last_name != DEMO_MARK:
            result.append((account, False))
            continue
        user.set_password(account.password)
        user.is_staff = account.is_admin
        user.is_superuser = account.is_admin
        user.is_active = True
        user.save(update_fields=["password", "is_staff", "is_superuser", "is_active"])
        result.append((account, True))
    return result


# --- the optional steps: each app's part of the demo ---------------------------------------
Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoStep:
    """One step of the demo after the data and accounts: a title and what it does."""

    title: str
    run: Callable[[], object]


class DemoError(Exception):
    """The demo's core (fixtures, accounts) cannot be set up; the message says why."""


def demo_data_import(*, fixtures: Path, say: Say) -> Collection:
    """The DL19 bundle and the reasons files, through the importers (idempotent: an
    unchanged file is reported ``unchanged`` and writes nothing); the demo collection."""
    try:
        plan = bundle.bundle_plan(directory=fixtures / DEMO_COLLECTION, collection=DEMO_COLLECTION)
        for line in plan.lines():
            say(line)
        bundle.bundle_import(plan=plan, on_report=lambda r: say(r.summary()))
        for path, task, assessor in demo_reasons_files(fixtures=fixtures):
            say(import_services.reasons_import(task=task, assessor=assessor, path=path).summary())
    except (FileNotFoundError, ImportFileError) as exc:
        raise DemoError(f"the demo fixtures cannot be imported: {exc}") from exc
    return Collection.objects.get(name=DEMO_COLLECTION)


def demo_steps(*, collection: Collection, say: Say) -> list[DemoStep]:
    """The steps still to do on ``collection``: hardness of every run, judge and generator,
    a reasons campaign for the demo annotators, and the HTML agreement report.

    A step already done by an earlier run (an analysis or campaign that exists) is left
    out, so that a second demo adds nothing.
    """
    steps: list[DemoStep] = []
    for system in selectors.demo_h2r_subjects(collection=collection):
        if not selectors.demo_has_analysis(collection=collection, task="h2r", subject=system):
            steps.append(DemoStep(f"H2R hardness of {system}", partial(
                demo_h2r_run, collection=collection, system=system, say=say)))
    for judge, scale in selectors.demo_h2j_subjects(collection=collection):
        if not selectors.demo_has_analysis(collection=collection, task="h2j", subject=judge):
            steps.append(DemoStep(f"H2J hardness of {judge} ({scale})", partial(
                demo_h2j_run, collection=collection, judge=judge, scale=scale, say=say)))
    for generator in selectors.demo_h2g_subjects(collection=collection):
        if not selectors.demo_has_analysis(collection=collection, task="h2g", subject=generator):
            steps.append(DemoStep(f"H2G hardness of {generator} (imported BERTScore)", partial(
                demo_h2g_run, collection=collection, generator=generator, say=say)))
    if not selectors.demo_has_campaign(collection=collection):
        steps.append(DemoStep("Campaign for the demo annotators", partial(
            demo_campaign_create, collection=collection, say=say)))
    report = Path(settings.MEDIA_ROOT) / "reports" / f"agreement-{collection.name}.html"
    steps.append(DemoStep(f"Agreement report -> {report}", partial(
        demo_report_write, collection=collection, path=report, say=say)))
    return steps


def _analysed(analysis: HardnessAnalysis, say: Say) -> None:
    threshold = "none" if analysis.threshold is None else f"{analysis.threshold:.4f}"
    say(f"  analysis {analysis.id}: {analysis.task} of {analysis.subject}, {analysis.status}, threshold {threshold}")


def demo_h2r_run(*, collection: Collection, system: str, say: Say) -> None:
    """H2R of one run against the official qrels, with the defaults of ``hardness h2r``."""
    _analysed(hardness_services.h2r_analysis_run(collection=collection, system=system)[0], say)


def demo_h2j_run(*, collection: Collection, judge: str, scale: str, say: Say) -> None:
    """H2J of one LLM judge on its own scale (graded or binary)."""
    _analysed(hardness_services.h2j_analysis_run(collection=collection, judge=judge, variant=scale)[0], say)


def demo_h2g_run(*, collection: Collection, generator: str, say: Say) -> None:
    """H2G of one generator from its imported BERTScore rows (computing them needs the model)."""
    _analysed(hardness_services.h2g_analysis_start(collection=collection, generator=generator, source="imported"), say)


def demo_campaign_create(*, collection: Collection, say: Say) -> None:
    """A reasons (H2R) campaign on the collection for the demo annotators, each item seen
    by all, over the analysis of the run the reasons were proposed for (BM25)."""
    annotators = selectors.demo_annotators()
    campaign = annotation_services.campaign_create(
        name=f"{collection.name} reasons h2r", kind="reasons", task="h2r", collection=collection,
        analysis=selectors.demo_campaign_analysis(collection=collection),
        annotators=annotators, overlap=len(annotators),
    )
    say(f"  campaign {campaign.pk} '{campaign.name}': k={campaign.overlap}, {len(annotators)} annotators")


def demo_report_write(*, collection: Collection, path: Path, say: Say) -> None:
    """The agreement report of the collection as one self-contained HTML file."""
    exported = reports.report_export(params=ReportParams(collection=collection.name), fmt="html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(exported.content)
    say(f"  wrote {path} ({len(exported.content):,} bytes)")
