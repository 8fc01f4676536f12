"""A landing file's bytes, read before any parser sees them.

Ingestion must be able to prove that every line of a file was either kept or quarantined, so it
needs a count of the file's lines that does not come from the parser that loads them: DuckDB's
CSV reader can swallow the rest of a file into one unclosed quote, and it reads a truncated
gzip stream without a word. `scan` reads the (decompressed) stream once, beside the sha256 the
file log keeps, and counts its physical lines, blank lines, line endings and over-long lines; a
gzip stream that ends early or fails its checksum is an error here.

The few files that real exports get wrong in ways the readers cannot take (LF and CRLF mixed,
a line of many megabytes, a quote that never closes, a JSON file with a byte-order mark) are
rewritten by `repair` into a clean copy with the same line numbers: each line it cannot keep is
replaced by an empty line and returned as a quarantined record with its reason.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# A line longer than this is quarantined, not parsed: no record of any contract comes near it,
# and DuckDB's readers refuse a whole file for one line over their own 2 MiB limit.
MAX_LINE_BYTES = 1 << 20
_BLOCK = MAX_LINE_BYTES  # a line longer than a block must cross a block boundary (see feed)
KEPT_CHARACTERS = 1_000  # of a line too long to keep whole in the quarantine
BOM = b"\xef\xbb\xbf"
_BLANK = re.compile(rb"(?<=\n)\r?\n")  # an empty line: a newline right after a newline


class LandingFileError(ValueError):
    """A file that cannot be loaded at all; the message names the file and the problem."""


@dataclass
class LineScan:
    sha256: str
    lines: int = 0  # physical lines of the decompressed stream (a last line without \n counts)
    newlines: int = 0
    crlf: int = 0  # lines ending in \r\n
    blank_lines: int = 0  # empty lines ('' or a lone \r), which CSV readers skip
    bom: bool = False
    long_lines: list[int] = field(default_factory=list)  # 1-based, over MAX_LINE_BYTES

    @property
    def mixed_line_endings(self) -> bool:
        return 0 < self.crlf < self.newlines


class _LineCounter:
    """Counts lines block by block, with the few bytes of the last block that a pattern can span."""

    def __init__(self, count_blank: bool) -> None:
        self.scan = LineScan(sha256="")
        self.count_blank = count_blank
        self.tail = b"\n"  # as if a line had just ended: an empty first line is blank too
        self.line_bytes = 0  # of the line still open at the end of the last block
        self.first = True
        self.last = b""

    def feed(self, block: bytes) -> None:
        # single-byte searches (memchr) where they can settle it: a multi-byte one costs five
        # times as much on the hundreds of megabytes of a day's web events
        scan = self.scan
        if self.first:
            scan.bom, self.first = block.startswith(BOM), False
        has_cr = b"\r" in block
        if has_cr or (self.last == b"\r" and block[:1] == b"\n"):
            scan.crlf += block.count(b"\r\n") + (self.last == b"\r" and block[:1] == b"\n")
        if self.count_blank:
            window = self.tail + block
            if b"\n\n" in window or (
                (has_cr or b"\r" in self.tail) and b"\n\r\n" in window
            ):  # rare: saves a regex
                scan.blank_lines += sum(m.end() > len(self.tail) for m in _BLANK.finditer(window))
        first = block.find(b"\n")
        if first == -1:
            self.line_bytes += len(block)
        else:
            # lines wholly inside the block are shorter than a block, so only the line that
            # crosses into it can be too long
            if self.line_bytes + first > MAX_LINE_BYTES:
                scan.long_lines.append(scan.newlines + 1)
            self.line_bytes = len(block) - block.rfind(b"\n") - 1
        scan.newlines += block.count(b"\n")
        self.tail, self.last = (
            (self.tail + block)[-2:] if len(block) < 2 else block[-2:],
            block[-1:],
        )

    def finish(self, sha256: str) -> LineScan:
        scan = self.scan
        scan.sha256 = sha256
        scan.lines = scan.newlines + (self.last not in (b"", b"\n"))
        if self.line_bytes > MAX_LINE_BYTES:
            scan.long_lines.append(scan.newlines + 1)
        return scan


def _read_blocks(f) -> Iterator[bytes]:
    return iter(lambda: f.read(_BLOCK), b"")


def scan(path: Path, label: str) -> LineScan:
    """The file's sha256 (of its bytes as delivered) and the line counts of its text."""
    digest, counter = hashlib.sha256(), _LineCounter(count_blank=True)
    with path.open("rb") as f:
        for block in _read_blocks(f):
            digest.update(block)
            if not path.name.endswith(".gz"):
                counter.feed(block)
    if path.name.endswith(".gz"):
        with _open_binary(path, label) as f:
            for block in _read_blocks(f):
                counter.feed(block)
    return counter.finish(digest.hexdigest())


class _CheckedGzip:
    """gzip.open whose read errors name the file: a truncated or corrupt stream is rejected."""

    def __init__(self, path: Path, label: str) -> None:
        self.f, self.label = gzip.open(path), label  # noqa: SIM115 - closed by __exit__

    def _checked(self, read, *args) -> bytes:
        try:
            return read(*args)
        except EOFError as e:
            raise LandingFileError(
                f"{self.label}: truncated gzip (the compressed stream ends early); nothing of "
                "it was loaded: re-deliver the file"
            ) from e
        except (gzip.BadGzipFile, zlib.error, OSError) as e:
            raise LandingFileError(f"{self.label}: corrupt gzip ({e})") from e

    def read(self, size: int = -1) -> bytes:
        return self._checked(self.f.read, size)

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self._checked(self.f.readline), b"")

    def __enter__(self) -> _CheckedGzip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.f.close()


def _open_binary(path: Path, label: str):
    return _CheckedGzip(path, label) if path.name.endswith(".gz") else path.open("rb")


def unclosed_quote_line(path: Path, label: str) -> int | None:
    """The line whose quote is still open at the end of the file, if any (RFC 4180: a field's
    quotes come in pairs, a doubled quote included, so the parity of a line's quotes says
    whether the record goes on past it)."""
    in_quote, record_start = False, None
    with _open_binary(path, label) as f:
        for number, line in enumerate(f, start=1):
            if not in_quote:
                record_start = number
            if line.count(b'"') % 2:
                in_quote = not in_quote
    return record_start if in_quote else None


@dataclass
class RepairedFile:
    path: Path
    blank_lines: int  # in the copy: the file's own and those put in place of a quarantined line
    rejects: list[tuple[int, str, str]]  # (line, the start of its text, reason)
    notes: list[str]


def repair(
    path: Path, label: str, scan_: LineScan, out_dir: Path, unclosed_quote: int | None = None
) -> RepairedFile:
    """A copy of the file, line for line, that the readers can take: one line ending, no
    byte-order mark, and an empty line in place of each line that is too long or opens a
    quote that never closes (those are returned as rejects)."""
    long_lines = set(scan_.long_lines)
    rejects, notes, blank = [], [], 0
    if scan_.mixed_line_endings:
        notes.append(f"line endings made uniform ({scan_.crlf} of {scan_.newlines} were CRLF)")
    if scan_.bom:
        notes.append("byte-order mark removed")
    out = out_dir / "repaired.txt"
    with _open_binary(path, label) as f, out.open("wb") as copy:
        for number, line in enumerate(f, start=1):
            if number == 1 and line.startswith(BOM):
                line = line[len(BOM) :]
            if number in long_lines:
                size = len(line.rstrip(b"\r\n"))
                text = line[: KEPT_CHARACTERS * 4].decode("utf-8", "replace")[:KEPT_CHARACTERS]
                reason = (
                    f"line too long: {size:,} bytes (limit {MAX_LINE_BYTES:,}); its first "
                    f"{KEPT_CHARACTERS:,} characters are kept"
                )
                rejects.append((number, text, reason))
                line = b"\n"
            elif number == unclosed_quote:
                rejects.append(
                    (
                        number,
                        line.rstrip(b"\r\n").decode("utf-8", "replace"),
                        "unparseable CSV line: opens a quote that never closes",
                    )
                )
                line = b"\n"
            elif line.endswith(b"\r\n"):
                line = line[:-2] + b"\n"
            blank += line == b"\n"
            copy.write(line)
    if long_lines:
        notes.append(f"{len(long_lines)} line(s) over {MAX_LINE_BYTES:,} bytes quarantined")
    if unclosed_quote:
        notes.append(f"line {unclosed_quote} opens a quote that never closes: quarantined")
    return RepairedFile(out, blank, rejects, notes)
