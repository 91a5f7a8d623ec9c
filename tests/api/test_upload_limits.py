"""Upload size limits and damaged archives (issue 12, item 3).

``HARDQ_UPLOAD_MAX_MB`` caps one uploaded file and what a bundle unpacks to. Each case
is set up with the limit at 2 MB (the DL19 fixtures unpack to 1.2 MB) and asserts the answer a client sees (413 ``too_large``
or a 400 naming the damaged member, never a 500) and that the database is exactly as
before. The memory an accepted upload takes is tests/analysis/test_import_memory.py's.
"""
from __future__ import annotations

import io
import os
import struct
import uuid
import zipfile

import pytest

from tests.analysis.importing import database_digest
from tests.conftest import FIXTURES

pytestmark = pytest.mark.django_db

MB = 2**20
QRELS = "qrels.dl19-passage.txt"


@pytest.fixture
def limit_2mb(settings):
    settings.HARDQ_UPLOAD_MAX_MB = 2


class CountingStream(io.BytesIO):
    """A request body that counts how many of its bytes the server read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readline(self, size: int | None = -1) -> bytes:
        chunk = super().readline(size)
        self.bytes_read += len(chunk)
        return chunk


def multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode() + content + f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def run_lines(size: int) -> bytes:
    """A valid run of about ``size`` bytes (its queries need not exist: it is refused first)."""
    line = b"1 Q0 d%07d 1 1.0 bm25\n"
    return b"".join(line % i for i in range(size // len(line % 0) + 1))


def send(client, url: str, fields: dict[str, str], filename: str, content: bytes):
    body, content_type = multipart(fields, filename, content)
    stream = CountingStream(body)
    response = client.generic("POST", url, body, content_type=content_type, **{"wsgi.input": stream})
    return response, stream


def assert_too_large(response, what: str) -> None:
    assert response.status_code == 413, response.content
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert error["details"] == {"limit_mb": 2}
    assert what in error["message"] and "HARDQ_UPLOAD_MAX_MB" in error["message"]


def test_a_file_twice_the_limit_is_refused_413_before_its_body_is_read(admin_api, limit_2mb):
    before = database_digest()
    content = run_lines(4 * MB)
    response, stream = send(admin_api, "/api/imports/", {"kind": "run", "collection": "dl19", "system": "bm25"},
                            "run.txt", content)
    assert_too_large(response, "The request")
    assert stream.bytes_read == 0  # refused from its Content-Length: not a byte of the file was read
    assert database_digest() == before


def test_a_file_over_the_limit_in_a_small_request_is_refused_413_by_its_size(admin_api, limit_2mb):
    """A body within the request's allowance (the limit and 1 MB of form) whose file is over the limit."""
    before = database_digest()
    response, stream = send(admin_api, "/api/imports/", {"kind": "run", "collection": "dl19", "system": "bm25"},
                            "run.txt", run_lines(2 * MB + MB // 2))
    assert_too_large(response, "'run.txt'")
    assert stream.bytes_read > 2 * MB  # this body was read (by Django, to a temporary file), not imported
    assert database_digest() == before


def test_a_file_under_the_limit_is_imported(admin_api, limit_2mb):
    queries = b"1\tfirst query\n"
    response, _ = send(admin_api, "/api/imports/", {"kind": "queries", "collection": "dl19"}, "q.tsv", queries)
    assert response.status_code == 201, response.content
    response, _ = send(admin_api, "/api/imports/", {"kind": "run", "collection": "dl19", "system": "bm25"},
                       "run.txt", run_lines(MB // 2))
    assert response.status_code == 201, response.content
    assert response.json()["rows"] > 20000


# --- bundles ------------------------------------------------------------------------
def bundle_zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(f"dl19/{name}", data)
    return buffer.getvalue()


def fixture_members() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((FIXTURES / "dl19").iterdir()) if p.is_file()}


def post_bundle(client, data: bytes):
    response, _ = send(client, "/api/imports/bundle/", {"collection": "dl19"}, "dl19.zip", data)
    return response


def central_entry(data: bytes, name: str) -> int:
    """The offset of ``name``'s central directory header in the zip ``data``."""
    offset = data.index(b"PK\x05\x06")  # end of central directory
    entries, start = struct.unpack_from("<H", data, offset + 10)[0], struct.unpack_from("<L", data, offset + 16)[0]
    for _ in range(entries):
        name_length, extra_length, comment_length = struct.unpack_from("<3H", data, start + 28)
        if data[start + 46:start + 46 + name_length].decode() == f"dl19/{name}":
            return start
        start += 46 + name_length + extra_length + comment_length
    raise KeyError(name)


def patched(data: bytes, name: str, **fields: int) -> bytes:
    """The zip with ``crc``, ``compress_size`` or ``file_size`` of member ``name`` rewritten,
    in its central directory entry (what readers trust) and its local header alike."""
    out = bytearray(data)
    central = central_entry(data, name)
    local = struct.unpack_from("<L", data, central + 42)[0]
    for field, value in fields.items():
        index = ("crc", "compress_size", "file_size").index(field)
        struct.pack_into("<L", out, central + 16 + 4 * index, value)
        struct.pack_into("<L", out, local + 14 + 4 * index, value)
    return bytes(out)


def member_data_offset(data: bytes, name: str) -> int:
    """Where the (compressed) bytes of member ``name`` start."""
    local = struct.unpack_from("<L", data, central_entry(data, name) + 42)[0]
    name_length, extra_length = struct.unpack_from("<2H", data, local + 26)
    return local + 30 + name_length + extra_length


def test_a_zip_larger_than_the_limit_is_refused_413(admin_api, limit_2mb):
    before = database_digest()
    data = bundle_zip({**fixture_members(), "notes.txt": os.urandom(MB + MB // 4)}, method=zipfile.ZIP_STORED)
    assert 2 * MB < len(data) < 3 * MB  # over the limit, within the request's allowance
    assert_too_large(post_bundle(admin_api, data), "'dl19.zip'")
    assert database_digest() == before


def test_a_zip_bomb_with_honest_sizes_is_refused_413_before_unpacking(admin_api, limit_2mb):
    before = database_digest()
    data = bundle_zip({**fixture_members(), QRELS: b"1 Q0 d1 1\n" * (40 * MB // 10)})
    assert len(data) < MB // 2  # 0.4 MB or less, unpacking to more than 40 MB
    response = post_bundle(admin_api, data)
    assert_too_large(response, "by the sizes the archive declares")
    assert database_digest() == before


def test_a_zip_that_understates_a_member_is_a_400_naming_it_not_a_500(admin_api, limit_2mb):
    """Declared 1 KB (the bundle 1.2 MB), real 40 MB: a reader yields no more than the declared size, and the
    checksum of that much then fails: the member is named as damaged."""
    before = database_digest()
    data = bundle_zip({**fixture_members(), QRELS: b"1 Q0 d1 1\n" * (40 * MB // 10)})
    response = post_bundle(admin_api, patched(data, QRELS, file_size=1024))
    assert response.status_code == 400, response.content
    message = response.json()["error"]["details"]["file"][0]
    assert message.startswith(f"dl19/{QRELS}: damaged in the archive")
    assert database_digest() == before


def damaged_bad_crc() -> bytes:
    members = fixture_members()
    data = bundle_zip(members)
    crc = zipfile.ZipFile(io.BytesIO(data)).getinfo(f"dl19/{QRELS}").CRC
    return patched(data, QRELS, crc=crc ^ 0xFFFF)


def damaged_deflate_stream() -> bytes:
    data = bytearray(bundle_zip(fixture_members()))
    data[member_data_offset(bytes(data), QRELS)] = 0xFF  # a last block of the reserved type 3
    return bytes(data)


def damaged_truncated_member() -> bytes:
    data = bundle_zip(fixture_members())
    size = zipfile.ZipFile(io.BytesIO(data)).getinfo(f"dl19/{QRELS}").compress_size
    return patched(data, QRELS, compress_size=size // 2)  # the stream ends half way


@pytest.mark.parametrize("damage", [damaged_bad_crc, damaged_deflate_stream, damaged_truncated_member],
                         ids=["bad CRC", "broken deflate stream", "truncated member"])
def test_a_damaged_member_is_a_400_naming_it_and_nothing_is_written(admin_api, damage):
    before = database_digest()
    response = post_bundle(admin_api, damage())
    assert response.status_code == 400, response.content
    message = response.json()["error"]["details"]["file"][0]
    assert message.startswith(f"dl19/{QRELS}: damaged in the archive (")
    assert database_digest() == before


def test_a_zip_cut_short_is_a_400(admin_api):
    before = database_digest()
    data = bundle_zip(fixture_members())
    response = post_bundle(admin_api, data[: len(data) // 2])
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"] == {"file": ["not a zip archive"]}
    assert database_digest() == before


def test_the_same_bundle_undamaged_imports(admin_api, limit_2mb):
    response = post_bundle(admin_api, bundle_zip(fixture_members()))
    assert response.status_code == 201, response.content
