"""Reading import files: CSV or TSV (delimiter sniffed) and JSON Lines, each row with its line number.

A file is cut into blocks of whole rows (``ImportFile.blocks``), found at C speed: a regular expression
that follows the csv module's quoting rules finds where the last whole row of a buffer ends, so a
quoted field holding a line break is never cut in two. A block is self-contained (bytes, first line
number, header, delimiter, encoding), so it can be turned into rows (``block_rows``) in another
process: the importing process only reads bytes and hands them out.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Literal

import orjson

csv.field_size_limit(1 << 20)

JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
BLOCK_BYTES = 1 << 19
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class RawRow:
    line: int
    values: dict[str, Any] | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Block:
    """Whole rows of an import file, with all it takes to read them anywhere."""

    format: Literal["csv", "jsonl"]
    data: bytes
    first_line: int
    encoding: str
    header: tuple[str, ...] = ()
    delimiter: str = ","


def count_lines(data: bytes) -> int:
    """Line breaks as the csv module counts them (``\\n``, ``\\r\\n`` or a lone ``\\r``)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


@lru_cache(maxsize=8)
def _whole_csv_rows(delimiter: str) -> re.Pattern[bytes]:
    """Matches the longest run of whole CSV rows, as the csv module reads them (``strict=False``): a field
    that opens with a quote runs to its closing quote (``""`` inside it is a quote, never a closing
    quote and another), whatever it holds, then to the next delimiter; a quote anywhere else is a
    plain character."""
    d = re.escape(delimiter.encode())
    quoted = rb'"[^"]*(?:""[^"]*)*"(?!")[^' + d + rb"\r\n]*"
    plain = rb'(?:[^"' + d + rb"\r\n][^" + d + rb"\r\n]*)?"
    field = rb"(?:" + quoted + rb"|" + plain + rb")"
    return re.compile(rb"(?:" + field + rb"(?:" + d + field + rb")*(?:\r\n|\n|\r))*")


def _whole_lines(data: bytes) -> int:
    """The end of the last whole line (JSON Lines: a line break is never inside a value)."""
    return max(data.rfind(b"\n"), data.rfind(b"\r")) + 1


def _end(match: re.Match[bytes] | None) -> int:
    return 0 if match is None else match.end()


def _first_line_end(data: bytes, strict: bool = False) -> int:
    """Where the first line ends (at the end of ``data`` if none does; -1 then, if ``strict``, or if
    ``data`` ends on a "\r" that may be half of a "\r\n")."""
    newline, ret = data.find(b"\n"), data.find(b"\r")
    if ret != -1 and (newline == -1 or ret < newline):
        if strict and ret == len(data) - 1:
            return -1
        return ret + 2 if data[ret + 1 : ret + 2] == b"\n" else ret + 1
    if newline != -1:
        return newline + 1
    return -1 if strict else len(data)


class ImportFile:
    """An open import file that reports how far it has been read, for progress bars."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        self._binary: IO[bytes] = path.open("rb")
        self.format: Literal["csv", "jsonl"] = "jsonl" if path.suffix.lower() in JSONL_SUFFIXES else "csv"
        head = self._binary.read(65536)
        self.encoding = "utf-8"
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:
                self.encoding = "cp1252"
        self._binary.seek(len(_BOM) if head.startswith(_BOM) else 0)
        self._read = self._binary.tell()

    @property
    def position(self) -> int:
        """Bytes handed out so far."""
        return self._read

    def close(self) -> None:
        self._binary.close()

    def __enter__(self) -> ImportFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def rows(self) -> Iterator[RawRow]:
        for block in self.blocks():
            yield from block_rows(block)

    def blocks(self, size: int = BLOCK_BYTES) -> Iterator[Block]:
        """The file in blocks of about ``size`` bytes, each ending where a row does."""
        pending, line = b"", 1
        header: tuple[str, ...] = ()
        delimiter = ","
        if self.format == "csv":
            pending = self._binary.read(size)
            while (more := self._binary.read(size) if _first_line_end(pending, True) < 0 else b"") != b"":
                pending += more
            end = _first_line_end(pending)
            first = pending[:end].decode(self.encoding, errors="replace")
            if not first.strip():
                return
            delimiter = max(",;\t|", key=first.count)
            header = tuple(next(csv.reader([first], delimiter=delimiter)))
            pending, line = pending[end:], 1 + count_lines(pending[:end])
            self._read += end
        whole = _whole_csv_rows(delimiter).match if self.format == "csv" else None
        want = size
        while True:
            more = self._binary.read(want)
            pending += more
            if not more:
                cut = len(pending)
            else:
                # A final "\r" may be the first half of "\r\n": leave it for the next read.
                scan = pending[:-1] if pending.endswith(b"\r") else pending
                cut = _end(whole(scan)) if whole is not None else _whole_lines(scan)
            if cut == 0 and more:
                want *= 2  # one row longer than a block: read on, in ever larger steps
                continue
            want = size
            if cut:
                data, pending = pending[:cut], pending[cut:]
                yield Block(self.format, data, line, self.encoding, header, delimiter)
                line += count_lines(data)
                self._read += cut
            if not more:
                return


def block_rows(block: Block) -> Iterator[RawRow]:
    """The rows of one block, each with its line number in the file."""
    try:
        text, checked = block.data.decode(block.encoding), True
    except UnicodeDecodeError:
        text, checked = block.data.decode(block.encoding, errors="surrogateescape"), False
    rows = _jsonl(text, block.first_line) if block.format == "jsonl" else _csv(text, block)
    if checked:
        yield from rows
        return
    for row in rows:
        if row.values is not None and any(_undecodable(v) for v in row.values.values()):
            yield RawRow(row.line, None, f"not valid {block.encoding} text")
        else:
            yield row


def _undecodable(value: Any) -> bool:
    return isinstance(value, str) and not value.isascii() and any("\udc80" <= c <= "\udcff" for c in value)


def _jsonl(text: str, first_line: int) -> Iterator[RawRow]:
    for number, line in enumerate(io.StringIO(text, newline=""), start=first_line):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield RawRow(number, None, f"not valid JSON: {exc}")
            continue
        if not isinstance(value, dict):
            yield RawRow(number, None, "each line must be a JSON object")
            continue
        yield RawRow(number, value)


def _csv(text: str, block: Block) -> Iterator[RawRow]:
    header, offset = block.header, block.first_line
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=block.delimiter)
    last = 0
    while True:
        start = offset + last
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            last = reader.line_num
            yield RawRow(start, None, f"unreadable CSV row: {exc}")
            continue
        last = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            extra = cells[len(header) :]
            if any(c.strip() for c in extra):
                yield RawRow(start, None, f"{len(cells)} fields where the header has {len(header)}")
                continue
        yield RawRow(start, dict(zip(header, cells, strict=False)))
