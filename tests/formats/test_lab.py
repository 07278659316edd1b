"""Phone label files: the real ARCTIC HTS labels and the other layouts written by hand."""

from __future__ import annotations

import pytest
import soundfile as sf

from umo.errors import UmoError
from umo.formats.lab import arpabet_symbol, read_lab
from umo.speech.units import PHONES, SILENCE


def _transcript_phones(fixtures) -> list[str]:
    """The phone sequence quoted in TRANSCRIPTS.txt for arctic_a0009, mapped by hand to ARPAbet."""
    for line in (fixtures / "TRANSCRIPTS.txt").read_text().splitlines():
        if line.startswith("arctic_a0009.wav"):
            quoted = line[line.index("(") + 1 : line.rindex(")")].split()
            return ["SIL" if p == "sil" else "AH" if p == "ax" else p.upper() for p in quoted]
    raise AssertionError("arctic_a0009 missing from TRANSCRIPTS.txt")


def test_arctic_hts_labels(fixtures):
    timing = read_lab(fixtures / "arctic_a0009_phone.lab")
    symbols = [p.symbol for p in timing.phones]
    assert symbols == _transcript_phones(fixtures)
    assert len(symbols) == 40 and timing.words == []
    first = timing.phones[0]
    assert first.symbol == SILENCE and first.start == 0.0 and first.end == pytest.approx(0.13)
    for a, b in zip(timing.phones, timing.phones[1:]):
        assert a.start < a.end == pytest.approx(b.start)
    duration = sf.info(fixtures / "arctic_a0009.wav").duration  # 3.095 s
    assert abs(timing.phones[-1].end - duration) < 0.03
    assert all(p.symbol in PHONES for p in timing.phones)


def test_state_level_labels_merge_to_phones(shared_data, fixtures):
    """The state-level ARCTIC labels (5 lines per phone) give the same phones as the phone labels."""
    state = read_lab(shared_data / "speech" / "arctic_a0009_state.lab")
    phone = read_lab(fixtures / "arctic_a0009_phone.lab")
    assert [p.symbol for p in state.phones] == [p.symbol for p in phone.phones]
    for a, b in zip(state.phones, phone.phones):
        assert a.start == pytest.approx(b.start) and a.end == pytest.approx(b.end)


def test_plain_seconds_and_htk_units(tmp_path):
    sec = tmp_path / "sec.lab"
    sec.write_text("0.0 0.2 pau\n0.2 0.25 sil\n0.25 0.4 hh\n0.4 0.6 AY1\n0.6 0.9 h#\n")
    t = read_lab(sec)
    assert [(p.symbol, p.stress) for p in t.phones] == [("SIL", 0), ("HH", 0), ("AY", 1), ("SIL", 0)]
    assert t.phones[0].end == pytest.approx(0.25)  # pau + sil merged
    htk = tmp_path / "htk.lab"
    htk.write_text("0 2500000 sil\n2500000 4000000 hh\n4000000 6000000 ay\n6000000 9000000 ssil\n")
    t2 = read_lab(htk)
    assert [p.symbol for p in t2.phones] == ["SIL", "HH", "AY", "SIL"]
    assert t2.phones[-1].end == pytest.approx(0.9)


def test_festival_xwaves(tmp_path):
    path = tmp_path / "fest.lab"
    path.write_text(
        "separator ;\nnfields 1\n#\n    0.130000 125 pau\n    0.205000 125 hh\n"
        "    0.270000 125 iy\n    0.375000 125 t\n    0.500000 125 ax\n    0.700000 125 pau\n"
    )
    t = read_lab(path)
    assert [p.symbol for p in t.phones] == ["SIL", "HH", "IY", "T", "AH", "SIL"]
    assert t.phones[0].start == 0.0 and t.phones[1].start == pytest.approx(0.13)
    assert t.phones[-1].end == pytest.approx(0.7)


def test_symbol_mapping():
    assert arpabet_symbol("AH0") == ("AH", 0)
    assert arpabet_symbol("ax") == ("AH", 0)
    assert arpabet_symbol("er1") == ("ER", 1)
    assert arpabet_symbol("pau") == (SILENCE, 0)
    assert arpabet_symbol("xyz") is None


def test_errors(tmp_path):
    bad = tmp_path / "bad.lab"
    bad.write_text("0.0 0.2 sil\n0.2 0.3 qq\n0.3 0.4 zz9\n")
    with pytest.raises(UmoError, match="'qq'.*'zz9'|'zz9'.*'qq'"):
        read_lab(bad)
    garbled = tmp_path / "garbled.lab"
    garbled.write_text("0.0 0.2 sil\nhello world\n")
    with pytest.raises(UmoError, match="line 2"):
        read_lab(garbled)
    backwards = tmp_path / "back.lab"
    backwards.write_text("0.0 0.5 sil\n0.3 0.6 hh\n")
    with pytest.raises(UmoError, match="line 2.*backwards"):
        read_lab(backwards)
    with pytest.raises(UmoError, match="not found"):
        read_lab(tmp_path / "none.lab")
    empty = tmp_path / "empty.lab"
    empty.write_text("\n")
    with pytest.raises(UmoError, match="empty"):
        read_lab(empty)
