"""The one error every importer raises: a bad line of a file, named as ``FILE:LINE``."""
from __future__ import annotations


class ImportFileError(ValueError):
    """A file cannot be imported; ``str()`` is ``FILE:LINE: what is wrong``.

    ``line`` is 1-based, or ``None`` when the problem is the file as a whole (an empty
    file, bytes that are not UTF-8 before any line could be read, a name clash).
    Raised before anything is written, so a caller can show it as is (a management
    command turns it into a ``CommandError``, an upload endpoint into a 400).
    ``field`` names the option at fault when the file is fine but an option is not (a
    collection name that is no name, a system name longer than its column), so that an
    endpoint can answer it as that field's error.
    """

    def __init__(self, filename: str, line: int | None, message: str, *, field: str | None = None) -> None:
        self.filename = filename
        self.line = line
        self.message = message
        self.field = field
        where = f"{filename}:{line}" if line is not None else filename
        super().__init__(f"{where}: {message}")
