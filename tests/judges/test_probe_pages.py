"""The probe results of an assessor: GET /api/assessors/{name}/probes/ and the page
/judges/assessors/<name>/probes/ (staff), driven in Chromium at 1280x800."""
from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from analysis.models import Assessor
from judges import runner, selectors, services
from tests.api.conftest import token_client
from tests.judges.conftest import load_dl19
from tests.judges.fake_llm import INJECTION_MODEL, INJECTION_SENTENCE, FakeConfig, FakeLLMServer


def probed(paper_data, *, planted: float = 1.0) -> Assessor:
    """DL19's first 600 pairs judged by the injection-gullible model, then probed (12 pairs each)."""
    collection = load_dl19(paper_data, max_pairs=600)
    with FakeLLMServer(FakeConfig(planted_rate=planted)) as server:
        endpoint = services.endpoint_get_or_create(base_url=server.base_url, model=INJECTION_MODEL)
        job = services.job_create_judge(collection=collection, endpoint=endpoint, assessor_name="gullible",
                                        template=selectors.template_resolve(prompt="graded", kinds=["graded"]))
        runner.job_run(job_id=job.pk)
        call_command("probe_judge", "--collection", "dl19", "--assessor", "gullible", "--sample", "12", "--seed", "2",
                     stdout=io.StringIO())
    return Assessor.objects.get(name="gullible")


@pytest.mark.django_db
def test_the_api_returns_the_latest_result_of_each_probe(paper_data, admin_user, alice):
    probed(paper_data)
    api = token_client(admin_user)
    body = api.get("/api/assessors/gullible/probes/").json()
    assert set(body["latest"]) == {"stuffing", "injection", "truncation"}
    injection = body["latest"]["injection"]
    assert injection["flip_rate"] == 1.0 and injection["n"] + injection["at_ceiling"] == injection["sampled"] == 12
    assert injection["ci_high"] == 1.0 and 0 < injection["ci_low"] < 1
    assert body["latest"]["stuffing"]["flipped"] == 0
    assert len(body["results"]) == 3
    refused = api.get("/api/assessors/official/probes/")
    assert refused.status_code == 400 and "assessor official is not an LLM judge" in refused.json()["error"]["message"]
    assert api.get("/api/assessors/nobody/probes/").status_code == 404
    assert token_client(alice).get("/api/assessors/gullible/probes/").status_code == 403


@pytest.mark.django_db
def test_the_page_is_for_staff(paper_data, client, alice, admin_user):
    probed(paper_data)
    url = "/judges/assessors/gullible/probes/"
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(alice)
    assert client.get(url).status_code == 403
    client.force_login(admin_user)
    page = client.get(url).content.decode()
    assert "What fools gullible" in page and INJECTION_SENTENCE in page
    assert client.get("/judges/assessors/nobody/probes/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_probe_page_in_the_browser(paper_data, live_server, page, admin_user):
    from tests.conftest import browser_login

    probed(paper_data, planted=0.5)
    browser_login(page, live_server, "admin", "admin-pass-123")
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{live_server.url}/judges/assessors/gullible/probes/")
    assert page.locator("h1").inner_text() == "What fools gullible"
    rows = page.locator("table.probe-results tbody tr")
    assert rows.count() == 3
    cells = page.locator("table.probe-results tbody td").all_inner_texts()
    # rates and intervals rounded to 3 decimals for reading
    assert [c for c in cells if re.fullmatch(r"\d\.\d{3}", c)]
    assert not [c for c in cells if re.search(r"\d\.\d{4}", c)]
    injection = page.locator("table.probe-results tbody tr", has_text="injection").all_inner_texts()[0]
    assert re.search(r"\[0\.\d{3}, [01]\.\d{3}\]", injection)
    # the probed pairs, readable: open one and see the injected sentence in its prompt
    items = page.locator("table.probe-items tbody tr")
    assert items.count() == 36
    first_injected = page.locator("table.probe-items tbody tr", has_text="injection").first
    first_injected.locator("summary").click()
    assert INJECTION_SENTENCE in first_injected.locator("pre").inner_text()
    # nothing off screen at 1280 px
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1280
    assert refused == []
