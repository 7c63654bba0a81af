"""Reading import files: CSV or TSV (delimiter sniffed) and JSON Lines, each row with its line number.

A file is cut into blocks of whole rows (``ImportFile.blocks``), found at C speed: a regular expression
that follows the csv module's quoting rules finds where the last whole row of a buffer ends, so a
quoted field holding a line break is never cut in two. A block is self-contained (bytes, first line
number, header, delimiter, encoding), so it can be turned into rows (``block_rows``) in another
process: the importing process only reads bytes and hands them out.
"""

from __future__ import annotations

import contextlib
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
# A row that has not ended after this many bytes is looked at for a quote left open (a field holds
# 1 MB at most: csv.field_size_limit below).
_OPEN_QUOTE_BYTES = 1 << 22
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class RawRow:
    line: int
    values: dict[str, Any] | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Block:
    """Whole rows of an import file, with all it takes to read them anywhere; or, with ``error``, one line
    of it that cannot be read (its row opens a quote that never closes before further rows)."""

    format: Literal["csv", "jsonl"]
    data: bytes
    first_line: int
    encoding: str
    header: tuple[str, ...] = ()
    delimiter: str = ","
    error: str | None = None


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


_LINE_BREAK = re.compile(rb"\r\n|\n|\r")


@lru_cache(maxsize=8)
def _row_patterns(delimiter: str) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """(a run of rows on one line each, one row of any number of lines), as ``_whole_csv_rows`` reads them."""
    d = re.escape(delimiter.encode())
    plain = rb'(?:[^"' + d + rb"\r\n][^" + d + rb"\r\n]*)?"
    rest = rb'(?!")[^' + d + rb"\r\n]*"
    one_line = rb'"[^"\r\n]*(?:""[^"\r\n]*)*"' + rest
    any_lines = rb'"[^"]*(?:""[^"]*)*"' + rest

    def row(quoted: bytes, end: bytes) -> bytes:
        field = rb"(?:" + quoted + rb"|" + plain + rb")"
        return field + rb"(?:" + d + field + rb")*" + end

    # (A row of several lines may end the file without a line break.)
    return re.compile(rb"(?:" + row(one_line, rb"(?:\r\n|\n|\r)") + rb")*"), re.compile(
        row(any_lines, rb"(?:\r\n|\n|\r|\Z)")
    )


def _plainly_rows(lines: list[bytes], delimiter: bytes, fields: int) -> bool:
    """Whether these lines (inside one quoted field) are plainly rows of the file: two or more of them, at
    least half, holding exactly as many delimiters as a row does. A note or an address written over a few
    lines is not (and in a file of fewer than three columns nothing is plain enough to say so)."""
    if fields < 3:
        return False
    rows = sum(1 for line in lines if line.count(delimiter) == fields - 1)
    return rows >= 2 and 2 * rows >= len(lines)


def _unterminated(data: bytes, delimiter: str, fields: int, at_eof: bool) -> tuple[int, int, int, bool] | None:
    """The first row of ``data`` whose quoted field runs past the end of its line into what are plainly
    further rows (``_plainly_rows``), or that is still open at the end of the file: (where the row
    starts, where its first line ends, how many lines the field took, whether it is open to the end of
    ``data``). None when there is none. Rows on one line are skipped at C speed: only a row of several
    lines (rare) is looked at."""
    single, multi = _row_patterns(delimiter)
    d = delimiter.encode()
    pos = 0
    while True:
        match = single.match(data, pos)
        pos = match.end() if match is not None else pos
        if pos >= len(data):
            return None
        first_end = _line_end(data, pos)
        if first_end >= len(data):
            return None  # a last line without a line break: nothing more to swallow
        row = multi.match(data, pos)
        if row is None:  # the row's quote is still open where ``data`` ends
            inside = [line for line in _LINE_BREAK.split(data[first_end:]) if line]
            if at_eof or _plainly_rows(inside, d, fields):
                return pos, first_end, len(inside), True
            return None
        inside = [line for line in _LINE_BREAK.split(data[first_end : row.end()]) if line]
        if _plainly_rows(inside[:-1], d, fields):  # the last line is where the quote closes
            return pos, first_end, len(inside), False
        pos = row.end()


def _line_end(data: bytes, pos: int) -> int:
    """Where the line starting at ``pos`` ends, after its line break (``len(data)`` if none)."""
    found = _LINE_BREAK.search(data, pos)
    return len(data) if found is None else found.end()


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

    def columns(self) -> tuple[str, ...]:
        """The columns the file names: a CSV's header, or the keys of a JSON Lines file's first 100 rows.
        Reads from the start and leaves the file where it was."""
        here = self._binary.tell()
        try:
            self._binary.seek(len(_BOM) if self._binary.read(3) == _BOM else 0)
            if self.format == "csv":
                first = self._binary.readline(1 << 20).decode(self.encoding, errors="replace")
                delimiter = max(",;\t|", key=first.count)
                return tuple(next(csv.reader([first], delimiter=delimiter), []))
            keys: dict[str, None] = {}
            for _ in range(100):
                line = self._binary.readline(1 << 20)
                if not line:
                    break
                with contextlib.suppress(orjson.JSONDecodeError):
                    value = orjson.loads(line)
                    if isinstance(value, dict):
                        keys.update(dict.fromkeys(map(str, value)))
            return tuple(keys)
        finally:
            self._binary.seek(here)

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
        want, eof = size, False
        while True:
            if not eof:
                more = self._binary.read(want)
                eof = not more
                pending += more
            if not pending:
                return
            if eof:
                cut = len(pending)
            else:
                # A final "\r" may be the first half of "\r\n": leave it for the next read.
                scan = pending[:-1] if pending.endswith(b"\r") else pending
                cut = _end(whole(scan)) if whole is not None else _whole_lines(scan)
            if whole is not None and (cut or len(pending) >= _OPEN_QUOTE_BYTES):
                # A quote left open would swallow the rows after it into one field, or run to the end of
                # the file: that line is reported, and reading goes on at the next one.
                broken = _unterminated(pending[: cut or len(pending)], delimiter, len(header), eof)
                if broken is not None:
                    start, end, spanned, open_to_end = broken
                    if start:
                        yield Block(self.format, pending[:start], line, self.encoding, header, delimiter)
                        line += count_lines(pending[:start])
                    error = _quote_error(line, spanned, open_to_end and eof)
                    yield Block(self.format, pending[start:end], line, self.encoding, header, delimiter, error)
                    line += count_lines(pending[start:end])
                    self._read += end
                    pending, want = pending[end:], size
                    continue
            if cut == 0 and not eof:
                want *= 2  # one row longer than a block: read on, in ever larger steps
                continue
            want = size
            data, pending = pending[:cut], pending[cut:]
            yield Block(self.format, data, line, self.encoding, header, delimiter)
            line += count_lines(data)
            self._read += cut


def _quote_error(line: int, spanned: int, to_the_end: bool) -> str:
    where = f"the {spanned} line(s) after it" + (", to the end of the file" if to_the_end else "")
    return (
        f'unterminated quote: a field opens with " on line {line} and runs on into {where}, which read as rows; '
        f"line {line} is skipped and reading goes on at line {line + 1}"
    )


def block_rows(block: Block) -> Iterator[RawRow]:
    """The rows of one block, each with its line number in the file."""
    if block.error is not None:
        yield RawRow(block.first_line, None, block.error)
        return
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
