"""Reading import files: CSV or TSV (delimiter sniffed) and JSON Lines, each row with its line number."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

csv.field_size_limit(1 << 20)

JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}


@dataclass(frozen=True, slots=True)
class RawRow:
    line: int
    values: dict[str, Any] | None
    error: str | None = None


class ImportFile:
    """An open import file that reports how far it has been read, for progress bars."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        self._binary: IO[bytes] = path.open("rb")
        head = self._binary.read(65536)
        self._binary.seek(0)
        self.encoding = "utf-8-sig"
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:
                self.encoding = "cp1252"
        self._text = io.TextIOWrapper(self._binary, encoding=self.encoding, errors="strict", newline="")

    @property
    def position(self) -> int:
        try:
            return self._binary.tell()
        except (OSError, ValueError):
            return self.size

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> ImportFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def rows(self) -> Iterator[RawRow]:
        if self.path.suffix.lower() in JSONL_SUFFIXES:
            return self._jsonl()
        return self._csv()

    def _jsonl(self) -> Iterator[RawRow]:
        for number, line in enumerate(self._text, start=1):
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

    def _csv(self) -> Iterator[RawRow]:
        header_line = self._text.readline()
        if not header_line.strip():
            return
        delimiter = max(",;\t|", key=header_line.count)
        header = next(csv.reader([header_line], delimiter=delimiter))
        reader = csv.reader(self._text, delimiter=delimiter)
        last = 1
        for cells in reader:
            start, last = last + 1, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(header):
                extra = cells[len(header) :]
                if any(c.strip() for c in extra):
                    yield RawRow(start, None, f"{len(cells)} fields where the header has {len(header)}")
                    continue
            yield RawRow(start, dict(zip(header, cells, strict=False)))
