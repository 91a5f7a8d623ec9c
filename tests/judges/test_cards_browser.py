"""The leaderboard and a judge card in Chromium at 1280x800 (screenshots in artifacts/).

What a reader notices: figures rounded to three decimals, a click on a column sorts by it,
the toggle shows the judges below the coverage threshold, a judge's name opens its card,
and nothing sits beyond the right edge of the window.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from analysis.judgments import JudgmentRow, judgments_write
from analysis.models import Assessor, Judgment
from tests.conftest import ARTIFACTS, FIXTURES, browser_login
from tests.judges.conftest import load_dl19
from tests.judges.test_judge_card import SECRET, judged  # noqa: F401 (the card's fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

THREE_DECIMALS = re.compile(r"^-?\d+\.\d{3}$")
# the right edge of every element on the page, beyond the 1280-pixel window or not
OFF_SCREEN = """() => [...document.querySelectorAll('main *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .map(e => e.tagName + '.' + e.className + ': ' + e.textContent.slice(0, 40))"""


# blocks of a card side by side that cover each other
OVERLAPS = """() => { const boxes = [...document.querySelectorAll('.card-grid > *, .reference-grid > *')]
    .map(e => [e, e.getBoundingClientRect()]);
  const out = [];
  for (const [a, r] of boxes) for (const [b, s] of boxes)
    if (a !== b && a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING
        && r.left < s.right - 1 && s.left < r.right - 1 && r.top < s.bottom - 1 && s.top < r.bottom - 1)
      out.push(a.textContent.slice(0, 30) + ' / ' + b.textContent.slice(0, 30));
  return out; }"""


def make_judges() -> None:
    load_dl19(FIXTURES, max_pairs=600)
    official = list(Judgment.objects.filter(assessor__name="official").order_by("query_id", "passage_id")
                    .values_list("query_id", "passage_id", "grade"))
    grades = np.array([g for _, _, g in official])
    rng = np.random.default_rng(3)
    for i, rate in enumerate((0.1, 0.25, 0.4, 0.55, 0.7)):
        llm = grades.copy()
        flip = rng.random(grades.size) < rate
        llm[flip] = (grades[flip] + rng.integers(1, 4, size=int(flip.sum()))) % 4
        assessor = Assessor.objects.create(name=f"llm-judge-{chr(ord('e') - i)}", kind=Assessor.LLM, model=f"m{i}")
        judgments_write(assessor=assessor, rows=[JudgmentRow(q, p, int(g)) for (q, p, _), g in zip(official, llm)])
    half = Assessor.objects.create(name="half-judge", kind=Assessor.LLM, model="half")
    judgments_write(assessor=half, rows=[JudgmentRow(q, p, g) for q, p, g in official[::2]])


def figure_cells(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "cells => cells.map(c => c.textContent.trim())")


def test_leaderboard_sorts_toggles_and_opens_a_card(page, live_server, admin_user):
    make_judges()
    browser_login(page, live_server, "admin", "admin-pass-123")
    page.goto(f"{live_server.url}/judges/leaderboard/?collection=dl19")
    names = figure_cells(page, "#leaderboard tbody tr td:nth-child(2) a")
    kappas = [float(v) for v in figure_cells(page, "#leaderboard [data-col=kappa]")]
    assert len(names) == 5 and kappas == sorted(kappas, reverse=True)
    cells = figure_cells(page, "#leaderboard td[data-col]:not([data-col=calls]):not([data-col=tokens])")
    assert cells and all(THREE_DECIMALS.match(c) for c in cells), cells
    assert page.evaluate(OFF_SCREEN) == []
    assert page.evaluate(OVERLAPS) == []
    # the judge below 90% coverage is behind the toggle
    assert not page.is_visible("#leaderboard-excluded")
    page.click("#excluded summary")
    assert page.is_visible("#leaderboard-excluded") and "half-judge" in page.inner_text("#leaderboard-excluded")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "judges_leaderboard.png"), full_page=True)
    # a click on a header sorts by that column; a second one reverses it
    page.click("#leaderboard th a[data-sort=assessor]")
    assert figure_cells(page, "#leaderboard tbody tr td:nth-child(2) a") == sorted(names)
    page.click("#leaderboard th a[data-sort=kappa_quadratic]")
    quadratic = [float(v) for v in figure_cells(page, "#leaderboard [data-col=kappa_quadratic]")]
    assert quadratic == sorted(quadratic, reverse=True)
    page.click("#leaderboard th a[data-sort=kappa_quadratic]")
    assert [float(v) for v in figure_cells(page, "#leaderboard [data-col=kappa_quadratic]")] == sorted(quadratic)
    # the best judge's name opens its card
    page.click("#leaderboard th a[data-sort=kappa]")
    best = figure_cells(page, "#leaderboard tbody tr td:nth-child(2) a")[0]
    page.click(f"#leaderboard a:text-is('{best}')")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("h1") == f"Judge card: {best}"
    card = figure_cells(page, "#reference-1 td[data-col]")
    assert card and all(THREE_DECIMALS.match(c) for c in card), card
    assert float(card[1]) == pytest.approx(max(kappas), abs=0.0005)
    assert page.locator("#reference-1 table.heatmap td.cell").count() == 16
    per_grade = figure_cells(page, "#reference-1 table.per-grade td:nth-child(2), #reference-1 table.per-grade td:nth-child(3)")
    assert all(THREE_DECIMALS.match(c) or c == "–" for c in per_grade), per_grade
    assert page.evaluate(OFF_SCREEN) == []
    assert page.evaluate(OVERLAPS) == []


def test_a_full_card_fits_the_window_and_rounds_its_figures(page, live_server, admin_user, judged):
    """The card of a judge with a job, probabilities, samples, a human reference and runs."""
    browser_login(page, live_server, "admin", "admin-pass-123")
    page.goto(f"{live_server.url}/judges/assessors/card-judge/")
    assert page.inner_text("h1") == "Judge card: card-judge"
    assert page.inner_text("#calls").startswith("321") and page.inner_text("#invalid-failed") == "2 / 1"
    assert "judge.example.org:8443" in page.inner_text("#configuration")
    assert SECRET not in page.content() and "judge-password" not in page.content()
    shown = figure_cells(page, "td[data-col], strong[data-col], #split-share")
    assert len(shown) >= 15 and all(THREE_DECIMALS.match(c) for c in shown), shown
    assert page.locator("section.reference").count() == 2  # official and the annotator
    assert page.locator("#reference-1 table.effect tbody tr").count() == 2
    assert page.evaluate(OFF_SCREEN) == []
    assert page.evaluate(OVERLAPS) == []
