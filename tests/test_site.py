import pytest


@pytest.mark.django_db
def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_home_lists_collections_for_signed_in_user(client, alice):
    from analysis.models import Collection

    Collection.objects.create(name="dl19", corpus="msmarco-v1-passage")
    client.force_login(alice)
    response = client.get("/")
    assert response.status_code == 200
    assert b"dl19" in response.content
