"""A crafted ``?cursor=`` is the caller's error (400 with the error body), never a 500.

Cursors only come from a page's next/previous link; these are what a curious script or
a fuzzer sends instead: not base64, base64 of positions that are not ids, ids beyond
the column's range, unreadable offsets and directions.
"""
from __future__ import annotations

import base64

import pytest


def encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


CRAFTED = [
    "not-base64!",
    "é",
    encoded("p=abc"),
    encoded("p=1e30"),
    encoded("p=" + "9" * 30),
    encoded(f"p={2**63}"),
    encoded("p=-1"),
    encoded("p=1.5"),
    encoded("p="),
    encoded("o=abc"),
    encoded("r=yes"),
]


def endpoints(corpus) -> list[str]:
    return ["/api/passages/", "/api/judgments/", f"/api/runs/{corpus.run.pk}/rows/"]


@pytest.mark.parametrize("cursor", CRAFTED)
def test_a_crafted_cursor_is_a_400_with_the_error_body(admin_api, corpus, cursor):
    for url in endpoints(corpus):
        response = admin_api.get(url, {"cursor": cursor})
        assert response.status_code == 400, (url, cursor, response.content[:300])
        error = response.json()["error"]
        assert error["code"] == "invalid_cursor"
        assert "leave cursor out for the first page" in error["message"]
        assert "cursor" in error["details"]


def test_the_links_cursors_still_page_through_every_endpoint(admin_api, corpus):
    expected = {"/api/passages/": 6, "/api/judgments/": 36, f"/api/runs/{corpus.run.pk}/rows/": 18}
    for url, count in expected.items():
        page = admin_api.get(url, {"page_size": 4}).json()
        rows = len(page["results"])
        while page["next"]:
            page = admin_api.get(page["next"]).json()
            rows += len(page["results"])
        assert rows == count
        assert admin_api.get(page["previous"]).json()["results"]  # the way back decodes too
        # a position at the largest id there can be is a valid (empty) page, not an error
        last = admin_api.get(url, {"cursor": encoded(f"p={2**63 - 1}")})
        assert last.status_code == 200 and last.json()["results"] == []
