import pytest

from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_annotator_logs_in_and_sees_collections(page, live_server, alice):
    from analysis.models import Collection

    Collection.objects.create(name="dl19", corpus="msmarco-v1-passage")
    browser_login(page, live_server, "alice", "alice-pass-123")
    assert page.locator("h1").inner_text() == "Collections"
    assert "dl19" in page.content()
