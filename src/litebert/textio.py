"""Reading text corpora: plain, xz, gzip or bzip2 files, line by line, with errors that name the file.

Large corpora usually come compressed and are often not clean UTF-8 (old Project Gutenberg books are Latin-1 or
Windows-1252). :func:`iter_lines` streams a file of any of these kinds without loading it into memory, picks the
decompressor from the file's magic bytes (not its name), and decodes each line as UTF-8, falling back to
Windows-1252 for a line that is not valid UTF-8 (every byte maps to some character, so nothing is dropped).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Literal

__all__ = [
    "TextFileError",
    "TextFileNotFoundError",
    "iter_corpus_lines",
    "iter_lines",
    "open_binary",
    "atomic_write_bytes",
]

# (magic bytes, format name), checked in order against the first bytes of the file.
_COMPRESSED_FORMATS: tuple[tuple[bytes, str], ...] = (
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
)

Decoding = Literal["fallback", "strict", "replace"]


class TextFileError(ValueError):
    """A text file exists but cannot be read as text (corrupt archive, bad encoding in strict mode, no text)."""


class TextFileNotFoundError(FileNotFoundError):
    """A text file does not exist (or is a directory)."""


def open_binary(path: str | os.PathLike[str]) -> tuple[BinaryIO, str]:
    """Open ``path`` for binary reading, decompressing xz, gzip or bzip2 transparently.

    The format is detected from the first bytes of the file, so a compressed file without its usual suffix is
    still read correctly.

    Returns:
        The open binary stream and the detected format name ("xz", "gzip", "bzip2" or "plain").

    Raises:
        TextFileNotFoundError: ``path`` does not exist or is a directory.
        TextFileError: ``path`` cannot be opened (permissions and similar).
    """
    path = Path(path)
    if not path.exists():
        raise TextFileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise TextFileNotFoundError(f"{path}: is a directory, expected a text file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as e:
        raise TextFileError(f"{path}: cannot be read ({e.strerror or e})") from e
    for magic, name in _COMPRESSED_FORMATS:
        if head.startswith(magic):
            if name == "xz":
                return lzma.open(path, "rb"), name  # type: ignore[return-value]
            if name == "gzip":
                return gzip.open(path, "rb"), name  # type: ignore[return-value]
            return bz2.open(path, "rb"), name  # type: ignore[return-value]
    return open(path, "rb"), "plain"


def _decode_line(raw: bytes, decoding: Decoding) -> str:
    if decoding == "replace":
        return raw.decode("utf-8", errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        if decoding == "strict":
            raise
        # Windows-1252 leaves 5 bytes undefined; map those like Latin-1 so that no byte is lost.
        return raw.decode("cp1252", errors="ignore") if _cp1252_ok(raw) else raw.decode("latin-1")


def _cp1252_ok(raw: bytes) -> bool:
    return not any(b in raw for b in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"))


# Input that is not text: a UTF-16/32 byte-order mark, a NUL byte, or (with the Windows-1252 fallback) more than this
# share of the bytes read so far not valid UTF-8. Old Windows-1252 text has well under 1% (0.45% at most in the
# Gutenberg, inaugural and state-of-the-union files of ../shared/data); random bytes about half.
_MAX_INVALID_UTF8_SHARE = 0.1
_MIN_INVALID_UTF8_BYTES = 100  # a short Windows-1252 file may be mostly accented letters


def iter_lines(
    path: str | os.PathLike[str], *, decoding: Decoding = "fallback", keepends: bool = False
) -> Iterator[str]:
    """Yield the lines of a plain, xz, gzip or bzip2 text file, streaming.

    Args:
        path: the file.
        decoding: "fallback" (UTF-8, and Windows-1252 for a line that is not valid UTF-8), "strict" (UTF-8 only; a
            bad line raises :class:`TextFileError` naming the file and line number) or "replace" (UTF-8 with U+FFFD
            for bad bytes).
        keepends: keep the line terminator (``\\n``, ``\\r\\n``) at the end of each line.

    Raises:
        TextFileNotFoundError: the file does not exist.
        TextFileError: the file is unreadable, a corrupt archive, or not text: a UTF-16/32 byte-order mark, a NUL
            byte, or (with "fallback") more than 10% of the bytes read so far (and over 100) not valid UTF-8; the
            message names the file, line and byte offset (into the decompressed text).
    """
    stream, fmt = open_binary(path)
    of_text = "" if fmt == "plain" else f" of the {fmt}-decompressed text"
    expected = "expected UTF-8 text (or old Windows-1252 text), not a binary or UTF-16/32 file"
    line_no = offset = num_invalid = 0
    first_invalid = -1
    try:
        with stream:
            for raw in stream:
                line_no += 1
                if line_no == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                    raise TextFileError(f"{path}:1: byte 0: a UTF-16/32 byte-order mark; {expected}")
                nul = raw.find(b"\0")
                if nul >= 0:
                    raise TextFileError(f"{path}:{line_no}: byte {offset + nul}{of_text}: a NUL byte; {expected}")
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    if decoding == "strict":
                        raise TextFileError(f"{path}:{line_no}: not valid UTF-8 ({e.reason} at byte {e.start})") from e
                    if decoding == "fallback":
                        num_invalid += raw.decode("utf-8", errors="replace").count("\ufffd")
                        first_invalid = offset + e.start if first_invalid < 0 else first_invalid
                        num_read = offset + len(raw)
                        if num_invalid > max(_MIN_INVALID_UTF8_BYTES, _MAX_INVALID_UTF8_SHARE * num_read):
                            raise TextFileError(
                                f"{path}:{line_no}: {num_invalid} of the first {num_read} bytes{of_text} are not "
                                f"valid UTF-8 (more than {_MAX_INVALID_UTF8_SHARE:.0%}; the first at byte "
                                f"{first_invalid}); {expected}") from None
                    line = _decode_line(raw, decoding)
                offset += len(raw)
                yield line if keepends else line.rstrip("\r\n")
    except (lzma.LZMAError, EOFError, gzip.BadGzipFile, OSError) as e:
        if isinstance(e, (TextFileError, FileNotFoundError)):
            raise
        raise TextFileError(f"{path}: corrupt or truncated {fmt} data after line {line_no} ({e})") from e


def iter_corpus_lines(paths: Iterable[str | os.PathLike[str]], *, decoding: Decoding = "fallback") -> Iterator[str]:
    """Yield the lines of several files in order (see :func:`iter_lines`)."""
    for path in paths:
        yield from iter_lines(path, decoding=decoding)


def file_in_the_way(directory: str | os.PathLike[str]) -> Path | None:
    """The file that stops `directory` from being created or written into: the path itself, or its nearest existing
    ancestor, when that is not a directory; None when the way is clear. Lets each command name it before any work,
    instead of an OSError when its first output is written."""
    directory = Path(directory)
    for p in (directory, *directory.resolve().parents):
        if p.exists():
            return None if p.is_dir() else p
    return None


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, then a rename.

    A reader never sees a half-written file, and an interrupted write leaves the old file (if any) in place.
    Missing parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
