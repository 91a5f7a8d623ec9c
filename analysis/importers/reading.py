"""Reading a pipeline file: bytes, fingerprint, numbered lines, an optional progress bar."""
from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from analysis.importers.errors import ImportFileError

# Below this many lines a progress bar is noise rather than help.
PROGRESS_MIN_LINES = 5000


@dataclass(frozen=True)
class SourceFile:
    """The content of one file to import, whether it came from disk or an upload."""

    name: str
    data: bytes

    @classmethod
    def from_path(cls, path: str | Path) -> SourceFile:
        p = Path(path)
        try:
            return cls(name=str(path), data=p.read_bytes())
        except OSError as exc:
            raise ImportFileError(str(path), None, f"cannot read the file: {exc.strerror or exc}") from exc

    @property
    def basename(self) -> str:
        return Path(self.name).name

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def text(self) -> str:
        """The file decoded as UTF-8 (a BOM is dropped); a bad byte is named by its line."""
        try:
            text = self.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = self.data.count(b"\n", 0, exc.start) + 1
            raise ImportFileError(self.name, line, f"not valid UTF-8 (byte {self.data[exc.start]:#04x})") from exc
        return text.removeprefix("\ufeff")

    def lines(self, *, progress: bool = False) -> Iterator[tuple[int, str]]:
        """Yield ``(line number, line)`` for every non-blank line.

        The last line may lack its newline; ``\\r\\n`` endings are accepted. Only
        ``\\n`` ends a line: a passage holding a form feed or a Unicode line separator
        stays one line, as the pipelines wrote it.
        """
        raw = self.text().split("\n")
        if raw and raw[-1] == "":
            raw.pop()
        bar = tqdm(
            total=len(raw),
            desc=self.basename,
            unit=" lines",
            file=sys.stderr,
            disable=not progress or len(raw) < PROGRESS_MIN_LINES,
            leave=False,
        )
        try:
            for number, line in enumerate(raw, start=1):
                bar.update(1)
                line = line.removesuffix("\r")
                if "\x00" in line:
                    raise ImportFileError(self.name, number, "contains a NUL character, which cannot be stored")
                if line.strip():
                    yield number, line
        finally:
            bar.close()
