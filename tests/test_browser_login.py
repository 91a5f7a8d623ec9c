import pytest

from tests.conftest import ARTIFACTS, browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_admin_logs_in_and_sees_collections(page, live_server, admin_user):
    from analysis.models import Collection

    Collection.objects.create(name="dl19", corpus="msmarco-v1-passage")
    browser_login(page, live_server, "admin", "admin-pass-123")
    assert page.locator("h1").inner_text() == "Collections"
    assert "dl19" in page.content()


def test_annotator_logs_in_and_lands_on_her_campaigns_without_corpus_data(page, live_server, alice):
    from analysis.models import Collection

    Collection.objects.create(name="dl19", corpus="msmarco-v1-passage")
    browser_login(page, live_server, "alice", "alice-pass-123")
    assert page.url == f"{live_server.url}/annotation/"
    assert page.locator("h1").inner_text() == "My annotation campaigns"
    assert "dl19" not in page.content()
    assert page.locator("header nav a").all_inner_texts() == ["My campaigns"]
    # a staff page she opens by its address answers the site's 403 page, not the admin's login
    response = page.goto(f"{live_server.url}/analysis/")
    assert response.status == 403
    assert page.locator("h1").inner_text() == "This page is not for your account"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "annotator_403_page.png"))
    page.click("text=My campaigns >> nth=-1")
    page.wait_for_load_state("networkidle")
    assert page.url == f"{live_server.url}/annotation/"
