"""Reading a pipeline file: streamed, fingerprinted, as numbered lines, with an optional progress bar.

A file is never held whole in memory: the fingerprint and the blank check read it in
chunks, and ``lines`` reads it one line at a time, so what an import keeps is what its
parser keeps (its records), not a copy of the file, its decoded text and a list of its
lines.
"""
from __future__ import annotations

import hashlib
import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from analysis.importers.errors import ImportFileError

# Below this many lines a progress bar is noise rather than help.
PROGRESS_MIN_LINES = 5000
CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"
# What counts as blank in the quick check over raw bytes (ASCII whitespace, as bytes.strip).
ASCII_BLANK = b" \t\n\r\x0b\x0c"


@dataclass
class SourceFile:
    """One file to import, whether it is on disk, an upload or bytes in memory.

    ``open`` gives a fresh binary stream at the start of the file each time it is
    called, so the file can be read twice (fingerprint, then parse) without a copy.
    """

    name: str
    open: Callable[[], BinaryIO]
    # Whether ``open``'s stream is ours to close (not an upload Django closes itself).
    owns_stream: bool = True
    _scan: tuple[str, bool, int] | None = field(default=None, repr=False)

    @classmethod
    def from_path(cls, path: str | Path) -> SourceFile:
        p = Path(path)
        try:
            with p.open("rb"):
                pass
        except OSError as exc:
            raise ImportFileError(str(path), None, f"cannot read the file: {exc.strerror or exc}") from exc
        return cls(name=str(path), open=lambda: p.open("rb"))

    @classmethod
    def from_bytes(cls, data: bytes, name: str) -> SourceFile:
        return cls(name=name, open=lambda: io.BytesIO(data))

    @classmethod
    def from_stream(cls, stream: BinaryIO, name: str) -> SourceFile:
        """A seekable binary stream (an uploaded file, kept on disk by Django when large)."""

        def rewind() -> BinaryIO:
            stream.seek(0)
            return stream

        return cls(name=name, open=rewind, owns_stream=False)

    @contextmanager
    def _reading(self) -> Iterator[BinaryIO]:
        stream = self.open()
        try:
            yield stream
        finally:
            if self.owns_stream:
                stream.close()

    @property
    def basename(self) -> str:
        return Path(self.name).name

    def _scanned(self) -> tuple[str, bool, int]:
        """One pass in chunks: the SHA-256, whether any byte is not blank, the line count."""
        if self._scan is None:
            digest = hashlib.sha256()
            content = False
            newlines = 0
            last = b""
            first = True
            with self._reading() as stream:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    newlines += chunk.count(b"\n")
                    if not content:
                        # A BOM alone is no content; it can only open the file.
                        content = bool((chunk.removeprefix(BOM) if first else chunk).strip(ASCII_BLANK))
                    first = False
                    last = chunk[-1:]
            lines = newlines + (1 if last not in (b"", b"\n") else 0)
            self._scan = (digest.hexdigest(), content, lines)
        return self._scan

    @property
    def sha256(self) -> str:
        return self._scanned()[0]

    def is_blank(self) -> bool:
        """True when the file holds nothing but whitespace (or nothing at all)."""
        return not self._scanned()[1]

    def lines(self, *, progress: bool = False) -> Iterator[tuple[int, str]]:
        """Yield ``(line number, line)`` for every non-blank line, reading one line at a time.

        The last line may lack its newline; ``\\r\\n`` endings are accepted; a leading BOM
        is dropped. Only ``\\n`` ends a line: a passage holding a form feed or a Unicode
        line separator stays one line, as the pipelines wrote it. A file without a single
        non-blank line is an error (``FILE: empty``): importing it cannot be right.
        """
        total = self._scanned()[2] if progress else 0
        bar = tqdm(
            total=total,
            desc=self.basename,
            unit=" lines",
            file=sys.stderr,
            disable=not progress or total < PROGRESS_MIN_LINES,
            leave=False,
        )
        yielded = False
        try:
            with self._reading() as stream:
                # readline splits at b"\n" only, which is the rule above (iterating a
                # Django File would also split at a lone "\r").
                for number, raw in enumerate(iter(stream.readline, b""), start=1):
                    bar.update(1)
                    if number == 1:
                        raw = raw.removeprefix(BOM)
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise ImportFileError(
                            self.name, number, f"not valid UTF-8 (byte {raw[exc.start]:#04x})"
                        ) from None
                    line = line.removesuffix("\n").removesuffix("\r")
                    if "\x00" in line:
                        raise ImportFileError(self.name, number, "contains a NUL character, which cannot be stored")
                    if line.strip():
                        yielded = True
                        yield number, line
        finally:
            bar.close()
        if not yielded:
            raise ImportFileError(self.name, None, "empty")
