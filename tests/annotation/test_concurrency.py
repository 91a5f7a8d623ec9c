"""50 annotators at once on a 200-item campaign with k = 3, on PostgreSQL."""
from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections

from annotation import services
from annotation.models import Assignment, Campaign, Item
from tests.annotation import factories as f

N_ANNOTATORS, N_ITEMS, K = 50, 200, 3


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_fifty_concurrent_annotators_fill_every_item_exactly_k_times():
    if connection.vendor != "postgresql":
        pytest.skip("the lease race needs PostgreSQL (set DATABASE_URL)")
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"worker{i:02d}") for i in range(N_ANNOTATORS)])
    coll, pairs = f.pairs_collection(n=N_ITEMS)
    campaign = services.campaign_create(
        name="race", kind=Campaign.RELEVANCE, collection=coll, annotators=users, overlap=K,
        pairs=[(q.qid, p.docid) for q, p in pairs],
    )
    start = threading.Barrier(N_ANNOTATORS)
    errors: list[BaseException] = []
    submitted: Counter[int] = Counter()
    lock = threading.Lock()

    def annotator(user) -> None:
        # Each thread has its own database connection (Django keeps them per thread).
        try:
            start.wait()
            while True:
                a = services.assignment_next(campaign=campaign, user=user)
                if a is None:
                    break
                services.assignment_submit(assignment=a, user=user, grade=a.item_id % 4)
                with lock:
                    submitted[a.item_id] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=annotator, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "an annotator never finished"
    assert errors == []

    done = Assignment.objects.filter(item__campaign=campaign, status=Assignment.DONE)
    per_item = Counter(done.values_list("item_id", flat=True))
    assert len(per_item) == N_ITEMS
    assert set(per_item.values()) == {K}
    # by K different annotators (the unique constraint would also refuse a repeat)
    for item_id in per_item:
        assert done.filter(item_id=item_id).values("user").distinct().count() == K
    assert sum(submitted.values()) == N_ITEMS * K  # nothing lost, nothing counted twice
    assert set(Item.objects.filter(campaign=campaign).values_list("completed_count", flat=True)) == {K}
    assert not Assignment.objects.filter(item__campaign=campaign, status=Assignment.LEASED).exists()
    # every grade is a human judgment of its annotator
    from analysis.models import Judgment

    assert Judgment.objects.filter(assessor__user__in=users).count() == N_ITEMS * K
