"""The Batch API on the fake OpenAI-compatible server (``fake_llm``): files and batches.

``FakeBatchServer`` is ``FakeLLMServer`` with these routes mounted beside the chat one:

- ``POST /v1/files`` (multipart upload, purpose ``batch``), ``GET /v1/files/{id}/content``;
- ``POST /v1/batches`` (create), ``GET /v1/batches/{id}`` (retrieve),
  ``POST /v1/batches/{id}/cancel``.

A batch answers each line of its input file through the fake's own chat endpoint (a
request to ``/v1/chat/completions`` on the same server), so its answers, faults, styles
and logprobs are exactly the online ones, and every line counts as a chat request. The
answers are written in OpenAI's files: a 200 in the output file, any other status (or a
body no client can read) in the error file, the lines a batch never reached as
``batch_expired`` / ``batch_cancelled`` errors.

When a batch ends is set by ``BatchConfig``: ``polls_to_finish`` retrieves report it
``in_progress`` first; ``expire_next`` makes the next batch to end expire after that
many lines (one shot); a batch cancelled before it ended answers ``cancel_answers`` of
its lines first.
"""
from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from tests.judges.fake_llm import FakeConfig, FakeLLMServer, FakeState, _Server, make_handler


@dataclass
class BatchConfig:
    polls_to_finish: int = 1
    expire_next: int | None = None
    cancel_answers: int = 0


class BatchStore:
    """The fake's files and batches, and a count of every Batch API request."""

    def __init__(self, config: BatchConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.files: dict[str, tuple[str, str, bytes]] = {}  # id -> filename, purpose, content
        self.batches: dict[str, dict[str, Any]] = {}
        self.polls: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()  # route -> count
        self.created: list[str] = []

    def add_file(self, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
        with self.lock:
            file_id = f"file-{len(self.files) + 1:04d}"
            self.files[file_id] = (filename, purpose, content)
        return file_object(file_id, filename, purpose, content)

    def input_lines(self, batch_id: str) -> list[dict[str, Any]]:
        content = self.files[self.batches[batch_id]["input_file_id"]][2]
        return [json.loads(line) for line in content.decode("utf-8").splitlines() if line.strip()]


def file_object(file_id: str, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
    return {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
            "filename": filename, "purpose": purpose, "status": "processed"}


def ask_chat(port: int, body: dict[str, Any]) -> tuple[int, bytes]:
    """One line through the fake's chat endpoint: its status and raw body."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions", data=json.dumps(body).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def answer_lines(port: int, lines: list[dict[str, Any]], batch_id: str) -> tuple[list[dict], list[dict]]:
    """The output and error lines of the input lines answered."""
    output, errors = [], []
    for n, line in enumerate(lines, 1):
        status, raw = ask_chat(port, line["body"])
        base = {"id": f"batch_req_{batch_id}_{n}", "custom_id": line["custom_id"]}
        try:
            body = json.loads(raw)
        except ValueError:
            errors.append({**base, "response": None,
                           "error": {"code": "server_error", "message": f"unreadable answer ({status})"}})
            continue
        entry = {**base, "response": {"status_code": status, "request_id": f"req_{n}", "body": body}, "error": None}
        (output if status == 200 else errors).append(entry)
    return output, errors


def make_batch_handler(state: FakeState, store: BatchStore, port: Callable[[], int]) -> type:
    base = make_handler(state)

    class Handler(base):  # type: ignore[misc, valid-type]
        def _json(self, status: int, payload: dict[str, Any]) -> None:
            self._send(status, json.dumps(payload).encode("utf-8"))

        def do_GET(self) -> None:
            path = self.path.rstrip("/")
            if match := re.fullmatch(r"/v1/files/([\w-]+)/content", path):
                store.requests["files.content"] += 1
                found = store.files.get(match.group(1))
                if found is None:
                    self._json(404, {"error": {"message": "no such file"}})
                else:
                    self._send(200, found[2], {"Content-Type": "application/jsonl"})
            elif match := re.fullmatch(r"/v1/batches/([\w-]+)", path):
                store.requests["batches.retrieve"] += 1
                batch = self.retrieve(match.group(1))
                self._json(200, batch) if batch else self._json(404, {"error": {"message": "no such batch"}})
            else:
                super().do_GET()

        def do_POST(self) -> None:
            path = self.path.rstrip("/")
            if path == "/v1/files":
                store.requests["files.create"] += 1
                self.upload()
            elif path == "/v1/batches":
                store.requests["batches.create"] += 1
                self.create()
            elif match := re.fullmatch(r"/v1/batches/([\w-]+)/cancel", path):
                store.requests["batches.cancel"] += 1
                self.cancel(match.group(1))
            else:
                super().do_POST()

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def upload(self) -> None:
            raw = self._body()
            head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode()
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
            fields: dict[str, Any] = {}
            for part in message.iter_parts():  # type: ignore[attr-defined]
                name = part.get_param("name", header="content-disposition")
                fields[name] = (part.get_filename(), part.get_payload(decode=True))
            if "file" not in fields or fields.get("purpose", (None, b""))[1] != b"batch":
                self._json(400, {"error": {"message": "expected a file and purpose=batch"}})
                return
            filename, content = fields["file"]
            self._json(200, store.add_file(filename or "upload.jsonl", "batch", content))

        def create(self) -> None:
            request = json.loads(self._body() or b"{}")
            if request.get("input_file_id") not in store.files or request.get("completion_window") != "24h" \
                    or request.get("endpoint") != "/v1/chat/completions":
                self._json(400, {"error": {"message": "bad batch request"}})
                return
            with store.lock:
                batch_id = f"batch_{len(store.batches) + 1:04d}"
                store.batches[batch_id] = {
                    "id": batch_id, "object": "batch", "endpoint": request["endpoint"], "errors": None,
                    "input_file_id": request["input_file_id"], "completion_window": "24h", "status": "validating",
                    "output_file_id": None, "error_file_id": None, "created_at": int(time.time()),
                    "metadata": request.get("metadata"), "request_counts": {"total": 0, "completed": 0, "failed": 0},
                }
                store.created.append(batch_id)
            store.batches[batch_id]["request_counts"]["total"] = len(store.input_lines(batch_id))
            self._json(200, store.batches[batch_id])

        def cancel(self, batch_id: str) -> None:
            batch = store.batches.get(batch_id)
            if batch is None:
                self._json(404, {"error": {"message": "no such batch"}})
                return
            if batch["status"] in ("validating", "in_progress", "finalizing"):
                batch["status"] = "cancelling"
            self._json(200, batch)

        def retrieve(self, batch_id: str) -> dict[str, Any] | None:
            batch = store.batches.get(batch_id)
            if batch is None:
                return None
            store.polls[batch_id] += 1
            if batch["status"] == "cancelling":
                self.end_batch(batch, answer=store.config.cancel_answers, status="cancelled", left="batch_cancelled")
            elif batch["status"] in ("validating", "in_progress"):
                if store.polls[batch_id] <= store.config.polls_to_finish:
                    batch["status"] = "in_progress"
                else:
                    expire = store.config.expire_next
                    store.config.expire_next = None
                    if expire is None:
                        self.end_batch(batch, answer=None, status="completed", left="")
                    else:
                        self.end_batch(batch, answer=expire, status="expired", left="batch_expired")
            return batch

        def end_batch(self, batch: dict[str, Any], *, answer: int | None, status: str, left: str) -> None:
            lines = store.input_lines(batch["id"])
            asked = lines if answer is None else lines[:answer]
            output, errors = answer_lines(port(), asked, batch["id"])
            errors += [{"id": f"batch_req_{batch['id']}_left_{n}", "custom_id": line["custom_id"], "response": None,
                        "error": {"code": left, "message": f"the batch was {status} before this request ran"}}
                       for n, line in enumerate(lines[len(asked):], 1)]
            for name, rows in (("output_file_id", output), ("error_file_id", errors)):
                if rows:
                    content = "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8")
                    batch[name] = store.add_file(f"{batch['id']}_{name}.jsonl", "batch_output", content)["id"]
            batch["status"] = status
            batch["request_counts"] = {"total": len(lines), "completed": len(output), "failed": len(errors)}
            batch[f"{status}_at"] = int(time.time())

    return Handler


class FakeBatchServer(FakeLLMServer):
    """The fake chat server with the Batch API mounted: ``with FakeBatchServer() as srv``."""

    def __init__(self, config: FakeConfig | None = None, batch_config: BatchConfig | None = None, port: int = 0) -> None:
        self.state = FakeState(config or FakeConfig())
        self.store = BatchStore(batch_config or BatchConfig())
        self.httpd = _Server(("127.0.0.1", port), make_batch_handler(self.state, self.store, lambda: self.port))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def request_count(self) -> int:
        """Every request the server was sent: chat calls (batch lines among them) and Batch API requests."""
        return sum(self.state.requests.values()) + sum(self.store.requests.values())
