"""No secret of the server leaves it through an LLM endpoint.

The client sends the value of the endpoint's ``api_key_env`` as a bearer token to its
base URL, so a staff user who could name any variable could have the server deliver
SECRET_KEY or DATABASE_URL to a listener of their own. These tests put a real listener
on 127.0.0.1 and try, through the API, the web form, the admin, the commands and an
endpoint stored before the rules: the listener must receive no byte at all.
"""
from __future__ import annotations

import io
import json
import logging
import socket
import socketserver
import threading
import time

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from analysis.models import Assessor, Collection, Judgment, Passage, Query
from judges import selectors, services
from judges.client import CallEngine, CallRequest, EndpointConfig
from judges.endpoint_policy import host_refusal, key_env_refusal
from judges.models import Endpoint, LLMCall, LLMJob

SERVER_SECRET = "the-server-secret-0f9e8d7c6b5a"
LAB_KEY = "sk-lab-key-1a2b3c4d5e6f"
REFUSED_NAMES = ["SECRET_KEY", "DATABASE_URL", "HARDQ_LLM_KEY_ENVS", "PATH", "OPENAI_API_KEY_AND_MORE", "X;rm -rf"]

pytestmark = pytest.mark.django_db


class Listener:
    """A TCP server on 127.0.0.1 that keeps every byte it is sent and answers like a chat endpoint."""

    ANSWER = json.dumps({"choices": [{"message": {"content": "2"}}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}})

    def __init__(self) -> None:
        self.received = bytearray()
        self.connections = 0
        self.lock = threading.Lock()
        listener = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with listener.lock:
                    listener.connections += 1
                data = b""
                self.request.settimeout(5)
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = self.request.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    while len(body) < length:
                        chunk = self.request.recv(65536)
                        if not chunk:
                            break
                        body += chunk
                        data += chunk
                except socket.timeout:
                    pass
                with listener.lock:
                    listener.received += data
                answer = listener.ANSWER.encode()
                self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                                     b"Content-Length: " + str(len(answer)).encode() + b"\r\n\r\n" + answer)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> Listener:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def got_nothing(self) -> bool:
        time.sleep(0.2)  # a request in flight would have connected by now
        with self.lock:
            return self.connections == 0 and not self.received


@pytest.fixture
def listener():
    with Listener() as server:
        yield server


@pytest.fixture
def secrets_in_env(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", SERVER_SECRET)
    monkeypatch.setenv("HARDQ_LLM_KEY_LAB", LAB_KEY)


@pytest.fixture
def collection() -> Collection:
    collection = Collection.objects.create(name="mini")
    official = Assessor.objects.create(name="official", kind=Assessor.OFFICIAL)
    query = Query.objects.create(collection=collection, qid="1", text="what is a secret")
    for j in range(3):
        passage = Passage.objects.create(collection=collection, docid=f"d{j}", text=f"passage {j}")
        Judgment.objects.create(query=query, passage=passage, assessor=official, grade=j)
    return collection


@pytest.fixture
def staff_api(admin_user) -> APIClient:
    api = APIClient()
    api.force_authenticate(admin_user)
    return api


def test_the_rules_name_what_is_allowed(settings):
    assert key_env_refusal("") is None  # no key at all (a local Ollama)
    assert key_env_refusal("OPENAI_API_KEY") is None
    assert key_env_refusal("HARDQ_LLM_KEY_VLLM") is None
    for name in REFUSED_NAMES:
        assert "HARDQ_LLM_KEY_ENVS" in key_env_refusal(name)
    settings.HARDQ_LLM_KEY_ENVS = ["LAB_*"]
    assert key_env_refusal("LAB_TOKEN") is None and key_env_refusal("HARDQ_LLM_KEY_VLLM") is not None
    assert key_env_refusal(settings.HARDQ_LLM_API_KEY_ENV) is None  # the commands' default stays allowed
    assert host_refusal("http://anything.example:8000/v1") is None  # empty list: any host
    settings.HARDQ_LLM_ALLOWED_HOSTS = ["llm.lab.example", ".gpu.lab.example"]
    assert host_refusal("https://llm.lab.example/v1") is None
    assert host_refusal("http://node3.gpu.lab.example:8000/v1") is None
    assert "HARDQ_LLM_ALLOWED_HOSTS" in host_refusal("http://127.0.0.1:9/v1")
    assert "HARDQ_LLM_ALLOWED_HOSTS" in host_refusal("http://llm.lab.example.evil.org/v1")
    assert "http://" in host_refusal("ftp://llm.lab.example/v1")


@pytest.mark.parametrize("name", REFUSED_NAMES)
def test_the_api_refuses_a_key_variable_the_operator_did_not_allow_and_sends_nothing(
    name, staff_api, collection, listener, secrets_in_env, django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post("/api/llm-jobs/", {
            "kind": "judge", "collection": "mini", "base_url": listener.base_url, "model": "m", "api_key_env": name,
        }, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert "is not a variable the operator allowed" in error["details"]["api_key_env"][0]
    assert listener.got_nothing()
    assert not Endpoint.objects.exists() and not LLMJob.objects.exists()


def test_the_relabel_stage_two_endpoint_is_checked_too(staff_api, listener, secrets_in_env, settings):
    settings.HARDQ_LLM_ALLOWED_HOSTS = ["llm.lab.example"]
    response = staff_api.post("/api/llm-jobs/", {
        "kind": "relabel", "training_set": "t", "base_url": "http://llm.lab.example/v1", "model": "m",
        "base_url2": listener.base_url, "model2": "m2",
    }, format="json")
    assert response.status_code == 400
    assert "not an allowed LLM endpoint host" in response.json()["error"]["details"]["base_url2"][0]
    assert listener.got_nothing() and not Endpoint.objects.exists()


def test_the_api_refuses_a_host_outside_the_allow_list_and_sends_nothing(
    staff_api, collection, listener, secrets_in_env, settings, django_capture_on_commit_callbacks,
):
    settings.HARDQ_LLM_ALLOWED_HOSTS = ["llm.lab.example"]
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post("/api/llm-jobs/", {
            "kind": "judge", "collection": "mini", "base_url": listener.base_url, "model": "m",
            "api_key_env": "HARDQ_LLM_KEY_LAB",
        }, format="json")
    assert response.status_code == 400
    assert "'127.0.0.1' is not an allowed LLM endpoint host" in response.json()["error"]["details"]["base_url"][0]
    assert listener.got_nothing() and not LLMJob.objects.exists()


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL"])
def test_the_web_form_refuses_a_key_variable_the_operator_did_not_allow_and_sends_nothing(
    name, client, admin_user, collection, listener, secrets_in_env, django_capture_on_commit_callbacks,
):
    client.force_login(admin_user)
    template = selectors.template_resolve(prompt="graded", kinds=["graded"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("judges:job_create"), {
            "kind": "judge", "collection": collection.pk, "base_url": listener.base_url, "model": "m",
            "api_key_env": name, "template": template.pk, "samples": 1, "concurrency": 4, "rounds": 1, "policy": "move",
        })
    assert response.status_code == 200
    html = response.content.decode()
    assert f"&#x27;{name}&#x27; is not a variable the operator allowed for LLM keys" in html
    assert "allowed: OPENAI_API_KEY, HARDQ_LLM_KEY_*" in html  # the help text says what would do
    assert listener.got_nothing()
    assert not Endpoint.objects.exists() and not LLMJob.objects.exists()


def test_the_admin_endpoint_form_refuses_what_the_api_refuses(client, admin_user, listener, settings):
    client.force_login(admin_user)
    settings.HARDQ_LLM_ALLOWED_HOSTS = ["llm.lab.example"]
    response = client.post("/admin/judges/endpoint/add/", {
        "name": "exfiltrate", "base_url": listener.base_url, "model": "m", "parameters": "{}",
        "api_key_env": "SECRET_KEY", "rate_limit": 0, "timeout": 60, "max_attempts": 5,
    })
    assert response.status_code == 200
    html = response.content.decode()
    assert "is not a variable the operator allowed for LLM keys" in html
    assert "is not an allowed LLM endpoint host" in html
    assert not Endpoint.objects.exists()


def test_the_commands_refuse_it_with_a_message(collection, listener, secrets_in_env):
    with pytest.raises(CommandError, match="'SECRET_KEY' is not a variable the operator allowed"):
        call_command("judge", "--collection", "mini", "--base-url", listener.base_url, "--model", "m",
                     "--api-key-env", "SECRET_KEY", "--prompt", "graded", stdout=io.StringIO(), stderr=io.StringIO())
    assert listener.got_nothing() and not Endpoint.objects.exists()


@pytest.mark.parametrize("stored", [
    {"api_key_env": "SECRET_KEY"},  # stored before the key rule (or by a raw SQL insert)
    {"api_key_env": "HARDQ_LLM_KEY_LAB", "rule": ["llm.lab.example"]},  # host rule tightened after storing
])
def test_an_endpoint_stored_before_the_rules_is_never_called(
    stored, collection, listener, secrets_in_env, settings, django_capture_on_commit_callbacks,
):
    endpoint = Endpoint.objects.create(name="old", base_url=listener.base_url, model="m", api_key_env=stored["api_key_env"])
    settings.HARDQ_LLM_ALLOWED_HOSTS = stored.get("rule", [])
    template = selectors.template_resolve(prompt="graded", kinds=["graded"])
    job = services.job_create_judge(collection=collection, endpoint=endpoint, template=template)
    with django_capture_on_commit_callbacks(execute=True):
        services.job_start(job=job)
    job.refresh_from_db()
    assert listener.got_nothing()
    assert (job.done, job.failed) == (0, 3)
    errors = set(LLMCall.objects.filter(job=job).values_list("error", flat=True))
    assert errors and all(e.startswith("EndpointRefused") for e in errors), errors


def test_an_allowed_variable_still_works_against_the_fake_llm(
    staff_api, collection, fake_llm, secrets_in_env, django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post("/api/llm-jobs/", {
            "kind": "judge", "collection": "mini", "base_url": fake_llm.base_url, "model": "fake",
            "api_key_env": "HARDQ_LLM_KEY_LAB",
        }, format="json")
    assert response.status_code == 201, response.content
    job = LLMJob.objects.get()
    assert (job.status, job.done + job.invalid, job.failed) == (LLMJob.DONE, 3, 0)
    assert job.endpoint.api_key_env == "HARDQ_LLM_KEY_LAB"


def test_an_allowed_key_reaches_its_endpoint_and_is_never_stored_logged_or_shown(
    client, admin_user, staff_api, collection, listener, secrets_in_env, caplog, django_capture_on_commit_callbacks,
):
    caplog.set_level(logging.DEBUG)  # the SDK and its HTTP client log requests at DEBUG
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post("/api/llm-jobs/", {
            "kind": "judge", "collection": "mini", "base_url": listener.base_url, "model": "m",
            "api_key_env": "HARDQ_LLM_KEY_LAB",
        }, format="json")
    assert response.status_code == 201, response.content
    job = LLMJob.objects.get()
    assert job.done == 3
    assert f"Authorization: Bearer {LAB_KEY}".lower().encode() in bytes(listener.received).lower()
    assert SERVER_SECRET.encode() not in listener.received
    client.force_login(admin_user)
    shown = [
        response.content,
        staff_api.get(f"/api/llm-jobs/{job.pk}/").content,
        staff_api.get(f"/api/llm-jobs/{job.pk}/calls/").content,
        client.get(reverse("judges:job_detail", args=[job.pk])).content,
        client.get(f"/admin/judges/endpoint/{job.endpoint_id}/change/").content,
        client.get("/admin/judges/llmcall/").content,
    ]
    assert all(LAB_KEY.encode() not in page for page in shown)
    stored = [repr(list(model.objects.values())) for model in (Endpoint, LLMJob, LLMCall)]
    assert all(LAB_KEY not in text for text in stored)
    assert LAB_KEY not in caplog.text
    assert LAB_KEY not in repr(EndpointConfig(key=1, base_url="http://x", model="m", api_key_env="HARDQ_LLM_KEY_LAB"))


def test_the_client_does_not_read_or_send_a_refused_variable(listener, secrets_in_env):
    config = EndpointConfig(key=1, base_url=listener.base_url, model="m", api_key_env="SECRET_KEY", max_attempts=3)
    assert config.api_key() == "not-needed"
    engine = CallEngine([config], concurrency=1)
    try:
        outcome = engine.submit(CallRequest(endpoint=1, messages=[{"role": "user", "content": "hi"}], parameters={})).result(10)
    finally:
        engine.close()
    assert outcome.error.startswith("EndpointRefused") and outcome.attempts == 0
    assert listener.got_nothing()
