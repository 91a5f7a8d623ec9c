import pytest


@pytest.mark.django_db
def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_home_lists_collections_for_staff(client, admin_user):
    from analysis.models import Collection

    Collection.objects.create(name="dl19", corpus="msmarco-v1-passage")
    client.force_login(admin_user)
    response = client.get("/")
    assert response.status_code == 200
    assert b"dl19" in response.content


@pytest.mark.django_db
def test_home_sends_annotators_to_their_campaigns_without_corpus_data(client, alice):
    from analysis.models import Collection

    Collection.objects.create(name="dl19", corpus="msmarco-v1-passage")
    client.force_login(alice)
    response = client.get("/", follow=True)
    assert response.redirect_chain == [("/annotation/", 302)]
    assert b"dl19" not in response.content
    assert b"My annotation campaigns" in response.content


@pytest.mark.django_db
def test_the_403_page_is_the_sites_own(client, alice):
    client.force_login(alice)
    response = client.get("/judges/jobs/")
    assert response.status_code == 403
    html = response.content.decode()
    assert '<link rel="stylesheet" href="/static/hardq.css">' in html  # the site's layout, not Django's bare page
    assert "This page is for the project&#x27;s staff." in html
    assert "signed in as <strong>alice</strong>" in html
    assert "/admin/login/" not in html
