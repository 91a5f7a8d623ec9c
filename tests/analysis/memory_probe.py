"""Measure how much one import raises a process's peak memory, in a process of its own.

    python tests/analysis/memory_probe.py KIND FILE [--queries Q] [--option name=value ...]

KIND is an import kind (``run``, ``qrels``, ...: the ``import_<kind>`` command is called
with FILE and the options), ``upload`` (``POST /api/imports/`` with FILE, ``kind`` among
the options) or ``bundle`` (``POST /api/imports/bundle/`` with FILE, a zip). The
requests go through Django's WSGI handler with the body read from a file on disk, as a
server reads it from its socket, so the measure is the server's, not a test client's.

Everything runs in one transaction that is rolled back: the database is left as it
was (the test suite points ``DATABASE_URL`` at its test database). Before the
measure, the process has Django set up, the importers loaded, the database connected
``--queries`` (a small queries file the import needs) imported, and the same import
tried once on an empty file (refused), so that what the first call loads (the URLs and
views of a request, a command's module) is not counted. Printed on stdout:
one JSON object with ``before`` and ``after``, the peak resident set size in bytes
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) before and after the import, its
``seconds``, its HTTP ``status`` or its command output.
"""
from __future__ import annotations

import argparse
import gc
import io
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def peak_rss() -> int:
    """The process's peak resident set size so far, in bytes (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def multipart_body(path: Path, fields: dict[str, str], directory: Path) -> tuple[Path, str]:
    """A multipart/form-data body holding ``fields`` and the file, written to disk in chunks."""
    boundary = uuid.uuid4().hex
    body = directory / "body"
    with body.open("wb") as out:
        for name, value in fields.items():
            out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
        )
        with path.open("rb") as src:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        out.write(f"\r\n--{boundary}--\r\n".encode())
    return body, f"multipart/form-data; boundary={boundary}"


def post(url: str, body: Path, content_type: str, token: str) -> tuple[int, str]:
    """POST ``body`` (a file) to ``url`` through Django's WSGI handler; (status, response text)."""
    from django.core.handlers.wsgi import WSGIHandler

    statuses: list[str] = []
    with body.open("rb") as stream:
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": url, "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "testserver", "SERVER_PORT": "80", "HTTP_HOST": "testserver",
            "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(body.stat().st_size), "HTTP_AUTHORIZATION": f"Token {token}",
            "wsgi.input": stream, "wsgi.errors": sys.stderr, "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
        }
        chunks = WSGIHandler()(environ, lambda status, headers, exc_info=None: statuses.append(status))
        text = b"".join(chunks).decode("utf-8", "replace")
    return int(statuses[0].split()[0]), text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind")
    parser.add_argument("file", type=Path)
    parser.add_argument("--queries", type=Path, help="a queries file to import first (not measured)")
    parser.add_argument("--collection", default="bench")
    parser.add_argument("--option", action="append", default=[], help="name=value, an option of the import")
    args = parser.parse_args()
    options = dict(item.split("=", 1) for item in args.option)

    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hardq_site.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import CommandError, call_command
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections, connection, transaction
    from rest_framework.authtoken.models import Token

    from analysis.importers import services

    # As Django's test client does: a request must not close the connection that holds
    # the transaction the probe rolls back.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    connection.ensure_connection()
    result: dict[str, object] = {"kind": args.kind, "file_bytes": args.file.stat().st_size}
    with tempfile.TemporaryDirectory(prefix="hardq-probe-") as tmp, transaction.atomic():
        if args.queries:
            services.queries_import(path=args.queries, collection=args.collection)
        fields = {"collection": args.collection, **options}
        token = ""
        if args.kind in ("upload", "bundle"):
            admin = get_user_model().objects.create_user("probe-admin", is_staff=True, is_superuser=True)
            token = Token.objects.create(user=admin).key
        empty = Path(tmp) / args.file.name
        empty.write_bytes(b"")

        def attempt(path: Path) -> None:
            if args.kind in ("upload", "bundle"):
                url = "/api/imports/" if args.kind == "upload" else "/api/imports/bundle/"
                body, content_type = multipart_body(path, fields, Path(tmp))
                result["status"], result["response"] = post(url, body, content_type, token)
                body.unlink()
            else:
                out = io.StringIO()
                flags = [f"--{name.replace('_', '-')}={value}" for name, value in options.items()]
                if args.kind != "reasons":
                    flags.append(f"--collection={args.collection}")
                call_command(f"import_{args.kind}", str(path), *flags, "--no-progress", stdout=out)
                result["output"] = out.getvalue().strip()

        try:
            attempt(empty)
        except CommandError:
            pass
        gc.collect()
        result["before"] = peak_rss()
        started = time.perf_counter()
        attempt(args.file)
        result["seconds"] = round(time.perf_counter() - started, 2)
        result["after"] = peak_rss()
        transaction.set_rollback(True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
