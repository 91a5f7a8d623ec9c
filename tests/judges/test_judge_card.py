"""The judge card of an LLM assessor (issue 17, item 1), on the DL19 fixtures.

An LLM judge whose grades are the official ones changed on about 30% of the pairs, with
grade probabilities on half of them and three samples per pair on a hundred, one job with
its calls, a human annotator on 60 pairs and two runs. Every figure is checked against an
independent oracle (scikit-learn, krippendorff, a calibration written out here); the
endpoint's credentials and the value of its key variable appear nowhere.
"""
from __future__ import annotations

import io
import json
from datetime import timedelta

import krippendorff
import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from sklearn.metrics import cohen_kappa_score, confusion_matrix, precision_score, recall_score

from analysis.judgments import JudgmentRow, judgments_write
from analysis.models import Assessor, Collection, Judgment, Passage, Query
from judges import card_selectors, selectors, services
from judges.models import Endpoint, LLMCall, LLMJob, LLMJobItem
from tests.conftest import FIXTURES
from tests.judges.conftest import load_dl19

pytestmark = pytest.mark.django_db

SECRET = "sk-card-secret-value-123"
KEY_VARIABLE = "HARDQ_CARD_TEST_KEY"
BASE_URL = "http://judge-user:judge-password@judge.example.org:8443/v1?token=query-token"
RUN_FILES = ("run.msmarco-v1-passage.bm25-default.dl19.txt", "run.msmarco-v1-passage-distilbert-base-tas-b-dl19.txt")


def samples_of(i: int) -> list[int | None]:
    """The three answers of item i: a split vote on every third, one unparsed on every seventh."""
    if i % 7 == 0:
        return [2, None, 2]
    return [1, 2, 1] if i % 3 == 0 else [2, 2, 2]


@pytest.fixture
def judged(monkeypatch, tmp_path) -> dict:
    monkeypatch.setenv(KEY_VARIABLE, SECRET)
    collection = load_dl19(FIXTURES)
    for name in RUN_FILES:  # the first 20 rows of each query, to keep the test quick
        lines = [l for l in (FIXTURES / "dl19" / name).read_text().splitlines() if int(l.split()[3]) <= 20]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        call_command("import_run", str(tmp_path / name), "--collection", "dl19", "--system", name.split(".")[2] if "bm25" in name else "tas-b",
                     stdout=io.StringIO())
    official = list(Judgment.objects.filter(assessor__name="official").order_by("query_id", "passage_id")
                    .values_list("query_id", "passage_id", "grade"))
    rng = np.random.default_rng(7)
    grades = np.array([g for _, _, g in official])
    llm = grades.copy()
    flip = rng.random(grades.size) < 0.3
    llm[flip] = (grades[flip] + rng.integers(1, 4, size=int(flip.sum()))) % 4
    probabilities = {}
    for i in range(0, len(official), 2):
        p = rng.dirichlet(np.ones(4)) * 0.5
        p[llm[i]] += 0.5
        probabilities[i] = [float(x) for x in p]
    endpoint = Endpoint.objects.create(name="card-endpoint", base_url=BASE_URL, model="judge-model:7b",
                                       api_key_env=KEY_VARIABLE, parameters={"temperature": 0})
    template = selectors.template_resolve(prompt="graded", kinds=["graded"])
    assessor = services.llm_assessor_get_or_create(name="card-judge", endpoint=endpoint, template=template,
                                                   scale=Assessor.GRADED)
    judgments_write(assessor=assessor, rows=[
        JudgmentRow(q, p, int(g), probabilities=probabilities.get(i)) for i, ((q, p, _), g) in enumerate(zip(official, llm))
    ])
    now = timezone.now()
    job = LLMJob.objects.create(
        kind="judge", endpoint=endpoint, template=template, collection=collection, assessor=assessor, samples=3,
        status=LLMJob.DONE, total=len(official), done=len(official) - 3, invalid=2, failed=1, calls=321, cached=4,
        tokens=98765, started_at=now - timedelta(seconds=90), finished_at=now,
    )
    LLMCall.objects.bulk_create([
        LLMCall(cache_key=f"k{i}", job=job, endpoint=endpoint, model="judge-model:7b", latency_ms=250,
                error="" if i else "HTTP 500") for i in range(4)
    ])
    LLMJobItem.objects.bulk_create([
        LLMJobItem(job=job, key=f"q\td{i}", status=LLMJobItem.DONE, result={"value": 2, "samples": samples_of(i)})
        for i in range(100)
    ])
    human = Assessor.objects.create(name="annotator-h", kind=Assessor.HUMAN)
    judgments_write(assessor=human, rows=[JudgmentRow(q, p, int(g)) for q, p, g in official[:60]])
    return {"official": grades, "llm": llm, "probabilities": probabilities}


def expected_calibration(probabilities: dict[int, list[float]], truth: np.ndarray) -> tuple[float, float]:
    """ECE (10 equal-width confidence bins) and multi-class Brier score, written out plainly."""
    bins: dict[int, list[tuple[float, bool]]] = {}
    brier = 0.0
    for i, p in probabilities.items():
        confidence = max(p)
        predicted = p.index(confidence)
        bins.setdefault(min(int(confidence * 10), 9), []).append((confidence, predicted == truth[i]))
        brier += sum((p[g] - (1.0 if g == truth[i] else 0.0)) ** 2 for g in range(4))
    n = len(probabilities)
    ece = sum(len(b) / n * abs(sum(c for _, c in b) / len(b) - sum(x for x, _ in b) / len(b)) for b in bins.values())
    return ece, brier / n


def test_card_figures_equal_the_oracles(judged):
    card = card_selectors.judge_card(assessor="card-judge")
    assert card["collection"] == "dl19" and card["probes"] == []
    official, llm = judged["official"], judged["llm"]
    ref = card["references"][0]
    assert ref["reference"] == "official" and ref["coverage"] == 1.0 and ref["n"] == official.size
    assert ref["kappa"] == pytest.approx(cohen_kappa_score(official, llm))
    assert ref["kappa_linear"] == pytest.approx(cohen_kappa_score(official, llm, weights="linear"))
    assert ref["kappa_quadratic"] == pytest.approx(cohen_kappa_score(official, llm, weights="quadratic"))
    assert ref["kappa_binary"] == pytest.approx(cohen_kappa_score(official >= 2, llm >= 2))
    assert ref["alpha_ordinal"] == pytest.approx(krippendorff.alpha(
        reliability_data=np.vstack([official, llm]).astype(float), level_of_measurement="ordinal",
        value_domain=[0, 1, 2, 3]))
    assert ref["confusion_matrix"] == confusion_matrix(official, llm, labels=[0, 1, 2, 3]).tolist()
    precision = precision_score(official, llm, labels=[0, 1, 2, 3], average=None, zero_division=np.nan)
    recall = recall_score(official, llm, labels=[0, 1, 2, 3], average=None, zero_division=np.nan)
    for g, row in enumerate(ref["per_grade"]):
        assert row["precision"] == pytest.approx(precision[g]) and row["recall"] == pytest.approx(recall[g])
    assert ref["distribution"]["assessor"] == np.bincount(llm, minlength=4).tolist()
    assert ref["distribution"]["reference"] == np.bincount(official, minlength=4).tolist()
    ece, brier = expected_calibration(judged["probabilities"], official)
    assert ref["calibration"]["n"] == len(judged["probabilities"])
    assert ref["calibration"]["ece"] == pytest.approx(ece) and ref["calibration"]["brier"] == pytest.approx(brier)
    effect = ref["evaluation_effect"]
    assert effect["n_runs"] == 2 and len(effect["runs"]) == 2 and effect["kendall_tau_b"] in (-1.0, 1.0)
    # the human annotator is the second reference, on its 60 pairs
    human = card["references"][1]
    assert human["reference"] == "annotator-h" and human["n"] == 60
    assert human["kappa"] == pytest.approx(cohen_kappa_score(official[:60], llm[:60]))
    # self-consistency: pairs with at least two valid answers that are not all the same
    voted = [[v for v in samples_of(i) if v is not None] for i in range(100)]
    split = sum(1 for v in voted if len(set(v)) > 1)
    assert card["self_consistency"] == {"pairs": 100, "split": split, "split_share": split / 100}


def test_card_configuration_and_usage_without_secrets(judged, client, admin_user):
    card = card_selectors.judge_card(assessor="card-judge", collection="dl19")
    c = card["configuration"]
    template = LLMJob.objects.get(assessor__name="card-judge").template
    assert c["model"] == "judge-model:7b" and c["parameters"] == {"temperature": 0}
    assert (c["template"]["name"], c["template"]["version"]) == (template.name, template.version)
    assert c["template"]["url"] == f"/admin/judges/prompttemplate/{template.pk}/change/"
    assert c["endpoint_hosts"] == ["judge.example.org:8443"]
    assert (c["calls"], c["cached"], c["tokens"], c["invalid"], c["failed"]) == (321, 4, 98765, 2, 1)
    assert c["elapsed_seconds"] == pytest.approx(90, abs=1) and c["call_seconds"] == pytest.approx(1.0)
    assert c["first"] and c["last"] and c["failed_attempts"] == 1
    client.force_login(admin_user)
    api = client.get("/api/assessors/card-judge/card/")
    page = client.get("/judges/assessors/card-judge/")
    out = io.StringIO()
    call_command("judge_card", "--collection", "dl19", "--assessor", "card-judge", stdout=out)
    text = out.getvalue()
    out_json = io.StringIO()
    call_command("judge_card", "--collection", "dl19", "--assessor", "card-judge", "--json", stdout=out_json)
    assert api.status_code == 200 and page.status_code == 200
    assert json.loads(out_json.getvalue())["references"][0]["kappa"] == api.json()["references"][0]["kappa"]
    for shown in (json.dumps(card), api.content.decode(), page.content.decode(), text, out_json.getvalue()):
        for secret in (SECRET, KEY_VARIABLE, "judge-password", "judge-user", "query-token"):
            assert secret not in shown
    assert "judge.example.org:8443" in page.content.decode() and "judge.example.org:8443" in text
    assert f"kappa {api.json()['references'][0]['kappa']:.3f}" in text


def test_unknown_or_non_llm_assessors_are_refused(judged, client, admin_user):
    client.force_login(admin_user)
    for name, message in (("nobody", "unknown assessor 'nobody'"), ("official", "is not an LLM judge")):
        response = client.get(f"/api/assessors/{name}/card/")
        assert response.status_code == 404 and message in response.json()["error"]["message"]
        assert client.get(f"/judges/assessors/{name}/").status_code == 404
        with pytest.raises(CommandError, match=message):
            call_command("judge_card", "--assessor", name, "--json")
    response = client.get("/api/assessors/card-judge/card/", {"collection": "nope"})
    assert response.status_code == 404 and "unknown collection 'nope'" in response.json()["error"]["message"]


def test_a_judge_of_several_collections_needs_the_collection(judged, client, admin_user):
    other = Collection.objects.create(name="other")
    q = Query.objects.create(collection=other, qid="1")
    p = Passage.objects.create(collection=other, docid="d1")
    judgments_write(assessor=Assessor.objects.get(name="card-judge"), rows=[JudgmentRow(q.pk, p.pk, 1)])
    client.force_login(admin_user)
    response = client.get("/api/assessors/card-judge/card/")
    assert response.status_code == 400 and "several collections (dl19, other)" in response.json()["error"]["message"]
    with pytest.raises(CommandError, match="several collections"):
        call_command("judge_card", "--assessor", "card-judge")
    page = client.get("/judges/assessors/card-judge/")
    assert page.status_code == 400 and b"several collections" in page.content
    assert client.get("/api/assessors/card-judge/card/", {"collection": "other"}).json()["references"] == []
    assert client.get("/api/assessors/card-judge/card/", {"collection": "dl19"}).status_code == 200


def test_the_card_is_for_staff(judged, client, alice):
    assert client.get("/judges/assessors/card-judge/").status_code == 302
    client.force_login(alice)
    assert client.get("/judges/assessors/card-judge/").status_code == 403
    assert client.get("/api/assessors/card-judge/card/").status_code == 403


def test_the_card_is_in_the_api_schema(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert "/api/assessors/{name}/card/" in schema["paths"] and "/api/judges/leaderboard/" in schema["paths"]
    parameters = {p["name"] for p in schema["paths"]["/api/assessors/{name}/card/"]["get"]["parameters"]}
    assert {"name", "collection"} <= parameters


def test_probe_results_show_on_the_card_and_the_leaderboard(paper_data, client, admin_user):
    """A judge fooled by the injection sentence, probed the ordinary way (probe_judge on the
    fake server), and an honest one: the card, its API and the leaderboard carry each probe's
    latest flip rate with its interval, equal to what probe_judge reported."""
    from judges import leaderboard_selectors
    from tests.judges.fake_llm import HONEST_MODEL, INJECTION_MODEL, FakeConfig, FakeLLMServer
    from tests.judges.test_probes import judged as judged_by, probe

    collection = load_dl19(paper_data, max_pairs=600)
    with FakeLLMServer(FakeConfig(planted_rate=1.0)) as server:
        gullible = judged_by(collection, server, INJECTION_MODEL)
        honest = judged_by(collection, server, HONEST_MODEL)
        reported = {a.name: probe("dl19", a.name, "--probes", "injection", "--sample", "30", "--seed", "3")
                    for a in (gullible, honest)}
    card = card_selectors.judge_card(assessor=gullible.name, collection="dl19")
    [shown] = card["probes"]
    # the probe job runs under the judge's name, but the configuration and usage are the labels' jobs
    assert [j["kind"] for j in card["configuration"]["jobs"]] == ["judge"]
    expected = reported[gullible.name]["probes"]["injection"]
    assert shown["probe"] == "injection" and shown["n"] == expected["n"]
    assert shown["flip_rate"] == pytest.approx(expected["flip_rate"]) and shown["flip_rate"] > 0.9
    assert shown["ci_low"] == pytest.approx(expected["ci_low"]) and shown["ci_high"] == pytest.approx(expected["ci_high"])
    client.force_login(admin_user)
    api = client.get(f"/api/assessors/{gullible.name}/card/", {"collection": "dl19"}).json()
    assert api["probes"][0]["flip_rate"] == pytest.approx(expected["flip_rate"])
    page = client.get(f"/judges/assessors/{gullible.name}/", {"collection": "dl19"}).content.decode()
    assert f"{expected['flip_rate']:.3f}" in page and f"/judges/assessors/{gullible.name}/probes/" in page
    board = leaderboard_selectors.leaderboard(collection="dl19")
    rows = {r["assessor"]: r for r in [*board["rows"], *board["excluded"]]}
    assert rows[gullible.name]["probes"]["injection"]["flip_rate"] == pytest.approx(expected["flip_rate"])
    assert rows[honest.name]["probes"]["injection"]["flip_rate"] <= 0.05
    csv_text = client.get("/judges/leaderboard/", {"collection": "dl19", "format": "csv"}).content.decode()
    assert "flip_rate_injection" in csv_text.splitlines()[0]


def test_a_judge_named_after_an_org_slash_model_has_its_card_and_probes(client, admin_user):
    """Model ids such as ``meta-llama/Llama-3.1-8B`` put a slash in the assessor's name: the
    job pages link to its card, and the card, its API and its probes page answer."""
    load_dl19(FIXTURES, max_pairs=50)
    official = list(Judgment.objects.filter(assessor__name="official").values_list("query_id", "passage_id", "grade"))
    judge = Assessor.objects.create(name="meta-llama/Llama-3.1-8B-graded", kind=Assessor.LLM, model="meta-llama/Llama-3.1-8B")
    judgments_write(assessor=judge, rows=[JudgmentRow(q, p, int(g)) for q, p, g in official])
    client.force_login(admin_user)
    page = client.get(f"/judges/assessors/{judge.name}/", {"collection": "dl19"})
    assert page.status_code == 200 and "Judge card: meta-llama/Llama-3.1-8B-graded" in page.content.decode()
    api = client.get(f"/api/assessors/{judge.name}/card/", {"collection": "dl19"})
    assert api.status_code == 200 and api.json()["references"][0]["kappa"] == 1.0
    assert client.get(f"/judges/assessors/{judge.name}/probes/").status_code == 200
    assert client.get(f"/api/assessors/{judge.name}/probes/").status_code == 200
