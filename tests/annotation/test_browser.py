"""An annotator works through campaigns with the keyboard only, in Debian's Chromium."""
from __future__ import annotations

import pytest

from analysis.models import Judgment, Passage
from annotation import services
from annotation.models import Assignment, Campaign, ReasonVerdict
from tests.annotation import factories as f
from tests.conftest import ARTIFACTS, browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PLANTED = '<script>window.__pwned = 1</script><img src=x onerror="document.title=\'pwned\'"> tail text'


def progress_text(page) -> str:
    return page.locator("#item-panel .progress-text").inner_text()


def test_annotator_grades_relevance_with_the_keyboard_and_scripts_stay_text(page, live_server, alice):
    coll, pairs = f.pairs_collection(n=3)
    Passage.objects.filter(pk=pairs[0][1].pk).update(text=PLANTED)
    campaign = services.campaign_create(
        name="Keyboard relevance", kind=Campaign.RELEVANCE, collection=coll, annotators=[alice],
        pairs=[(q.qid, p.docid) for q, p in pairs], guidelines="Grade **carefully**.",
    )
    browser_login(page, live_server, "alice", "alice-pass-123")
    page.goto(f"{live_server.url}/annotation/")
    assert "Keyboard relevance" in page.content()
    page.goto(f"{live_server.url}/annotation/campaigns/{campaign.pk}/")
    assert progress_text(page) == "0 of 3 done"

    # the planted markup is shown as text and never ran
    assert PLANTED.split(" tail")[0] in page.locator(".passage-text").first.inner_text()
    assert page.evaluate("window.__pwned") is None
    assert page.title() != "pwned"
    assert page.locator(".ann-passage img").count() == 0
    page.screenshot(path=str(ARTIFACTS / "annotation_relevance_item.png"))

    url_before = page.url
    for n, key in enumerate(["2", "0", "3"], start=1):
        page.keyboard.press(key)
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => document.querySelector('#item-panel .progress-text').innerText.startsWith('{n} of')")
        assert progress_text(page) == f"{n} of 3 done"
    assert page.url == url_before  # HTMX swaps, no full page load
    assert "Nothing left for you" in page.content()

    grades = sorted(Judgment.objects.filter(assessor__name="alice").values_list("grade", flat=True))
    assert grades == [0, 2, 3]
    assert all(a.seconds_spent > 0 for a in Assignment.objects.filter(user=alice))

    # z takes the last one back, filled in; Enter commits it again
    page.keyboard.press("z")
    page.wait_for_function("() => document.querySelector('#item-panel .progress-text').innerText.startsWith('2 of')")
    assert page.locator('input[name="grade"][value="3"]').is_checked()
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#item-panel .progress-text').innerText.startsWith('3 of')")
    assert sorted(Judgment.objects.filter(assessor__name="alice").values_list("grade", flat=True)) == [0, 1, 2]


def test_annotator_verifies_reasons_with_the_keyboard(page, live_server, alice):
    coll, analysis, queries = f.h2r_setup(n_queries=2, n_reasons=2, models=("m-one",))
    campaign = services.campaign_create(name="Keyboard reasons", kind=Campaign.REASONS, task="h2r",
                                        collection=coll, annotators=[alice], blind=True)
    browser_login(page, live_server, "alice", "alice-pass-123")
    page.goto(f"{live_server.url}/annotation/campaigns/{campaign.pk}/")
    assert progress_text(page) == "0 of 2 done"
    assert "nDCG" in page.content() or "ndcg_cut_10" in page.content()
    page.screenshot(path=str(ARTIFACTS / "annotation_reasons_item.png"))

    # first item: agree, disagree (focus moves down by itself), then a missing reason
    page.keyboard.press("a")
    page.keyboard.press("d")
    page.keyboard.press("r")
    page.keyboard.type("needs the <b>date</b> of the event")
    page.keyboard.press("Escape")
    page.keyboard.press("f")
    page.keyboard.press("n")
    page.wait_for_function("() => document.querySelector('#item-panel .progress-text').innerText.startsWith('1 of')")

    # second item: move with j/k, unsure and agree; skip is not used
    page.keyboard.press("j")
    page.keyboard.press("u")
    page.keyboard.press("k")
    page.keyboard.press("a")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#item-panel .progress-text').innerText.startsWith('2 of')")

    done = Assignment.objects.filter(user=alice, status=Assignment.DONE)
    assert done.count() == 2
    assert sorted(ReasonVerdict.objects.filter(assignment__in=done).values_list("verdict", flat=True)) == [
        "agree", "agree", "disagree", "unsure",
    ]
    first = done.get(added_reasons__isnull=False)
    assert first.added_reasons.get().text == "needs the <b>date</b> of the event"
    assert first.confidence == 1


def test_skip_with_a_reason_from_the_keyboard(page, live_server, alice):
    coll, pairs = f.pairs_collection(n=2)
    campaign = services.campaign_create(name="Skip", kind=Campaign.RELEVANCE, collection=coll, annotators=[alice],
                                        pairs=[(q.qid, p.docid) for q, p in pairs])
    browser_login(page, live_server, "alice", "alice-pass-123")
    page.goto(f"{live_server.url}/annotation/campaigns/{campaign.pk}/")
    first = page.locator("#item-panel").get_attribute("data-assignment")
    # autosave: a grade chosen but not submitted is kept as the draft
    with page.expect_response(lambda r: r.url.endswith("/draft/") and r.status == 204):
        page.keyboard.press("1")
    assert Assignment.objects.get(pk=int(first)).draft.get("grade") == "1"
    page.keyboard.press("s")
    page.keyboard.type("passage is truncated")
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => document.querySelector('#item-panel').dataset.assignment !== '{first}'")
    assert Assignment.objects.get(pk=int(first)).skip_reason == "passage is truncated"
    assert "1 skipped" in progress_text(page) or "skipped" in page.locator(".ann-progress").inner_text()
