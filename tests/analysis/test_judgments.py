"""The one write path of judgments: upsert, replace, delete, atomicity, and agreement
that follows every write at once."""
from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection
from sklearn.metrics import cohen_kappa_score

from analysis import agreement
from analysis.agreement_selectors import aligned_labels
from analysis.judgments import COPY_THRESHOLD, JudgmentRow, JudgmentWriteError, judgments_delete, judgments_write
from analysis.models import Assessor, Collection, ImportSource, Judgment, LabelArray, Passage, Query


def corpus(name: str, *, queries: int = 2, passages: int = 4) -> tuple[list[Query], list[Passage]]:
    coll = Collection.objects.create(name=name)
    qs = Query.objects.bulk_create([Query(collection=coll, qid=str(i)) for i in range(queries)])
    ps = Passage.objects.bulk_create([Passage(collection=coll, docid=f"d{i}") for i in range(passages)])
    return qs, ps


def stored(assessor: Assessor) -> dict[tuple[int, int], int | None]:
    return {(q, p): g for q, p, g in Judgment.objects.filter(assessor=assessor).values_list("query_id", "passage_id", "grade")}


@pytest.fixture
def nist(db) -> Assessor:
    return Assessor.objects.create(name="nist", kind=Assessor.OFFICIAL)


@pytest.fixture
def llm(db) -> Assessor:
    return Assessor.objects.create(name="llm", kind=Assessor.LLM)


def test_a_write_creates_then_updates_only_what_changed(nist):
    qs, ps = corpus("c")
    rows = [JudgmentRow(query_id=qs[0].pk, passage_id=p.pk, grade=g) for p, g in zip(ps, [0, 1, 2, 3])]
    assert judgments_write(assessor=nist, rows=rows).created == 4
    first_change = dict(Judgment.objects.values_list("passage_id", "updated_at"))

    again = judgments_write(assessor=nist, rows=rows)
    assert (again.created, again.updated, again.unchanged, again.deleted) == (0, 0, 4, 0)
    assert dict(Judgment.objects.values_list("passage_id", "updated_at")) == first_change  # nothing touched

    regraded = [rows[0], JudgmentRow(query_id=qs[0].pk, passage_id=ps[1].pk, grade=3),
                JudgmentRow(query_id=qs[1].pk, passage_id=ps[0].pk, grade=2)]
    report = judgments_write(assessor=nist, rows=regraded)
    assert (report.created, report.updated, report.unchanged, report.deleted) == (1, 1, 1, 0)
    assert stored(nist) == {
        (qs[0].pk, ps[0].pk): 0, (qs[0].pk, ps[1].pk): 3, (qs[0].pk, ps[2].pk): 2, (qs[0].pk, ps[3].pk): 3,
        (qs[1].pk, ps[0].pk): 2,
    }
    assert Judgment.objects.get(assessor=nist, query=qs[0], passage=ps[1]).updated_at > first_change[ps[1].pk]


def test_an_unparsed_answer_is_kept_invalid_with_its_raw_text(llm):
    qs, ps = corpus("c")
    judgments_write(assessor=llm, rows=[JudgmentRow(query_id=qs[0].pk, passage_id=ps[0].pk, grade=2, raw_response="2")])
    report = judgments_write(
        assessor=llm,
        rows=[JudgmentRow(query_id=qs[0].pk, passage_id=ps[0].pk, grade=None, valid=False, raw_response="maybe?")],
    )
    assert report.updated == 1
    j = Judgment.objects.get(assessor=llm)
    assert (j.grade, j.valid, j.raw_response) == (None, False, "maybe?")


def test_replace_without_a_source_drops_the_assessors_other_judgments_in_the_touched_collections_only(nist, llm):
    qs, ps = corpus("a")
    other_qs, other_ps = corpus("b")
    judgments_write(assessor=nist, rows=[JudgmentRow(query_id=q.pk, passage_id=p.pk, grade=1) for q in qs for p in ps])
    judgments_write(assessor=nist, rows=[JudgmentRow(query_id=other_qs[0].pk, passage_id=other_ps[0].pk, grade=1)])
    judgments_write(assessor=llm, rows=[JudgmentRow(query_id=qs[0].pk, passage_id=ps[3].pk, grade=0)])

    kept = [JudgmentRow(query_id=qs[0].pk, passage_id=ps[0].pk, grade=3)]
    report = judgments_write(assessor=nist, rows=kept, replace=True)
    assert (report.created, report.updated, report.deleted) == (0, 1, 7)
    assert stored(nist) == {(qs[0].pk, ps[0].pk): 3, (other_qs[0].pk, other_ps[0].pk): 1}
    assert stored(llm) == {(qs[0].pk, ps[3].pk): 0}  # another assessor is never touched


def test_replace_with_a_source_drops_only_what_that_source_wrote(llm):
    qs, ps = corpus("c")
    source = ImportSource.objects.create(kind="judgments", collection=qs[0].collection, label="llm", filename="f", sha256="x")
    judgments_write(assessor=llm, rows=[JudgmentRow(query_id=qs[0].pk, passage_id=p.pk, grade=1) for p in ps[:3]], source=source)
    # A judge job's answer for the same assessor (no source): a --replace of the file keeps it.
    judgments_write(assessor=llm, rows=[JudgmentRow(query_id=qs[1].pk, passage_id=ps[3].pk, grade=2)])

    report = judgments_write(
        assessor=llm, rows=[JudgmentRow(query_id=qs[0].pk, passage_id=ps[0].pk, grade=1)], source=source, replace=True
    )
    assert (report.created, report.updated, report.unchanged, report.deleted) == (0, 0, 1, 2)
    assert stored(llm) == {(qs[0].pk, ps[0].pk): 1, (qs[1].pk, ps[3].pk): 2}


def test_qrels_import_with_replace_drops_the_lines_the_new_file_no_longer_has(db, tmp_path):
    (tmp_path / "q.tsv").write_text("1\tfirst\n2\tsecond\n")
    (tmp_path / "qrels.txt").write_text("1 0 a 3\n1 0 b 0\n2 0 c 1\n")
    (tmp_path / "qrels2.txt").write_text("1 0 a 2\n2 0 c 1\n2 0 d 0\n")
    out = io.StringIO()
    call_command("import_queries", str(tmp_path / "q.tsv"), collection="c", no_progress=True, stdout=out)
    call_command("import_qrels", str(tmp_path / "qrels.txt"), collection="c", no_progress=True, stdout=out)
    out = io.StringIO()
    call_command("import_qrels", str(tmp_path / "qrels2.txt"), collection="c", replace=True, no_progress=True, stdout=out)
    assert "1 created, 1 updated, 1 unchanged" in out.getvalue()
    assert "1 deleted by --replace" in out.getvalue()
    rows = Judgment.objects.filter(assessor__name="official").values_list("query__qid", "passage__docid", "grade")
    assert sorted(rows) == [("1", "a", 2), ("2", "c", 1), ("2", "d", 0)]


def test_probabilities_round_trip_on_every_write_path(llm):
    # Small writes go through bulk_create; from COPY_THRESHOLD rows on, PostgreSQL gets COPY.
    n = COPY_THRESHOLD + 10
    qs, ps = corpus("c", queries=1, passages=n)
    probs = [[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]]
    rows = [
        JudgmentRow(query_id=qs[0].pk, passage_id=p.pk, grade=i % 4, probabilities=probs[i % 2] if i % 3 else None)
        for i, p in enumerate(ps)
    ]
    judgments_write(assessor=llm, rows=rows[:3])
    assert judgments_write(assessor=llm, rows=rows).created == n - 3
    stored_probs = dict(Judgment.objects.filter(assessor=llm).values_list("passage_id", "probabilities"))
    assert stored_probs == {r.passage_id: r.probabilities for r in rows}

    changed = [JudgmentRow(query_id=r.query_id, passage_id=r.passage_id, grade=r.grade, probabilities=[1.0, 0.0, 0.0, 0.0])
               for r in rows]
    report = judgments_write(assessor=llm, rows=changed)
    assert report.updated == n
    assert set(map(tuple, Judgment.objects.filter(assessor=llm).values_list("probabilities", flat=True))) == {(1.0, 0.0, 0.0, 0.0)}


def test_rows_that_cannot_be_written_are_refused_before_anything_is_written(nist):
    qs, ps = corpus("c")
    judgments_write(assessor=nist, rows=[JudgmentRow(query_id=qs[0].pk, passage_id=ps[0].pk, grade=1)])
    twice = [JudgmentRow(query_id=qs[0].pk, passage_id=ps[1].pk, grade=1)] * 2
    with pytest.raises(JudgmentWriteError, match="given twice"):
        judgments_write(assessor=nist, rows=twice, replace=True)
    with pytest.raises(JudgmentWriteError, match="not 0..3"):
        judgments_write(assessor=nist, rows=[JudgmentRow(query_id=qs[0].pk, passage_id=ps[1].pk, grade=4)])
    assert stored(nist) == {(qs[0].pk, ps[0].pk): 1}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("many", [False, True], ids=["bulk_create", "copy"])
def test_a_failing_write_leaves_the_judgments_and_the_agreement_as_they_were(many):
    qs, ps = corpus("c", queries=1, passages=COPY_THRESHOLD + 2 if many else 4)
    nist = Assessor.objects.create(name="nist", kind=Assessor.OFFICIAL)
    llm = Assessor.objects.create(name="llm", kind=Assessor.LLM)
    for who in (nist, llm):
        judgments_write(assessor=who, rows=[JudgmentRow(query_id=qs[0].pk, passage_id=p.pk, grade=1) for p in ps])
    before_grades = aligned_labels(collection="c", assessors=["nist", "llm"]).grades.tolist()
    before = sorted(Judgment.objects.values_list("assessor_id", "query_id", "passage_id", "grade", "updated_at"))
    missing_passage = max(p.pk for p in ps) + 1000
    rows = [JudgmentRow(query_id=qs[0].pk, passage_id=p.pk, grade=3) for p in ps[1:]]
    rows.append(JudgmentRow(query_id=qs[0].pk, passage_id=missing_passage, grade=0))
    with pytest.raises(IntegrityError):
        judgments_write(assessor=llm, rows=rows, replace=True)  # would also delete ps[0]'s judgment
    assert sorted(Judgment.objects.values_list("assessor_id", "query_id", "passage_id", "grade", "updated_at")) == before
    assert aligned_labels(collection="c", assessors=["nist", "llm"]).grades.tolist() == before_grades


def test_agreement_follows_every_write_through_the_service(nist, llm):
    """Built label arrays are never served after a write: update, delete, insert, re-grade."""
    qs, ps = corpus("live", queries=1)
    q = qs[0]
    for who in (nist, llm):
        judgments_write(assessor=who, rows=[JudgmentRow(query_id=q.pk, passage_id=p.pk, grade=g) for p, g in zip(ps, [0, 1, 2, 3])])

    def grades():
        return aligned_labels(collection="live", assessors=["nist", "llm"]).grades.tolist()

    assert grades() == [[0, 0], [1, 1], [2, 2], [3, 3]]
    assert LabelArray.objects.count() == 2  # the copies now exist and are what the next reads check
    judgments_write(assessor=llm, rows=[JudgmentRow(query_id=q.pk, passage_id=ps[3].pk, grade=0)])
    assert grades()[3] == [3, 0]
    assert judgments_delete(assessor=llm, pairs=[(q.pk, ps[0].pk)]) == 1
    assert grades() == [[1, 1], [2, 2], [3, 0]]
    judgments_write(assessor=nist, rows=[JudgmentRow(query_id=q.pk, passage_id=ps[1].pk, grade=3)])
    assert grades()[0] == [3, 1]
    judgments_write(assessor=llm, rows=[JudgmentRow(query_id=q.pk, passage_id=ps[0].pk, grade=2)])
    assert grades()[0] == [0, 2]
    judgments_write(
        assessor=llm, rows=[JudgmentRow(query_id=q.pk, passage_id=ps[1].pk, grade=None, valid=False, raw_response="?")]
    )
    assert grades() == [[0, 2], [2, 2], [3, 0]]  # an invalid answer leaves the pair out


def test_pair_figures_change_right_after_a_write_and_match_sklearn(nist, llm):
    qs, ps = corpus("c", queries=5, passages=40)
    rng = np.random.default_rng(7)
    ref = rng.integers(0, 4, 200)
    other = np.where(rng.random(200) < 0.5, ref, rng.integers(0, 4, 200))
    pairs = [(q.pk, p.pk) for q in qs for p in ps]
    judgments_write(assessor=nist, rows=[JudgmentRow(query_id=q, passage_id=p, grade=int(g)) for (q, p), g in zip(pairs, ref)])
    judgments_write(assessor=llm, rows=[JudgmentRow(query_id=q, passage_id=p, grade=int(g)) for (q, p), g in zip(pairs, other)])

    def kappa() -> float:
        data = aligned_labels(collection="c", assessors=["nist", "llm"])
        return agreement.pair_agreement(data.grades[:, 0], data.grades[:, 1], data.query_ids, n_boot=0).kappa

    assert kappa() == pytest.approx(cohen_kappa_score(ref, other), abs=1e-12)
    flipped = other.copy()
    flipped[:50] = (flipped[:50] + 1) % 4
    judgments_write(assessor=llm, rows=[JudgmentRow(query_id=q, passage_id=p, grade=int(g))
                                        for (q, p), g in zip(pairs[:50], flipped[:50])])
    assert kappa() == pytest.approx(cohen_kappa_score(ref, flipped), abs=1e-12)


def test_delete_removes_only_the_given_pairs_of_the_assessor(nist, llm):
    qs, ps = corpus("c")
    for who in (nist, llm):
        judgments_write(assessor=who, rows=[JudgmentRow(query_id=q.pk, passage_id=p.pk, grade=1) for q in qs for p in ps])
    assert judgments_delete(assessor=llm, pairs=[(qs[0].pk, ps[0].pk), (qs[1].pk, ps[2].pk), (qs[1].pk, ps[3].pk)]) == 3
    assert judgments_delete(assessor=llm, pairs=[(qs[0].pk, ps[0].pk)]) == 0
    assert len(stored(llm)) == 5 and len(stored(nist)) == 8
    assert (qs[1].pk, ps[2].pk) not in stored(llm)


def test_one_grade_is_written_in_few_queries(nist, django_assert_max_num_queries):
    qs, ps = corpus("c")
    row = JudgmentRow(query_id=qs[0].pk, passage_id=ps[0].pk, grade=2)
    # what the annotation submit pays: the stored row, the upsert, the new label version
    with django_assert_max_num_queries(3):
        judgments_write(assessor=nist, rows=[row])
    with django_assert_max_num_queries(1):  # the same grade again: read, nothing to write
        judgments_write(assessor=nist, rows=[row])


def test_no_trigger_is_left_on_the_judgment_table(db):
    if connection.vendor != "postgresql":
        pytest.skip("triggers only ever existed on PostgreSQL")
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'analysis_judgment'::regclass AND NOT tgisinternal")
        assert cursor.fetchall() == []


def test_a_small_write_patches_the_packed_arrays_and_the_report_equals_sklearn_on_the_table(nist, llm):
    """Deletes, a re-grade, a new pair and an invalid answer: the fresh arrays are patched in
    the write (no rebuild on the next read) and the figures equal scikit-learn's on the table."""
    qs, ps = corpus("big", queries=4, passages=60)
    pairs = [(q.pk, p.pk) for q in qs for p in ps[:50]]
    rng = np.random.default_rng(11)
    for who in (nist, llm):
        judgments_write(assessor=who, rows=[JudgmentRow(query_id=q, passage_id=p, grade=int(g))
                                            for (q, p), g in zip(pairs, rng.integers(0, 4, len(pairs)))])
    aligned_labels(collection="big", assessors=["nist", "llm"])  # both arrays built
    built = dict(LabelArray.objects.values_list("assessor_id", "built_at"))
    (q0, p0), (q1, p1), (q2, p2) = pairs[0], pairs[77], pairs[150]
    old_grade = Judgment.objects.get(assessor=llm, query_id=q1, passage_id=p1).grade
    judgments_write(assessor=llm, rows=[
        JudgmentRow(query_id=q1, passage_id=p1, grade=(old_grade + 1) % 4),  # a grade change
        JudgmentRow(query_id=q2, passage_id=p2, grade=None, valid=False, raw_response="?"),  # invalid
        JudgmentRow(query_id=qs[0].pk, passage_id=ps[55].pk, grade=2),  # a new pair (nist has none)
        JudgmentRow(query_id=qs[1].pk, passage_id=ps[55].pk, grade=1),
    ])
    judgments_write(assessor=nist, rows=[JudgmentRow(query_id=qs[1].pk, passage_id=ps[55].pk, grade=3),
                                         JudgmentRow(query_id=qs[2].pk, passage_id=ps[55].pk, grade=0)])
    assert judgments_delete(assessor=llm, pairs=[(q0, p0), pairs[5], pairs[199]]) == 3

    def from_table(who: Assessor) -> dict[tuple[int, int], int]:
        return {(q, p): g for q, p, g in Judgment.objects.filter(assessor=who, valid=True, grade__isnull=False)
                .values_list("query_id", "passage_id", "grade")}

    patched = {a: (np.frombuffer(k, dtype="<i8"), np.frombuffer(g, dtype=np.int8))
               for a, k, g in LabelArray.objects.values_list("assessor_id", "keys", "grades")}
    for who in (nist, llm):
        table = from_table(who)
        assert patched[who.pk][0].tolist() == sorted((q << 32) | p for q, p in table)
        assert patched[who.pk][1].tolist() == [table[k] for k in sorted(table)]
    after_writes = dict(LabelArray.objects.values_list("assessor_id", "built_at"))
    assert all(after_writes[a] > built[a] for a in built)  # the writes stored new arrays
    data = aligned_labels(collection="big", assessors=["nist", "llm"])
    # the read found both arrays fresh: nothing was rebuilt
    assert dict(LabelArray.objects.values_list("assessor_id", "built_at")) == after_writes
    ref_table, llm_table = from_table(nist), from_table(llm)
    shared = sorted(set(ref_table) & set(llm_table))
    ref = np.array([ref_table[k] for k in shared])
    other = np.array([llm_table[k] for k in shared])
    result = agreement.pair_agreement(data.grades[:, 0], data.grades[:, 1], data.query_ids, n_boot=0)
    assert result.n == len(shared) == 200 - 4 + 1  # 3 deleted, 1 invalid, (q1, d55) new in both
    assert result.kappa == pytest.approx(cohen_kappa_score(ref, other), abs=1e-12)
    assert result.kappa_quadratic == pytest.approx(cohen_kappa_score(ref, other, weights="quadratic"), abs=1e-12)


def test_a_write_larger_than_the_patch_share_leaves_the_array_to_be_rebuilt(nist, llm):
    qs, ps = corpus("c", queries=1, passages=40)
    for who in (nist, llm):
        judgments_write(assessor=who, rows=[JudgmentRow(query_id=qs[0].pk, passage_id=p.pk, grade=1) for p in ps])
    aligned_labels(collection="c", assessors=["nist", "llm"])
    versions = dict(LabelArray.objects.values_list("assessor_id", "version"))
    judgments_write(assessor=llm, rows=[JudgmentRow(query_id=qs[0].pk, passage_id=p.pk, grade=3) for p in ps[:10]])
    assert dict(LabelArray.objects.values_list("assessor_id", "version")) == versions  # 25% > 5%: not patched
    assert aligned_labels(collection="c", assessors=["nist", "llm"]).grades[:, 1].tolist() == [3] * 10 + [1] * 30


@pytest.mark.django_db(transaction=True)
def test_concurrent_small_writes_and_reads_leave_the_patched_array_equal_to_the_table():
    """Four writers of the same assessor and a reader at once: each writer patches the array
    after the ones before it (the version row's lock), so the copy stored and served at the
    end is the table's."""
    if connection.vendor != "postgresql":
        pytest.skip("the race needs PostgreSQL")
    import threading

    from django.db import connections

    qs, ps = corpus("race", queries=4, passages=50)
    nist = Assessor.objects.create(name="nist", kind=Assessor.OFFICIAL)
    llm = Assessor.objects.create(name="llm", kind=Assessor.LLM)
    pairs = [(q.pk, p.pk) for q in qs for p in ps]
    for who in (nist, llm):
        judgments_write(assessor=who, rows=[JudgmentRow(query_id=q, passage_id=p, grade=1) for q, p in pairs])
    aligned_labels(collection="race", assessors=["nist", "llm"])
    start = threading.Barrier(5)
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        try:
            rng = np.random.default_rng(seed)
            start.wait()
            for _ in range(5):
                # each writer its own pairs: the same pair in two writes is ordered by the row's lock
                picked = rng.choice(np.arange(seed, len(pairs), 4), 4, replace=False)
                grades = [(seed + int(i)) % 5 for i in picked]  # 4: an answer that could not be parsed
                judgments_write(assessor=llm, rows=[
                    JudgmentRow(query_id=pairs[i][0], passage_id=pairs[i][1], grade=None if g == 4 else g, valid=g != 4)
                    for i, g in zip(picked, grades)
                ])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    def reader() -> None:
        try:
            start.wait()
            for _ in range(5):
                aligned_labels(collection="race", assessors=["nist", "llm"])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(4)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    table = {(q, p): g for q, p, g in Judgment.objects.filter(assessor=llm, valid=True, grade__isnull=False)
             .values_list("query_id", "passage_id", "grade")}
    served = aligned_labels(collection="race", assessors=["nist", "llm"])
    assert served.grades[:, 1].tolist() == [table[k] for k in sorted(table)]
    keys = np.frombuffer(LabelArray.objects.get(assessor=llm).keys, dtype="<i8")
    assert keys.tolist() == sorted((q << 32) | p for q, p in table)
