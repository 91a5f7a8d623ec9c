"""The demo command brings up a site whose pages list the demo queries."""
from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from tests.conftest import FIXTURES, browser_login


def fixture_queries() -> dict[str, str]:
    """The demo queries, read straight from the fixture file (the oracle, not the importer)."""
    text = (FIXTURES / "dl19" / "test2019-queries-filterd.tsv").read_text(encoding="utf-8")
    return dict(line.split("\t", 1) for line in text.splitlines() if line.strip())


def demo_password(username: str) -> str:
    from analysis.demo import DEMO_ACCOUNTS

    return next(a.password for a in DEMO_ACCOUNTS if a.username == username)


def inventory() -> dict:
    from io import StringIO

    out = StringIO()
    call_command("inventory", "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_demo_is_idempotent_and_creates_only_demo_accounts(django_user_model, capsys):
    call_command("demo")
    first, errors = capsys.readouterr()
    before = inventory()
    users = sorted(django_user_model.objects.values_list("username", "is_superuser"))
    call_command("demo")

    official = (FIXTURES / "dl19" / "qrels.dl19-passage.txt").read_text().splitlines()
    dl19 = before["collections"]["dl19"]
    assert dl19["queries"] == len(fixture_queries()) == 10
    assert dl19["judgments"]["official"] == len(official)
    assert inventory() == before
    assert sorted(django_user_model.objects.values_list("username", "is_superuser")) == users
    assert users == [("admin", True), ("alice", False), ("bob", False)]
    assert "http://127.0.0.1:8000/" in first
    assert "it failed" not in errors  # every installed plug-in step worked
    assert "alice / " + demo_password("alice") in " ".join(first.split())


@pytest.mark.django_db
def test_demo_leaves_a_real_account_of_the_same_name_alone(django_user_model):
    real = django_user_model.objects.create_user("alice", "alice@example.org", "a-real-password-123")
    call_command("demo")
    real.refresh_from_db()
    assert real.check_password("a-real-password-123")
    assert not real.check_password(demo_password("alice"))


@pytest.mark.django_db
def test_demo_reset_reloads_the_collection(django_user_model):
    from analysis.models import Collection, Query

    call_command("demo")
    Query.objects.filter(collection__name="dl19", qid="1063750").delete()
    call_command("demo", reset=True)
    assert Collection.objects.get(name="dl19").queries.filter(qid="1063750").exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_demo_admin_sees_the_demo_queries_in_the_browser(page, live_server):
    call_command("demo")
    expected = fixture_queries()

    # The corpus is for staff; annotators see their campaigns (tests/test_web_roles.py).
    browser_login(page, live_server, "admin", demo_password("admin"))
    page.click("text=dl19")
    page.wait_for_load_state("networkidle")
    rows = page.locator("#queries tbody tr")
    shown = {rows.nth(i).locator("td").nth(0).inner_text(): rows.nth(i).locator("td").nth(1).inner_text()
             for i in range(rows.count())}
    assert shown == expected

    page.fill("input[name=q]", "ww1")
    page.click("form.search button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#queries tbody tr").count() == 1
    assert "1063750" in page.locator("#queries").inner_text()


@pytest.mark.django_db
def test_demo_runs_every_installed_analysis_step(tmp_path, settings):
    """Hardness for every run and judge, a campaign for alice and bob, an agreement report:
    each checked when its command is installed (the demo grows as HardQ does)."""
    from django.apps import apps
    from django.core.management import get_commands

    from analysis.models import HardnessAnalysis, Run

    settings.MEDIA_ROOT = tmp_path
    call_command("demo")
    installed = get_commands()
    if "hardness" in installed:
        systems = set(Run.objects.filter(collection__name="dl19").values_list("system__name", flat=True))
        analysed = set(HardnessAnalysis.objects.filter(collection__name="dl19", task="h2r")
                       .values_list("subject", flat=True))
        assert systems == {"bm25", "unicoil", "tas-b"} and analysed == systems
        assert HardnessAnalysis.objects.filter(collection__name="dl19", task="h2j").exists()
    if "create_campaign" in installed:
        campaign = apps.get_model("annotation", "Campaign")
        assert campaign.objects.filter(collection__name="dl19").count() == 1
    if "export_agreement" in installed:
        report = tmp_path / "reports" / "agreement-dl19.html"
        assert report.is_file() and report.stat().st_size > 0

