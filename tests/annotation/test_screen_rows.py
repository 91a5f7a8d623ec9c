"""The screen's rows are read with hand-written SQL (annotation.rows): they must give
the same model instances, relations and counts as the ORM, on whatever the rows hold."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from analysis.models import HardnessLabel
from annotation import selectors, services
from annotation.models import Assignment, Item
from tests.annotation.test_views import relevance, reasons

pytestmark = pytest.mark.django_db


def columns(obj):
    return {field.attname: getattr(obj, field.attname) for field in type(obj)._meta.concrete_fields}


def assert_same_rows(loaded: Assignment) -> None:
    orm = Assignment.objects.select_related("item__campaign__analysis", "item__query", "item__passage").get(
        pk=loaded.pk
    )
    assert columns(loaded) == columns(orm)
    assert columns(loaded.item) == columns(orm.item)
    assert columns(loaded.item.campaign) == columns(orm.item.campaign)
    assert columns(loaded.item.query) == columns(orm.item.query)
    for mine, theirs in ((loaded.item.passage, orm.item.passage), (loaded.item.campaign.analysis, orm.item.campaign.analysis)):
        assert (mine is None) == (theirs is None)
        if mine is not None:
            assert columns(mine) == columns(theirs)


def test_reasons_row_equals_the_orm_and_reads_nothing_more(alice, bob, django_assert_num_queries):
    campaign = reasons([alice, bob], overlap=2)
    lease = services.assignment_next(campaign=campaign, user=alice)
    # values the ORM converts on the way out: JSON, dates, null relations
    Assignment.objects.filter(pk=lease.pk).update(draft={"comment": "half <b>done</b>", "added_text": ["a", "b"]})
    Item.objects.filter(pk=lease.item_id).update(gold_verdicts={"1": "agree"}, is_gold=True)
    with django_assert_num_queries(1):
        loaded = selectors.assignment_for_screen(pk=lease.pk)
        # relations come from the same row
        assert loaded.item.passage is None and loaded.item.campaign.analysis.task == "h2r"
        assert loaded.item.query.qid and loaded.item.campaign.name == "why"
    assert_same_rows(loaded)
    assert loaded.draft == {"comment": "half <b>done</b>", "added_text": ["a", "b"]}
    assert loaded.item.gold_verdicts == {"1": "agree"} and loaded.item.is_gold is True
    assert timezone.is_aware(loaded.expires_at)
    label = HardnessLabel.objects.get(analysis=campaign.analysis, query=loaded.item.query)
    assert loaded.hardness_value == pytest.approx(label.value) and loaded.is_member is True
    # the progress counts in the row equal the separate progress query
    services.assignment_submit(assignment=loaded, user=alice, verdicts={
        rid: "agree" for rid in selectors.item_reason_ids(item=loaded.item, task="h2r")})
    nxt = services.assignment_next(campaign=campaign, user=alice)
    screen = selectors.item_screen(assignment=selectors.assignment_for_screen(pk=nxt.pk))
    assert screen.progress == selectors.campaign_progress(campaign=campaign, user=alice)
    assert screen.progress["done"] == 1 and screen.progress["completed"] == 1


def test_relevance_row_without_analysis_and_a_member_removed(alice, bob):
    campaign = relevance([alice, bob])
    lease = services.assignment_next(campaign=campaign, user=bob)
    loaded = selectors.assignment_for_screen(pk=lease.pk, progress=False)
    assert_same_rows(loaded)
    assert loaded.item.campaign.analysis is None and loaded.item.passage.docid
    assert loaded.hardness_value is None and loaded.is_member is True
    campaign.annotators.remove(bob)
    assert selectors.assignment_for_screen(pk=lease.pk).is_member is False
    with pytest.raises(Assignment.DoesNotExist):
        selectors.assignment_for_screen(pk=lease.pk + 10_000)


def test_after_an_undo_the_screen_shows_the_item_taken_back(alice):
    campaign = relevance([alice], n=3)
    first = services.assignment_next(campaign=campaign, user=alice)
    services.assignment_submit(assignment=first, user=alice, grade=2)
    second = services.assignment_next(campaign=campaign, user=alice)
    assert second.item_id != first.item_id
    reopened = services.assignment_undo(campaign=campaign, user=alice)
    assert reopened.pk == first.pk
    # two live leases now: the screen resumes the one the user was last shown
    current = services.assignment_next(campaign=campaign, user=alice)
    assert current.pk == first.pk and current.draft["grade"] == "2"
    services.assignment_submit(assignment=current, user=alice, grade=3)
    assert services.assignment_next(campaign=campaign, user=alice).pk == second.pk
    # an expired lease is not resumed
    Assignment.objects.filter(pk=second.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    following = services.assignment_next(campaign=campaign, user=alice)
    assert following.status == Assignment.LEASED and following.expires_at > timezone.now()
