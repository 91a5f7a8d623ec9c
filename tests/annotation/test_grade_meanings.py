"""A relevance campaign words its grades its own way (from its guidelines); the screen,
the REST API and the three ways of creating a campaign all carry that wording."""
from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation import selectors, services
from annotation.models import GRADE_MEANINGS, Campaign
from tests.annotation import factories as f
from tests.annotation.test_views import HOSTILE, open_screen, relevance

pytestmark = pytest.mark.django_db

UMBRELA_3 = "Perfectly relevant: the passage is dedicated to the query and contains the exact answer."


def test_screen_and_api_show_the_campaigns_wording_escaped(client, alice):
    campaign = relevance([alice], grade_meanings={"3": UMBRELA_3, 0: HOSTILE})
    assert campaign.grade_meanings == {"3": UMBRELA_3, "0": HOSTILE}
    client.force_login(alice)
    page = open_screen(client, campaign).content.decode()
    assert UMBRELA_3 in page and GRADE_MEANINGS[1] in page  # grade 1 keeps the default
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    lease = client.post(f"/api/campaigns/{campaign.pk}/next/", content_type="application/json").json()
    assert lease["grade_meanings"]["3"] == UMBRELA_3 and lease["grade_meanings"]["2"] == GRADE_MEANINGS[2]


@pytest.mark.parametrize("bad", [{"4": "too high"}, {"x": "not a grade"}, {"2": "  "}, {"02": "padded"}])
def test_bad_grade_meanings_are_refused(alice, bad):
    with pytest.raises(services.AnnotationError, match="grade"):
        relevance([alice], grade_meanings=bad)
    assert not Campaign.objects.exists()


def test_command_reads_a_json_file(alice, capsys, tmp_path):
    f.disagreeing_pairs(n=2, llm="judge-gm", name="gm", llm_grade=3)
    path = tmp_path / "grades.json"
    path.write_text(json.dumps({"0": "Nothing to do with the query."}))
    call_command("create_campaign", "--collection", "gm", "--kind", "relevance", "--from-assessor", "judge-gm",
                 "--limit", "2", "--annotators", "alice", "--grade-meanings", str(path), "--json")
    campaign = Campaign.objects.get(pk=json.loads(capsys.readouterr().out.strip().splitlines()[-1])["campaign"])
    assert selectors.grade_meanings(campaign)[0] == "Nothing to do with the query."
    path.write_text("[1, 2]")
    with pytest.raises(CommandError, match="expected a JSON object"):
        call_command("create_campaign", "--collection", "gm", "--kind", "relevance", "--from-assessor", "judge-gm",
                     "--limit", "2", "--annotators", "alice", "--grade-meanings", str(path))


def test_web_form_takes_one_line_per_grade(client, admin_user, alice):
    coll, _, llm = f.disagreeing_pairs(n=2, llm="llm-gm")
    client.force_login(admin_user)
    data = {"name": "worded", "collection": coll.pk, "kind": "relevance", "from_assessor": llm.pk, "limit": 2,
            "overlap": 1, "annotators": [alice.pk]}
    r = client.post("/annotation/campaigns/new/", {**data, "grade_meanings": "no colon here"})
    assert r.status_code == 200 and "line 1" in r.content.decode() and not Campaign.objects.exists()
    r = client.post("/annotation/campaigns/new/", {**data, "grade_meanings": "7: no such grade"})
    assert r.status_code == 200 and "not a grade from 0 to 3" in r.content.decode()
    r = client.post("/annotation/campaigns/new/", {**data, "grade_meanings": "2: Half an answer.\n\n3: All of it."})
    assert r.status_code == 302
    assert Campaign.objects.get(name="worded").grade_meanings == {"2": "Half an answer.", "3": "All of it."}
