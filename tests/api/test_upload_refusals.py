"""POST /api/imports/ refuses what the commands refuse (issue 12: non-slug collection
names, empty files, names longer than their column, ranks outside the column), with a
400 and the error body, nothing written, and every page still answering afterwards."""
from __future__ import annotations

import pytest

from analysis.models import Assessor, Collection, System
from tests.analysis.importing import database_digest

pytestmark = pytest.mark.django_db

RUN = "1 Q0 d1 1 10.5 bm25\n"

CASES = [
    # (id, kind, file text, fields, status, what the error says)
    ("collection-space", "queries", "1\tq\n", {"collection": "bad name"}, "A collection name is 1 to 64"),
    ("collection-dots", "queries", "1\tq\n", {"collection": "../../x"}, "A collection name is 1 to 64"),
    ("collection-markup", "queries", "1\tq\n", {"collection": "<b>x</b>"}, "A collection name is 1 to 64"),
    ("collection-upper", "run", RUN, {"collection": "DL19", "system": "bm25"}, "A collection name is 1 to 64"),
    ("empty-queries", "queries", "", {"collection": "fresh"}, "empty"),
    ("blank-qrels", "qrels", " \n\t\n", {"collection": "fresh", "assessor": "x"}, "empty"),
    ("system-long", "run", RUN, {"collection": "fresh", "system": "s" * (System._meta.get_field("name").max_length + 1)},
     "no more than 128 characters"),
    ("assessor-long", "qrels", "1 Q0 d1 2\n",
     {"collection": "fresh", "assessor": "a" * (Assessor._meta.get_field("name").max_length + 1)}, "no more than 128 characters"),
    ("rank-2^31", "run", f"1 Q0 d1 {2**31} 1.0 bm25\n", {"collection": "fresh", "system": "bm25"}, "outside"),
    ("rank-1e30", "run", "1 Q0 d1 1" + "0" * 30 + " 1.0 bm25\n", {"collection": "fresh", "system": "bm25"}, "outside"),
]


@pytest.mark.parametrize("kind,text,fields,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_upload_api_refuses_what_the_commands_refuse(admin_api, tmp_path, kind, text, fields, message):
    path = tmp_path / f"{kind}.txt"
    path.write_text(text, encoding="utf-8")
    before = database_digest()
    with open(path, "rb") as fh:
        response = admin_api.post("/api/imports/", {"file": fh, "kind": kind, **fields}, format="multipart")
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert message in error["message"] or message in str(error["details"]), error
    assert database_digest() == before
    assert not Collection.objects.filter(name__in=["fresh", fields.get("collection", "")]).exists()


def test_the_home_page_answers_after_every_refusal(client, admin_user, admin_api, tmp_path):
    for _, kind, text, fields, _message in CASES:
        path = tmp_path / f"{kind}.txt"
        path.write_text(text, encoding="utf-8")
        with open(path, "rb") as fh:
            assert admin_api.post("/api/imports/", {"file": fh, "kind": kind, **fields}, format="multipart").status_code == 400
    client.force_login(admin_user)
    assert client.get("/").status_code == 200
