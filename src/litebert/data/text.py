"""Documents from users' text files, streamed: a document is a list of sentences (strings).

Formats:
- `lines`: the original's layout, one sentence per line, a blank (or whitespace-only) line between documents;
- `jsonl`: one JSON object per line with the document in a text field (default "text");
- `raw`: text as people have it (each file one document, hard-wrapped lines, paragraphs), split into sentences by
  sentencex (Wikimedia's segmenter: maintained, ~80 MB/s here, keeps paragraph breaks; pysbd was 200x slower and
  blingfire has seen no release since 2021), optionally without Project Gutenberg's header and license.
`auto` picks jsonl for *.jsonl / *.json files and raw otherwise. .xz, .gz and .bz2 files are decompressed on the fly.

Bad lines never crash half-way: invalid UTF-8 is reported with file and line and skipped (or raises under
`on_invalid="fail"`); a file that is not UTF-8 text at all (a UTF-16/32 byte-order mark, a NUL byte) is an error
naming it; empty documents are skipped and counted. Very long documents are cut at sentence boundaries into pieces of
at most `max_document_chars`, so memory stays bounded by the chunk size, not by the largest file.
"""

from __future__ import annotations

import glob
import gzip
import json
import lzma
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from litebert.data.shards import DataError
from litebert.textio import TextFileError, TextFileNotFoundError, open_binary

FORMATS = ("auto", "lines", "jsonl", "raw")
_GUTENBERG_START = re.compile(r"^\s*\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
_GUTENBERG_END = re.compile(r"^\s*\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)


def expand_inputs(patterns: list[str]) -> list[Path]:
    """Files named or matched by the globs, sorted within each pattern (deterministic), duplicates removed."""
    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(os.path.expanduser(pattern), recursive=True))
        if not matches:
            raise DataError(f"{pattern}: no such file (or the glob matches nothing)")
        for m in matches:
            p = Path(m)
            if p.is_dir():
                files.extend(sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".")))
            else:
                files.append(p)
    seen, out = set(), []
    for f in files:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            out.append(f)
    return out


_NOT_UTF8 = ("expected UTF-8 text, not a binary or UTF-16/32 file (convert it first, e.g. "
             "`iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8`)")


def _decoded_lines(path: Path, counts: Counter, on_invalid: str, warn) -> Iterator[str]:
    try:
        fh, _ = open_binary(path)  # xz / gzip / bzip2 detected from the magic bytes
    except (TextFileError, TextFileNotFoundError, OSError) as e:
        raise DataError(f"{path}: cannot be opened ({e})") from None
    with fh:
        try:
            for lineno, raw in enumerate(fh, 1):
                # UTF-16/32 decodes as "valid" UTF-8 with NUL bytes (or garbage) in it: refused, as tokenizer train does
                if lineno == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                    raise DataError(f"{path}:1: a UTF-16/32 byte-order mark; {_NOT_UTF8}")
                if (nul := raw.find(b"\0")) >= 0:
                    raise DataError(f"{path}:{lineno}: a NUL byte (byte {nul} of the line); {_NOT_UTF8}")
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    counts["invalid_utf8_lines"] += 1
                    if on_invalid == "fail":
                        raise DataError(f"{path}:{lineno}: invalid UTF-8 ({e.reason} at byte {e.start})") from None
                    if counts["invalid_utf8_lines"] <= 10:
                        warn(f"{path}:{lineno}: invalid UTF-8 ({e.reason} at byte {e.start}); line skipped")
        except (EOFError, lzma.LZMAError, OSError, gzip.BadGzipFile) as e:
            raise DataError(f"{path}: truncated or corrupt compressed file ({e})") from None


def _segment(text: str) -> list[str]:
    import sentencex

    return [s.strip() for s in sentencex.segment("en", text) if s.strip()]


def _split_long(sentences: list[str], max_chars: int) -> Iterator[list[str]]:
    doc, size = [], 0
    for s in sentences:
        doc.append(s)
        size += len(s)
        if size >= max_chars:
            yield doc
            doc, size = [], 0
    if doc:
        yield doc


def read_documents(files: list[Path], *, input_format: str = "auto", text_field: str = "text",
                   strip_gutenberg: bool = False, on_invalid: str = "skip", max_document_chars: int = 1_000_000,
                   counts: Counter | None = None, warn=print) -> Iterator[list[str]]:
    """Yield documents (lists of sentences) from the files, in order. `counts` collects what was skipped."""
    if input_format not in FORMATS:
        raise DataError(f"input format must be one of {FORMATS}, got {input_format!r}")
    if on_invalid not in ("skip", "fail"):
        raise DataError(f"on_invalid must be 'skip' or 'fail', got {on_invalid!r}")
    counts = counts if counts is not None else Counter()
    told = False
    for path in files:
        fmt = input_format
        if fmt == "auto":
            name = path.name.lower()
            for ext in (".xz", ".gz", ".bz2"):
                name = name.removesuffix(ext)
            fmt = "jsonl" if name.endswith((".jsonl", ".json")) else "raw"
            # the original's layout read as raw would let SOP pairs cross documents (Gutenberg books are raw indeed)
            if fmt == "raw" and not told and not strip_gutenberg:
                told = True
                warn(f"{path}: read as raw text, each file one document (--input_format auto); for the original's "
                     f"layout, one sentence per line and a blank line between documents, pass --input_format lines")
        counts["files"] += 1
        before = counts["documents"]
        lines = _decoded_lines(path, counts, on_invalid, warn)
        if fmt == "lines":
            doc: list[str] = []
            for line in lines:
                line = line.strip()
                if not line:
                    counts["blank_lines"] += 1
                    if doc:
                        yield from _emit(doc, max_document_chars, counts)
                    doc = []
                else:
                    doc.append(line)
            if doc:
                yield from _emit(doc, max_document_chars, counts)
        elif fmt == "jsonl":
            for lineno, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    text = obj[text_field]
                    if not isinstance(text, str):
                        raise TypeError(f"field {text_field!r} is {type(text).__name__}, expected a string")
                except (json.JSONDecodeError, KeyError, TypeError) as e:
                    counts["bad_json_lines"] += 1
                    msg = f"{path}:{lineno}: {e if not isinstance(e, KeyError) else f'no {text_field!r} field'}"
                    if on_invalid == "fail":
                        raise DataError(msg) from None
                    if counts["bad_json_lines"] <= 10:
                        warn(msg + "; line skipped")
                    continue
                yield from _emit(_segment(text), max_document_chars, counts)
        else:  # raw: the file is one document, streamed in paragraph blocks (cut at max_document_chars)
            if strip_gutenberg:
                lines = _strip_gutenberg(lines, counts)
            block: list[str] = []
            size = 0
            for line in lines:
                block.append(line)
                size += len(line)
                if size >= max_document_chars and not line.strip():  # cut only at a paragraph break
                    yield from _emit(_segment("".join(block)), max_document_chars, counts)
                    block, size = [], 0
            yield from _emit(_segment("".join(block)), max_document_chars, counts)
        if counts["documents"] == before:
            counts["empty_files"] += 1
            warn(f"{path}: no text found in this file")


def _emit(sentences: list[str], max_chars: int, counts: Counter) -> Iterator[list[str]]:
    if not sentences:
        counts["empty_documents"] += 1
        return
    for doc in _split_long(sentences, max_chars):
        counts["documents"] += 1
        counts["sentences"] += len(doc)
        counts["characters"] += sum(len(s) for s in doc)
        yield doc


def _strip_gutenberg(lines: Iterator[str], counts: Counter, header_lines: int = 2000) -> Iterator[str]:
    """Drop what precedes "*** START OF THE PROJECT GUTENBERG ..." (looked for in the first `header_lines` lines) and
    what follows "*** END OF ...". Files without the markers pass through unchanged."""
    head: list[str] = []
    for line in lines:
        head.append(line)
        if _GUTENBERG_START.match(line):
            counts["gutenberg_stripped"] += 1
            head = []
            break
        if len(head) >= header_lines:
            break
    for line in head:
        if _GUTENBERG_END.match(line):
            return
        yield line
    for line in lines:
        if _GUTENBERG_END.match(line):
            return
        yield line
