"""FACEGOOD rig weights -> ARKit on the held-out fixture clip 1114_3_16."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from umo.constants import ARKIT_INDEX, ARKIT_NAMES, JAW_MOUTH_NAMES, lip_aperture
from umo.errors import UmoError
from umo.formats.facegood import (
    DEFAULT_BSNAME,
    DEFAULT_MAPPING_XLSX,
    align_columns,
    detect_column_offset,
    facegood_to_arkit,
    load_facegood_mapping,
    load_facegood_values,
    read_bsname,
    read_facegood,
)


@pytest.fixture
def fg(fixtures):
    return fixtures / "facegood"


def _frame_db(audio: np.ndarray, sr: int, fps: float) -> np.ndarray:
    hop = int(sr / fps)
    n = len(audio) // hop
    x = audio[: n * hop].astype(np.float64).reshape(n, hop)
    return 20 * np.log10(np.sqrt(np.mean(x**2, axis=1) + 1e-10))


def _best_corr(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[float, int]:
    """Highest Pearson r of a[t + lag] with b[t]; lag > 0: a lags b."""
    t = min(len(a), len(b))
    best = (-2.0, 0)
    for lag in range(-max_lag, max_lag + 1):
        x = a[max(0, lag) : t + min(0, lag)]
        y = b[max(0, -lag) : t - max(0, lag)]
        n = min(len(x), len(y))
        best = max(best, (float(np.corrcoef(x[:n], y[:n])[0, 1]), lag))
    return best


def test_mapping_parsed_from_spreadsheet(fg):
    m = load_facegood_mapping(fg / "Voice2Face_blendshape2ARkit.xlsx", fg / "bsname.txt")
    names = read_bsname(fg / "bsname.txt")
    assert m.shape == (52, 116) and len(names) == 116
    mapped = [ARKIT_NAMES[k] for k in np.flatnonzero(m.any(axis=1))]
    assert len(mapped) == 27 and set(mapped) <= set(JAW_MOUTH_NAMES)  # the 27 "valid" rows: the mouth
    assert m[ARKIT_INDEX["JawOpen"], names.index("mouth_stretch_c")] == 1 and m[ARKIT_INDEX["JawOpen"]].sum() == 1
    funnel = [names[j] for j in np.flatnonzero(m[ARKIT_INDEX["MouthFunnel"]])]
    assert sorted(funnel) == ["mouth_funnel_dl", "mouth_funnel_dr", "mouth_funnel_ul", "mouth_funnel_ur"]
    assert m[ARKIT_INDEX["EyeBlinkLeft"]].sum() == 0  # "Invalid" rows stay unmapped
    # the bundled copy is the same table
    np.testing.assert_array_equal(load_facegood_mapping(), m)
    assert DEFAULT_MAPPING_XLSX.is_file() and DEFAULT_BSNAME.is_file()


def test_max_rule():
    names = read_bsname()
    v = np.zeros((2, 116))
    v[0, names.index("mouth_funnel_ul")] = 0.3
    v[0, names.index("mouth_funnel_dr")] = 0.7
    v[1, names.index("mouth_stretch_c")] = 1.4  # out of range: clipped
    out = facegood_to_arkit(v)
    assert out[0, ARKIT_INDEX["MouthFunnel"]] == pytest.approx(0.7)
    assert out[1, ARKIT_INDEX["JawOpen"]] == 1.0
    assert out.sum() == pytest.approx(1.7)


def test_published_columns_are_shifted_by_one(fg):
    """Shifted back, identical columns become left/right twins; as labelled they are not."""
    names = read_bsname(fg / "bsname.txt")
    raw = load_facegood_values(fg / "bs_value_1114_3_16.npy")
    assert detect_column_offset(raw, names) == 1
    assert detect_column_offset(align_columns(raw, 1), names, candidates=(0, 1, -1)) == 0
    aligned = align_columns(raw, 1)
    for left in ("mouth_lipCornerPull_l", "mouth_lowerLipDepress_l", "mouth_funnel_dl"):
        i, j = names.index(left), names.index(left[:-1] + "r")
        assert aligned[:, i].max() > 0.05
        np.testing.assert_array_equal(aligned[:, i], aligned[:, j])
        assert not np.array_equal(raw[:, i], raw[:, j])
    assert raw[:, 0].max() == 0  # the empty leading column


def test_fixture_clip(fg):
    wav = fg / "1114_3_16.wav"
    anim = read_facegood(fg / "bs_value_1114_3_16.npy", wav)
    assert anim.fps == 30 and anim.face.shape == (1429, 52)
    assert anim.face.min() >= 0 and anim.face.max() <= 1
    assert abs(anim.num_frames / 30 - sf.info(wav).duration) < 1 / 30
    assert anim.audio is not None and anim.sample_rate == 16000 and abs(len(anim.audio) / 16000 - 47.652) < 1e-3
    moving = {ARKIT_NAMES[k] for k in range(52) if anim.face[:, k].max() > 0.05}
    assert moving <= set(JAW_MOUTH_NAMES) and "JawOpen" in moving

    db = _frame_db(anim.audio, anim.sample_rate, anim.fps)
    r_jaw, lag_jaw = _best_corr(anim.face[:, ARKIT_INDEX["JawOpen"]], db, max_lag=10)
    r_lip, lag_lip = _best_corr(lip_aperture(anim.face), db, max_lag=10)
    # measured: JawOpen r = 0.58 at lag +1, lip aperture r = 0.65 at lag +1 (33 ms)
    assert r_jaw > 0.45 and abs(lag_jaw) <= 3, (r_jaw, lag_jaw)
    assert r_lip > 0.5 and abs(lag_lip) <= 3, (r_lip, lag_lip)
    # read as labelled (no shift), JawOpen would never move
    unshifted = read_facegood(fg / "bs_value_1114_3_16.npy", column_offset=0)
    assert unshifted.face[:, ARKIT_INDEX["JawOpen"]].max() == 0


def test_errors(fg, tmp_path):
    with pytest.raises(UmoError, match="not found"):
        read_facegood(tmp_path / "none.npy")
    np.save(tmp_path / "wrong.npy", np.zeros((10, 52)))
    with pytest.raises(UmoError, match=r"\(frames, 116\)"):
        read_facegood(tmp_path / "wrong.npy")
    with pytest.raises(UmoError, match="not found"):
        load_facegood_mapping(tmp_path / "none.xlsx")
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["ARKIT", None, "Voice2Face", None, None, None, "Status"])
    wb.active.append(["jawOpen", None, "mouth_nonexistent_c", None, None, None, "valid"])
    wb.save(tmp_path / "bad.xlsx")
    with pytest.raises(UmoError, match="mouth_nonexistent_c"):
        load_facegood_mapping(tmp_path / "bad.xlsx", fg / "bsname.txt")
    with pytest.raises(UmoError, match=r"\(frames, 116\)"):
        facegood_to_arkit(np.zeros((5, 100)))
