"""Refusals the annotator sees, and evidence in sight, in Debian's Chromium at 1280x800
(issue 14, items 3 and 4)."""
from __future__ import annotations

import pytest

from analysis.models import Passage, Reason
from annotation import services
from annotation.models import Assignment, Campaign
from tests.annotation import factories as f
from tests.conftest import ARTIFACTS, browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# As the DL19 passages hold it: an en dash read as Latin-1 (bytes E2 80 93).
MOJIBAKE = "Lincoln was born 1906 \u00e2\u0080\u0093 May 28, says the record."
REPAIRED = "Lincoln was born 1906 \u2013 May 28, says the record."
LONG = " ".join(["The passage goes on about the subject at some length."] * 6)


def reasons_campaign(alice, *, n_queries=2):
    """Two hard queries, each with its top 10 of long passages and three proposed reasons."""
    coll, analysis, queries = f.h2r_setup(n_queries=n_queries, n_reasons=3, n_rows=10, models=("m-one",))
    Passage.objects.filter(collection=coll).update(text=LONG)
    first_row = queries[0].run_rows.order_by("rank").first()
    Passage.objects.filter(pk=first_row.passage_id).update(text=MOJIBAKE)
    return services.campaign_create(name="Evidence", kind=Campaign.REASONS, task="h2r", collection=coll,
                                    annotators=[alice], analysis=analysis)


def open_screen(page, live_server, campaign):
    browser_login(page, live_server, "alice", "alice-pass-123")
    page.goto(f"{live_server.url}/annotation/campaigns/{campaign.pk}/")
    page.wait_for_selector("#item-panel .reason")


def in_viewport(page, selector: str) -> bool:
    """Whether the element is wholly inside the window and inside every scrolled box around it."""
    return page.evaluate(
        """(sel) => {
          const el = document.querySelector(sel);
          if (!el) return false;
          const r = el.getBoundingClientRect();
          if (r.top < 0 || r.bottom > window.innerHeight || r.height === 0) return false;
          for (let p = el.parentElement; p; p = p.parentElement) {
            const st = getComputedStyle(p);
            if (/(auto|scroll|hidden)/.test(st.overflowY)) {
              const b = p.getBoundingClientRect();
              if (r.top < b.top - 1 || r.bottom > b.bottom + 1) return false;
            }
          }
          return true;
        }""",
        selector,
    )


def test_an_incomplete_submit_shows_the_message_and_focuses_the_missing_verdict(page, live_server, alice):
    campaign = reasons_campaign(alice)
    open_screen(page, live_server, campaign)
    first = page.locator("#item-panel").get_attribute("data-assignment")
    reason_ids = [r.get_attribute("data-reason") for r in page.locator("#item-panel .reason").all()]
    page.keyboard.press("a")  # the first reason only
    with page.expect_response(lambda r: r.url.endswith("/submit/")) as answer:
        page.keyboard.press("n")
    assert answer.value.status == 422
    page.wait_for_selector("#form-alert:not([hidden])")
    alert = page.locator("#form-alert")
    assert "give a verdict for every proposed reason (2 missing)" in alert.inner_text()
    assert in_viewport(page, "#form-alert")
    assert page.evaluate("() => document.activeElement.dataset.reason") == reason_ids[1]
    assert page.locator("#item-panel").get_attribute("data-assignment") == first  # the same item, kept
    assert page.locator(f'.reason[data-reason="{reason_ids[0]}"] input[value="agree"]').is_checked()
    page.screenshot(path=str(ARTIFACTS / "annotation_refused_submit.png"))
    assert Assignment.objects.get(pk=int(first)).status == Assignment.LEASED

    # a refusal the server answers without a panel (the assignment is gone: 404) shows too
    Assignment.objects.filter(pk=int(first)).delete()
    page.keyboard.press("d")
    page.keyboard.press("d")
    with page.expect_response(lambda r: r.url.endswith("/submit/")) as answer:
        page.keyboard.press("n")
    assert answer.value.status == 404
    page.wait_for_function("() => document.getElementById('form-alert').innerText.includes('404')")
    assert "Not saved (404" in alert.inner_text() and in_viewport(page, "#form-alert")
    page.screenshot(path=str(ARTIFACTS / "annotation_refused_404.png"))


def test_a_new_item_opens_at_the_top_with_the_query_and_the_first_passages(page, live_server, alice):
    campaign = reasons_campaign(alice)
    open_screen(page, live_server, campaign)
    for _ in range(3):
        page.keyboard.press("a")
    first = page.locator("#item-panel").get_attribute("data-assignment")
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")  # the reader was at the bottom
    page.keyboard.press("n")
    page.wait_for_function(f"() => document.querySelector('#item-panel').dataset.assignment !== '{first}'")
    page.wait_for_timeout(100)
    assert page.evaluate("() => window.scrollY") == 0
    assert in_viewport(page, "#item-panel .ann-query")
    for n in (1, 2):
        assert in_viewport(page, f'#item-panel .evidence tr[data-row="{n}"]'), n
    page.screenshot(path=str(ARTIFACTS / "annotation_new_item_top.png"))


def test_every_passage_of_the_evidence_is_reached_by_keys_and_mojibake_is_repaired(page, live_server, alice):
    campaign = reasons_campaign(alice, n_queries=1)
    open_screen(page, live_server, campaign)
    rows = page.locator("#item-panel .evidence tr[data-row]")
    assert rows.count() == 10
    assert not in_viewport(page, '#item-panel .evidence tr[data-row="10"]')  # the box shows the first ones
    assert "e" in page.locator(".shortcuts").inner_text()
    for n in range(1, 11):
        page.keyboard.press("e")
        assert in_viewport(page, f'#item-panel .evidence tr[data-row="{n}"].current'), n
    # the current passage is shown in full, not cut
    full = page.locator('#item-panel .evidence tr[data-row="10"] .clamp')
    assert full.evaluate("el => el.scrollHeight <= el.clientHeight + 1")
    page.screenshot(path=str(ARTIFACTS / "annotation_evidence_row_10.png"))
    page.keyboard.press("E")
    assert in_viewport(page, '#item-panel .evidence tr[data-row="9"].current')

    # repaired for reading, raw on `t`, never changed in the database
    first = page.locator('#item-panel .evidence tr[data-row="1"] .passage-text')
    assert first.inner_text().strip() == REPAIRED
    page.keyboard.press("t")
    assert first.inner_text().strip() == MOJIBAKE
    page.keyboard.press("t")
    assert first.inner_text().strip() == REPAIRED
    assert Passage.objects.filter(text=MOJIBAKE).count() == 1
    assert Reason.objects.filter(proposal__query__collection=campaign.collection).exists()


def test_b_pressed_while_the_next_item_is_swapped_in_loads_no_page(page, live_server, alice):
    campaign = reasons_campaign(alice)
    open_screen(page, live_server, campaign)
    documents = []
    page.on("request", lambda r: documents.append(r.url) if r.resource_type == "document" else None)
    page.evaluate("() => { window.__same_page = true; }")
    for _ in range(3):
        page.keyboard.press("a")
    first = page.locator("#item-panel").get_attribute("data-assignment")
    page.keyboard.press("n")
    page.keyboard.press("b")  # while the submit is on its way
    page.wait_for_function(f"() => document.querySelector('#item-panel').dataset.assignment !== '{first}'")
    page.keyboard.press("b")  # the instant the new item is there
    page.wait_for_load_state("networkidle")
    assert documents == []
    assert page.evaluate("() => window.__same_page") is True
    assert page.locator("#item-panel").count() == 1


def test_the_campaign_form_shows_only_the_fields_of_the_chosen_kind(page, live_server, admin_user, alice):
    coll, _, _ = f.disagreeing_pairs(n=2, llm="llm-x")
    browser_login(page, live_server, "admin", "admin-pass-123")
    page.goto(f"{live_server.url}/annotation/campaigns/new/")
    page.select_option('select[name="kind"]', "relevance")
    for name in ("from_assessor", "per_query", "gold"):
        assert page.locator(f'[data-field="{name}"]').is_visible(), name
    for name in ("task", "analysis", "reasons_label"):
        assert not page.locator(f'[data-field="{name}"]').is_visible(), name
    page.screenshot(path=str(ARTIFACTS / "campaign_form_relevance.png"), full_page=True)
    page.select_option('select[name="kind"]', "reasons")
    assert page.locator('[data-field="task"]').is_visible()
    assert not page.locator('[data-field="from_assessor"]').is_visible()
    # a relevance campaign without its source: the error names the form's fields
    page.select_option('select[name="kind"]', "relevance")
    page.fill('input[name="name"]', "no source")
    page.select_option('select[name="collection"]', str(coll.pk))
    page.select_option('select[name="annotators"]', [str(alice.pk)])
    page.click("#campaign-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    errors = page.locator(".field-error").all_inner_texts()
    assert any(e.startswith("Sample from:") for e in errors) and any(e.startswith("Number of items:") for e in errors)
    assert page.locator('[data-field="from_assessor"] .field-error').is_visible()
    page.screenshot(path=str(ARTIFACTS / "campaign_form_errors.png"), full_page=True)


def test_a_reviewer_reads_the_verdicts_per_reason(page, live_server, admin_user, alice, bob):
    from annotation import selectors

    coll, analysis, queries = f.h2r_setup(n_queries=2, n_reasons=3, models=("m-one",))
    campaign = services.campaign_create(name="Verdicts", kind=Campaign.REASONS, task="h2r", collection=coll,
                                        analysis=analysis, annotators=[alice, bob], overlap=2)
    for user, plan in ((alice, ["agree", "disagree", "unsure"]), (bob, ["agree", "agree", "unsure"])):
        for _ in range(2):
            a = services.assignment_next(campaign=campaign, user=user)
            ids = selectors.item_reason_ids(item=a.item, task="h2r")
            services.assignment_submit(assignment=a, user=user, verdicts=dict(zip(ids, plan)))
    browser_login(page, live_server, "admin", "admin-pass-123")
    page.goto(f"{live_server.url}/annotation/campaigns/{campaign.pk}/review/")
    table = page.locator("#reason-verdicts")
    assert table.is_visible() and table.locator("tr.reason-row").count() == 6
    assert page.locator("#reason-verdicts th").all_inner_texts()[3:5] == ["alice", "bob"]
    assert "0.00" in table.inner_text() and "1.00" in table.inner_text()
    assert "0.333" not in page.content()  # rounded for reading
    page.screenshot(path=str(ARTIFACTS / "review_reason_verdicts.png"), full_page=True)
    page.goto(f"{live_server.url}/annotation/campaigns/{campaign.pk}/labels/")
    assert page.locator("#reason-verdicts tr.reason-row").count() == 6
    page.screenshot(path=str(ARTIFACTS / "labels_reason_verdicts.png"), full_page=True)


def test_an_anchoring_campaign_shows_the_llm_grade_except_on_control_items(page, live_server, admin_user, alice):
    coll, pairs, llm = f.disagreeing_pairs(n=8, llm="llm-shown", official_grade=0, llm_grade=2)
    campaign = services.campaign_create(
        name="Anchoring", kind=Campaign.RELEVANCE, collection=coll, annotators=[alice], from_assessor=llm,
        pairs=[(q.qid, p.docid) for q, p in pairs], show_llm_grade=True, control_share=0.5,
    )
    control = set(campaign.items.filter(is_control=True).values_list("pk", flat=True))
    browser_login(page, live_server, "alice", "alice-pass-123")
    page.goto(f"{live_server.url}/annotation/campaigns/{campaign.pk}/")
    seen = {"shown": 0, "control": 0}
    for n in range(8):
        page.wait_for_selector("#item-panel .ann-passage")
        assignment = Assignment.objects.get(pk=int(page.locator("#item-panel").get_attribute("data-assignment")))
        text = page.locator("#item-panel").inner_text()
        if assignment.item_id in control:
            seen["control"] += 1
            assert "LLM graded" not in text and "llm-shown" not in page.content()
        else:
            seen["shown"] += 1
            assert "The LLM graded this pair 2." in text
            if seen["shown"] == 1:
                page.screenshot(path=str(ARTIFACTS / "anchoring_shown_item.png"))
        page.keyboard.press("2" if assignment.item_id not in control else "0")
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => document.querySelector('#item-panel .progress-text').innerText.startsWith('{n + 1} of')")
    assert seen == {"shown": 4, "control": 4}
    page.context.clear_cookies()
    browser_login(page, live_server, "admin", "admin-pass-123")
    page.goto(f"{live_server.url}/annotation/campaigns/{campaign.pk}/review/")
    table = page.locator("#anchoring")
    assert table.is_visible()
    assert "1.00" in table.locator('tr[data-group="gap"]').inner_text()  # copying when shown, official otherwise
    page.screenshot(path=str(ARTIFACTS / "anchoring_review.png"), full_page=True)
