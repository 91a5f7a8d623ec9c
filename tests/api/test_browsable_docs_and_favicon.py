"""The browsable API's campaign page, the API docs without any CDN, and a favicon."""
from __future__ import annotations

import re

import pytest


@pytest.mark.django_db
def test_campaign_detail_in_the_browsable_api_renders_for_staff(client, admin_user):
    from analysis.models import Collection
    from annotation.models import Campaign

    campaign = Campaign.objects.create(name="c", kind=Campaign.RELEVANCE, collection=Collection.objects.create(name="c1"))
    client.force_login(admin_user)
    response = client.get(f"/api/campaigns/{campaign.id}/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"PATCH" in response.content  # the status form is built
    assert client.get(f"/api/campaigns/{campaign.id}/").json()["name"] == "c"


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/redoc/", "/api/docs/"])
def test_api_docs_load_nothing_from_another_host(client, url):
    html = client.get(url).content.decode()
    external = [u for u in re.findall(r'(?:src|href)="([^"]+)"', html) if u.startswith(("http:", "https:", "//"))]
    assert external == []


@pytest.mark.django_db
def test_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")
    assert 'rel="icon"' in client.get("/accounts/login/").content.decode()
