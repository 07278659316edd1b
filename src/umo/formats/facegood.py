"""FACEGOOD Audio2Face rig weights (116 channels, 30 fps) -> ARKit-52, by FACEGOOD's own table.

FACEGOOD-Audio2Face (MIT) ships animator-solved weights for a 116-blendshape rig (``bsname.txt``:
a count line, then one name per line) as ``bs_value_*.npy`` (T, 116) float64 in [0, 1] at 30 fps,
saved under Python 2, and a spreadsheet ``Voice2Face_blendshape2ARkit.xlsx`` that defines each
ARKit shape as one rig channel or ``max(a, b, ...)`` of several. Its note says the training
animation only animated the **mouth**, so rows outside it are marked "Invalid"; umo keeps only the
"valid" rows (27 jaw and mouth shapes) and leaves the other 25 at 0.

The table is parsed at run time from the spreadsheet, never retyped: :func:`load_facegood_mapping`
locates the "ARKIT", "Voice2Face" and "Status" columns by their headers. A copy of the spreadsheet,
``bsname.txt`` and FACEGOOD's LICENSE is bundled in ``umo/data/facegood``.

**The published weight files are shifted by one column** against ``bsname.txt``: column ``j`` holds
channel ``j - 1`` (column 0 is always 0 and the last channel, ``cheek_suck_l``, is absent). Three
independent signs agree: read with the shift, all 10 pairs of identical columns in the five
published takes become left/right twins (``mouth_press_l``/``_r``, ``mouth_funnel_dl``/``_dr`` ...;
read as labelled they pair ``mouth_lowerLipDepress_r`` with ``brow_raise_r``); the column that
follows the speech loudness best becomes ``mouth_stretch_c``, the spreadsheet's source of JawOpen;
and every moving channel becomes a mouth, jaw, teeth or tongue channel, as the spreadsheet's note
says. :func:`detect_column_offset` finds the shift from the left/right twins, and
:func:`align_columns` undoes it.

The mapping is a (52, 116) matrix ``M`` of 0/1 selectors; because the spreadsheet combines channels
with ``max``, not a sum, :func:`facegood_to_arkit` computes ``arkit[:, k] = max_j M[k, j] * v[:, j]``.

Dimension letters: T frames.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from umo.animation import Animation
from umo.constants import ARKIT_NAMES, NUM_BLENDSHAPES, SAMPLE_RATE
from umo.errors import UmoError

FACEGOOD_FPS = 30
NUM_FACEGOOD_CHANNELS = 116
DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "facegood"
DEFAULT_MAPPING_XLSX = DATA_DIR / "Voice2Face_blendshape2ARkit.xlsx"
DEFAULT_BSNAME = DATA_DIR / "bsname.txt"

_ARKIT_BY_LOWER = {n.lower(): i for i, n in enumerate(ARKIT_NAMES)}
_EXPR = re.compile(r"^\s*(?:max\s*\((?P<args>[^()]*)\)|(?P<one>[A-Za-z_][\w]*))\s*$", re.IGNORECASE)


def read_bsname(path: str | Path = DEFAULT_BSNAME) -> tuple[str, ...]:
    """The rig's channel names in value-column order (``bsname.txt``: a count line, then the names)."""
    path = Path(path)
    if not path.is_file():
        raise UmoError(f"FACEGOOD channel list not found: {path} (pass the bsname.txt of the dataset)")
    lines = [l.strip() for l in path.read_text(encoding="utf-8-sig").splitlines() if l.strip()]
    if not lines or not lines[0].isdigit():
        raise UmoError(f"{path}, line 1: expected the channel count, found {lines[0] if lines else 'nothing'!r}")
    names = tuple(lines[1:])
    if len(names) != int(lines[0]):
        raise UmoError(f"{path}: line 1 says {lines[0]} channels but {len(names)} names follow")
    return names


def _find_header(ws, path: Path) -> tuple[int, int, int, int]:
    """(header row, ARKit column, expression column, status column), 1-based, found by header text."""
    for row in ws.iter_rows(min_row=1, max_row=min(ws.max_row, 10)):
        cols = {str(c.value).strip().lower(): c.column for c in row if c.value is not None}
        if "arkit" in cols and "voice2face" in cols and "status" in cols:
            return row[0].row, cols["arkit"], cols["voice2face"], cols["status"]
    raise UmoError(
        f"{path}: no header row with "
        "'ARKIT', 'Voice2Face' and 'Status' columns in its first sheet"
    )


def load_facegood_mapping(
    xlsx_path: str | Path = DEFAULT_MAPPING_XLSX, bsname_path: str | Path = DEFAULT_BSNAME
) -> np.ndarray:
    """FACEGOOD's ARKit table as a (52, 116) 0/1 selector matrix (Live Link order x rig channels).

    Only rows the spreadsheet marks "valid" are filled; see the module docstring for the ``max`` rule.
    """
    import openpyxl

    xlsx_path = Path(xlsx_path)
    if not xlsx_path.is_file():
        raise UmoError(f"FACEGOOD mapping spreadsheet not found: {xlsx_path} (pass Voice2Face_blendshape2ARkit.xlsx)")
    channels = read_bsname(bsname_path)
    col_of = {n: j for j, n in enumerate(channels)}
    try:
        wb = openpyxl.load_workbook(xlsx_path, read_only=True, data_only=True)
    except Exception as e:
        raise UmoError(f"cannot open {xlsx_path} as an .xlsx spreadsheet ({e})") from None
    ws = wb.worksheets[0]
    header, c_arkit, c_expr, c_status = _find_header(ws, xlsx_path)

    mapping = np.zeros((NUM_BLENDSHAPES, len(channels)))
    seen: set[int] = set()
    for row in ws.iter_rows(min_row=header + 1, values_only=True):
        arkit = row[c_arkit - 1] if len(row) >= c_arkit else None
        expr = row[c_expr - 1] if len(row) >= c_expr else None
        status = row[c_status - 1] if len(row) >= c_status else None
        if arkit is None or str(arkit).strip().lower() not in _ARKIT_BY_LOWER:
            continue  # blank rows and the sheet's closing note
        k = _ARKIT_BY_LOWER[str(arkit).strip().lower()]  # the sheet writes "browDownleft": match any case
        seen.add(k)
        if str(status or "").strip().lower() != "valid" or expr is None:
            continue
        m = _EXPR.match(str(expr))
        if m is None:
            raise UmoError(f"{xlsx_path}: cannot parse the expression {expr!r} for {arkit} (expected NAME or max(A,B,...))")
        names = [a.strip() for a in m.group("args").split(",")] if m.group("args") else [m.group("one")]
        missing = [n for n in names if n not in col_of]
        if missing:
            raise UmoError(f"{xlsx_path}: {arkit} uses channel(s) {missing} that {bsname_path} does not list")
        mapping[k, [col_of[n] for n in names]] = 1.0
    wb.close()
    if len(seen) < 40:
        raise UmoError(f"{xlsx_path}: only {len(seen)} ARKit rows found; is this FACEGOOD's ARKit table?")
    return mapping


def facegood_to_arkit(values: np.ndarray, mapping: np.ndarray | None = None) -> np.ndarray:
    """Rig weights -> ARKit weights in Live Link order.

    values: (T, 116) in [0, 1]; mapping: (52, 116) from :func:`load_facegood_mapping` (the bundled
    table when None) -> (T, 52) clipped to [0, 1].
    """
    if mapping is None:
        mapping = load_facegood_mapping()
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != mapping.shape[1]:
        raise UmoError(f"FACEGOOD values must be (frames, {mapping.shape[1]}), got {values.shape}")
    v = np.clip(values, 0.0, 1.0)
    out = np.zeros((v.shape[0], NUM_BLENDSHAPES))
    for k in np.flatnonzero(mapping.any(axis=1)):
        cols = np.flatnonzero(mapping[k])
        out[:, k] = (v[:, cols] * mapping[k, cols]).max(axis=1)
    return np.clip(out, 0.0, 1.0)


def load_facegood_values(npy_path: str | Path) -> np.ndarray:
    """A ``bs_value_*.npy`` file -> (T, 116) float64 (the files were saved by Python 2 numpy)."""
    npy_path = Path(npy_path)
    if not npy_path.is_file():
        raise UmoError(f"FACEGOOD weight file not found: {npy_path} (check the path)")
    try:
        with warnings.catch_warnings():  # numpy warns that Python 2 headers need extra parsing
            warnings.simplefilter("ignore", UserWarning)
            values = np.load(npy_path, encoding="latin1", allow_pickle=False)
    except Exception as e:
        raise UmoError(f"cannot read {npy_path} as a .npy array ({e}); expected FACEGOOD's bs_value_*.npy") from None
    if values.ndim != 2 or values.shape[1] != NUM_FACEGOOD_CHANNELS or values.shape[0] == 0:
        raise UmoError(f"{npy_path}: expected (frames, {NUM_FACEGOOD_CHANNELS}) rig weights, got {values.shape}")
    if not np.all(np.isfinite(values)):
        raise UmoError(f"{npy_path} contains NaN or infinite weights")
    return values.astype(np.float64)


def align_columns(values: np.ndarray, offset: int) -> np.ndarray:
    """(T, C) file columns -> (T, C) channels in ``bsname.txt`` order: channel i = column i + offset.

    Channels with no column are 0.
    """
    out = np.zeros_like(values)
    c = values.shape[1]
    if offset >= 0:
        out[:, : c - offset] = values[:, offset:]
    else:
        out[:, -offset:] = values[:, : c + offset]
    return out


def detect_column_offset(
    values: np.ndarray, names: tuple[str, ...], candidates: tuple[int, ...] = (1, 0, -1)
) -> int:
    """The column shift under which left/right channel pairs move most alike.

    FACEGOOD's animators mostly drove left and right channels together, so in aligned data ``X_l``
    and ``X_r`` (also ``_dl``/``_dr``, ``_ul``/``_ur``) are often exact twins. Score: twin pairs minus
    moving pairs that differ. Ties go to the earlier candidate (1, the published files' shift), e.g.
    on a still clip.
    """
    index = {n: i for i, n in enumerate(names)}
    pairs = [(i, index[n[:-1] + "r"]) for n, i in index.items() if n.endswith("l") and n[:-1] + "r" in index]
    best, best_score = candidates[0], None
    for k in candidates:
        a = align_columns(values, k)
        score = 0
        for i, j in pairs:
            moving = max(a[:, i].max(), a[:, j].max()) > 1e-3
            if moving:
                score += 1 if np.allclose(a[:, i], a[:, j], atol=1e-6) else -1
        if best_score is None or score > best_score:
            best, best_score = k, score
    return best


def read_facegood(
    npy_path: str | Path,
    wav_path: str | Path | None = None,
    xlsx_path: str | Path = DEFAULT_MAPPING_XLSX,
    bsname_path: str | Path = DEFAULT_BSNAME,
    column_offset: int | None = None,
) -> Animation:
    """A FACEGOOD take -> Animation at 30 fps (face only), with its audio at SAMPLE_RATE if given.

    column_offset: the file's column shift (see the module docstring); None detects it.
    """
    values = load_facegood_values(npy_path)
    if column_offset is None:
        column_offset = detect_column_offset(values, read_bsname(bsname_path))
    values = align_columns(values, column_offset)
    face = facegood_to_arkit(values, load_facegood_mapping(xlsx_path, bsname_path))
    t = face.shape[0]
    audio = None
    if wav_path is not None:
        from umo.formats.audio import load_audio

        audio = load_audio(wav_path)
    return Animation(
        fps=FACEGOOD_FPS, face=face, head=np.zeros((t, 3)), eyes=np.zeros((t, 6)),
        audio=audio, sample_rate=SAMPLE_RATE,
    )
