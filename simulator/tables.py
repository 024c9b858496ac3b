"""Integer tables written in bulk: the CSV and TSV files of every layout (docs/design.md §3).

Formatting happens on whole arrays (no Python loop over rows), in steps of
:data:`CSV_ROWS_PER_STEP` rows, so the bytes depend only on the integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["CSV_ROWS_PER_STEP", "format_int_rows", "write_int_table"]

#: Rows formatted per step when writing CSVs (bounds memory for huge datasets).
CSV_ROWS_PER_STEP = 1_000_000


def format_int_rows(columns: Sequence[np.ndarray], *, sep: str = ",") -> bytes:
    """CSV rows (no header) of non-negative integer columns, formatted in bulk.

    Each column becomes a fixed-width block of ASCII digits; the padding is then dropped with one
    boolean mask, so the cost is a few array passes per column whatever the row count.

    Parameters
    ----------
    columns : sequence of ndarray of shape (n,), non-negative ints
    sep : str, default ","
        One ASCII character between columns (``"\\t"`` for RecBole's atomic files).

    Returns
    -------
    bytes
        ``b"c0,c1,...\\n"`` per row.
    """
    if len(sep) != 1 or not sep.isascii():
        raise ValueError(f"sep must be one ASCII character, got {sep!r}")
    cols = [np.asarray(c) for c in columns]
    n = len(cols[0])
    if n == 0:
        return b""
    widths = [len(str(int(c.max()))) for c in cols]
    if min(int(c.min()) for c in cols) < 0:
        raise ValueError("format_int_rows needs non-negative integers")
    total = sum(widths) + len(cols)
    buf = np.empty((n, total), dtype=np.uint8)
    keep = np.ones((n, total), dtype=bool)
    pos = 0
    for j, (col, width) in enumerate(zip(cols, widths, strict=True)):
        x = col.astype(np.int64)
        for p in range(width - 1, -1, -1):
            buf[:, pos + p] = 48 + x % 10
            x //= 10
        if width > 1:
            value = col.astype(np.int64)
            for p in range(width - 1):  # position p holds a leading zero iff value < 10^(w-1-p)
                keep[:, pos + p] = value >= 10 ** (width - 1 - p)
        pos += width
        buf[:, pos] = ord(sep) if j < len(cols) - 1 else ord("\n")
        pos += 1
    return buf[keep].tobytes()


def write_int_table(
    path: str | Path,
    header: str,
    columns: Sequence[np.ndarray],
    *,
    sep: str = ",",
    float_last: bool = False,
) -> None:
    """Write a header line and rows of non-negative integer columns, in bulk, in steps.

    Parameters
    ----------
    path : str or Path
    header : str
        The first line, without its newline.
    columns : sequence of ndarray of shape (n,), non-negative ints
    sep : str, default ","
        Column separator (one ASCII character).
    float_last : bool, default False
        Write the last column as ``"4.0"`` rather than ``"4"`` (how pandas writes iDCF's
        ratings).
    """
    n = len(columns[0])
    with open(path, "wb") as fh:
        fh.write(header.encode() + b"\n")
        for lo in range(0, n, CSV_ROWS_PER_STEP):
            hi = min(lo + CSV_ROWS_PER_STEP, n)
            rows = format_int_rows([c[lo:hi] for c in columns], sep=sep)
            fh.write(rows.replace(b"\n", b".0\n") if float_last else rows)
