"""Writing long text files (BVH, Live Link CSV) block by block.

An hour of animation is ~100 000 rows; formatting them all into one string before writing held
several hundred MB at once. Rows are formatted and written ``BLOCK_ROWS`` at a time instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from umo.errors import UmoError

BLOCK_ROWS = 2048


def write_rows(path: str | Path, head: Iterable[str], row_format: str, rows: np.ndarray,
               prefixes: Iterable[str] | None = None, what: str = "file") -> None:
    """Write the ``head`` lines, then one line per row of ``rows`` (T, C) as ``row_format % row``,
    each preceded by its prefix when ``prefixes`` (one string per row) is given; newline-terminated."""
    prefixes = None if prefixes is None else list(prefixes)
    try:
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for line in head:
                f.write(line + "\n")
            for start in range(0, rows.shape[0], BLOCK_ROWS):
                block = rows[start:start + BLOCK_ROWS]
                pre = prefixes[start:start + BLOCK_ROWS] if prefixes is not None else [""] * len(block)
                f.write("".join(p + row_format % tuple(r) + "\n" for p, r in zip(pre, block)))
    except OSError as e:
        raise UmoError(f"cannot write {what} {path}: {e.strerror or e}") from e
