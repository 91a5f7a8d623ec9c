"""The DL19 demo fixtures loaded once per module, for the researcher's pages.

``manage.py demo`` brings in every kind of output the fixtures hold (queries, qrels,
three runs, four LLM judges, generations, BERTScore, pairwise, reasons) and runs the
hardness analyses; the rows are committed for the module (the live server of the
browser tests reads them) and deleted after it.
"""
from __future__ import annotations

import io
import tempfile

import pytest

from tests.conftest import FIXTURES

DEMO_ADMIN = ("admin", "hardq-demo-admin")


def fixture_lines(name: str) -> list[str]:
    return (FIXTURES / "dl19" / name).read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def demo_dl19(django_db_setup, django_db_blocker):
    from django.core.management import call_command
    from django.test import override_settings

    from demo import services as demo
    from analysis.models import Assessor, Collection, ImportSource, System

    # rows that outlive the collection (reasons' import sources have none, assessors and
    # systems are shared): whatever the module adds is deleted after it
    shared = (ImportSource, Assessor, System)
    with django_db_blocker.unblock(), tempfile.TemporaryDirectory() as media:
        before = {model: set(model.objects.values_list("pk", flat=True)) for model in shared}
        with override_settings(MEDIA_ROOT=media):
            call_command("demo", stdout=io.StringIO(), stderr=io.StringIO())
        try:
            yield Collection.objects.get(name="dl19")
        finally:
            demo.demo_reset()
            Collection.objects.filter(name="dl19").delete()
            for model in shared:
                model.objects.exclude(pk__in=before[model]).delete()


@pytest.fixture
def dl19_demo(demo_dl19, db):
    return demo_dl19


@pytest.fixture
def demo_admin(dl19_demo, django_user_model):
    return django_user_model.objects.get(username=DEMO_ADMIN[0])


@pytest.fixture
def demo_alice(dl19_demo, django_user_model):
    """The demo's annotator alice (not staff)."""
    return django_user_model.objects.get(username="alice")
