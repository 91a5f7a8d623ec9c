"""The demo: real DL19 fixtures, demo accounts, and whatever analyses are installed.

Only ``manage.py demo`` calls this. The demo accounts are created here and nowhere
else; their passwords are public (printed, in the README) and they exist for a local
demo only. A user of the same name that the demo did not create is never touched, so
running the demo against a real database cannot take over a real account.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from analysis.models import Collection

DEMO_COLLECTION = "dl19"
# Marks an account as the demo's own: --reset deletes only these, re-runs reset only these.
DEMO_MARK = "HardQ demo account"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    is_admin: bool


# DEMO CREDENTIALS: public on purpose, for a local demo only. Never use them for real.
DEMO_ACCOUNTS = (
    DemoAccount("admin", "hardq-demo-admin", True),
    DemoAccount("alice", "hardq-demo-alice", False),
    DemoAccount("bob", "hardq-demo-bob", False),
)
DEMO_ANNOTATORS = tuple(a.username for a in DEMO_ACCOUNTS if not a.is_admin)

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


def demo_h2r_subjects(*, collection: Collection) -> list[str]:
    """Systems with a run in the collection, for H2R."""
    from analysis.models import Run

    return sorted(Run.objects.filter(collection=collection).values_list("system__name", flat=True).distinct())


def demo_h2j_subjects(*, collection: Collection) -> list[tuple[str, str]]:
    """(assessor, graded|binary) of every LLM judge of the collection, for H2J."""
    from analysis.models import Assessor

    judges = (
        Assessor.objects.filter(kind=Assessor.LLM, judgments__query__collection=collection)
        .values_list("name", "scale")
        .distinct()
    )
    return sorted(set(judges))


def demo_h2g_subjects(*, collection: Collection) -> list[str]:
    """Generators with imported BERTScore rows in the collection, for H2G."""
    from analysis.models import BertScore

    return sorted(
        BertScore.objects.filter(query__collection=collection).values_list("generator__name", flat=True).distinct()
    )


def demo_has_analysis(*, collection: Collection, task: str, subject: str) -> bool:
    """Whether an analysis of this task and subject exists (a re-run of the demo adds none)."""
    from analysis.models import HardnessAnalysis

    return HardnessAnalysis.objects.filter(collection=collection, task=task, subject=subject).exists()


def demo_has_campaign(*, collection: Collection) -> bool:
    """Whether the annotation app holds a campaign on the collection.

    Looked up through the app registry because campaigns belong to ``annotation``,
    which ``analysis`` must not import (the apps depend the other way).
    """
    from django.apps import apps

    try:
        campaign = apps.get_model("annotation", "Campaign")
    except LookupError:
        return False
    for field in campaign._meta.get_fields():
        if getattr(field, "related_model", None) is Collection and field.many_to_one:
            return campaign.objects.filter(**{field.name: collection}).exists()
    return campaign.objects.exists()
