"""Cutting import files into blocks never changes what is read: the same rows, at the same lines."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsmith.contacts.files import ImportFile, RawRow, block_rows

# A cell may hold quotes and delimiters, or quotes and line breaks: a quoted field of several lines that read
# as rows of the file is taken for a quote left open (test_an_unterminated_quote_...).
CELL = st.text(alphabet=st.sampled_from(list('ab é,;"\t|x')), max_size=12) | st.text(
    alphabet=st.sampled_from(list('ab é"\n\rx')), max_size=12
)
TABLE = st.lists(st.lists(CELL, min_size=3, max_size=3), max_size=25)


def _read(path: Path, size: int) -> list[RawRow]:
    with ImportFile(path) as f:
        return [row for block in f.blocks(size) for row in block_rows(block)]


def _reference(text: str) -> list[RawRow]:
    """What the csv module reads from the whole file at once, with each row's first line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    out, last = [], reader.line_num
    for cells in reader:
        start, last = last + 1, reader.line_num
        if any(c.strip() for c in cells):
            out.append(RawRow(start, dict(zip(header, cells, strict=False))))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=TABLE, size=st.integers(min_value=1, max_value=64), terminator=st.sampled_from(["\n", "\r\n", "\r"]))
def test_blocks_read_what_the_csv_module_reads(
    tmp_path: Path, table: list[list[str]], size: int, terminator: str
) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=terminator)
    writer.writerow(["name", "email", "title"])
    writer.writerows(table)
    text = buffer.getvalue()
    path = tmp_path / "people.csv"
    path.write_bytes(text.encode())
    expected = _reference(text)
    assert _read(path, size) == expected
    assert _read(path, 1 << 20) == expected


def test_stray_quotes_and_quoted_line_breaks(tmp_path: Path) -> None:
    """A quote inside a plain field is a character; a quoted field may hold line breaks and quotes."""
    text = 'name,email,title\nO"Brien,o@x.com,"Head\nof ""Sales"""\nAnn,a@x.com,"VP, Sales"junk\n'
    path = tmp_path / "people.csv"
    path.write_text(text)
    expected = _reference(text)
    assert [r.values for r in expected][1]["title"] == "VP, Salesjunk"
    for size in range(1, len(text) + 1):
        assert _read(path, size) == expected


def test_bad_bytes_refuse_their_row_only(tmp_path: Path) -> None:
    """Past the first 64 KB (which decide the encoding), a row that is not UTF-8 is refused, alone."""
    path = tmp_path / "people.csv"
    path.write_bytes(b"name,email\n" + b"Ann,a@x.com\n" * 10000 + b"B\xffb,b@x.com\nCarl,c@x.com\n")
    rows = _read(path, 4096)
    bad = [r for r in rows if r.values is None]
    assert [(r.line, r.error) for r in bad] == [(10002, "not valid utf-8 text")]
    assert rows[-1] == RawRow(10003, {"name": "Carl", "email": "c@x.com"})


def test_unreadable_rows_are_refused_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(b"name,email\n" + b"A" * (1 << 21) + b",a@x.com\nBob,b@x.com\n")  # past the 1 MB field limit
    rows = _read(path, 1 << 16)
    assert rows[0].line == 2 and rows[0].values is None and "unreadable CSV row" in (rows[0].error or "")
    assert rows[1] == RawRow(3, {"name": "Bob", "email": "b@x.com"})


def test_json_lines_blocks(tmp_path: Path) -> None:
    path = tmp_path / "people.jsonl"
    path.write_text('{"name": "Ann"}\n\n[1]\n{"name": "Bo\\nb"}\r\n{bad\n')
    for size in (1, 7, 1 << 20):
        rows = _read(path, size)
        assert [(r.line, r.values) for r in rows[:1]] == [(1, {"name": "Ann"})]
        assert (rows[1].line, rows[1].error) == (3, "each line must be a JSON object")
        assert (rows[2].line, rows[2].values) == (4, {"name": "Bo\nb"})
        assert rows[3].line == 5 and (rows[3].error or "").startswith("not valid JSON")


def _people(n: int, first: int = 0) -> str:
    return "".join(f"Person{i} Tester,p{i}@acme.example,Engineer\n" for i in range(first, first + n))


def test_an_unterminated_quote_is_named_and_every_other_row_read(tmp_path: Path) -> None:
    """Line 2 opens a quote that never closes and 1,000 good rows follow: line 2 is reported, the 1,000 land."""
    path = tmp_path / "people.csv"
    path.write_text('name,email,title\n"Ann Broken,ann@acme.example,CEO\n' + _people(1000))
    for size in (97, 4096, 1 << 19):
        rows = _read(path, size)
        bad = [r for r in rows if r.values is None]
        assert [r.line for r in bad] == [2]
        assert "unterminated quote" in (bad[0].error or "") and "line 2" in (bad[0].error or "")
        assert "to the end of the file" in (bad[0].error or "")
        good = [r for r in rows if r.values is not None]
        assert len(good) == 1000 and good[0] == RawRow(3, {"name": "Person0 Tester", "email": "p0@acme.example",
                                                           "title": "Engineer"})  # fmt: skip
        assert good[-1].line == 1002


def test_a_quote_that_closes_rows_later_swallows_nothing(tmp_path: Path) -> None:
    """A stray quote on line 3 closed by another on line 9: both lines are reported, the rows between read."""
    text = "name,email,title\n" + _people(1) + 'Bo"b,"b@acme.example,Dev\n' + _people(5, 1)
    text += 'Eve,eve@acme.example,"Ops\n' + _people(3, 6)
    path = tmp_path / "people.csv"
    path.write_text(text.replace('Bo"b,"b@', 'Bob,"b@'))
    for size in (13, 1 << 19):
        rows = _read(path, size)
        assert [r.line for r in rows if r.values is None] == [3, 9]
        assert [r.line for r in rows if r.values is not None] == [2, 4, 5, 6, 7, 8, 10, 11, 12]


def test_quoted_notes_over_a_few_lines_are_read_as_written(tmp_path: Path) -> None:
    text = 'name,email,notes\nAnn,a@x.com,"Met at the fair,\nfollow up in May"\nBob,b@x.com,"line one\nline two, and three\n"'
    path = tmp_path / "people.csv"
    path.write_text(text)
    expected = _reference(text + "\n")
    assert [r for r in _read(path, 1 << 19)] == expected
    assert expected[1].values is not None and expected[1].values["notes"] == "line one\nline two, and three\n"


def test_an_unterminated_quote_in_a_two_column_file_runs_to_the_end_and_is_named(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text('name,email\nAnn,"ann@x.com\nBob,bob@x.com\nCarl,carl@x.com\n')
    rows = _read(path, 1 << 19)
    assert [(r.line, r.values is None) for r in rows] == [(2, True), (3, False), (4, False)]
