"""Praat TextGrids: the real BEAT alignments, both text layouts, encodings, round trip, errors."""

from __future__ import annotations

import pytest
import soundfile as sf

from umo.errors import UmoError
from umo.formats.lab import read_lab
from umo.formats.textgrid import read_textgrid, read_timing, read_words, write_textgrid
from umo.speech.units import SILENCE, Timing, Word

# Words per BEAT TextGrid: non-empty intervals of the "words" tier, counted with grep on the files.
# (SOURCES.md's "862 words" for 0_1_1 is the non-empty intervals of both tiers: 199 words + 663 phones.)
BEAT_WORDS = {"2_scott_0_1_1": 199, "2_scott_0_2_2": 201, "2_scott_0_3_3": 187, "2_scott_0_4_4": 202}

SHORT = '''File type = "ooTextFile"
Object class = "TextGrid"

0
2.5
<exists>
3
"IntervalTier"
"Wort"
0
2.5
4
0
0.4
""
0.4
1.1
"Grüße"
1.1
1.3
"sp"
1.3
2.5
"say ""hi"""
"TextTier"
"events"
0
2.5
1
0.9
"click"
"IntervalTier"
"phones"
0
2.5
1
0
2.5
"x"
'''


def test_beat_words(shared_data):
    path = shared_data / "beat" / "2_scott_0_1_1.TextGrid"
    tiers = read_textgrid(path)
    assert list(tiers) == ["words", "phones"]
    assert len(tiers["words"]) == 220 and len(tiers["phones"]) == 684
    nonempty = sum(1 for tier in tiers.values() for iv in tier if iv.text.strip())
    assert nonempty == 862  # the figure in SOURCES.md
    words = read_words(path)
    assert len(words) == 199
    assert [w.text for w in words[:6]] == ["the", "first", "thing", "i", "like", "to"]
    assert words[0].start == pytest.approx(1.42) and words[0].end == pytest.approx(1.52)
    duration = sf.info(shared_data / "beat" / "2_scott_0_1_1.wav").duration
    assert words[-1].end <= duration + 1e-6
    assert tiers["words"][-1].end == pytest.approx(duration)
    for a, b in zip(words, words[1:]):
        assert a.start < a.end <= b.start + 1e-9


@pytest.mark.parametrize("name", sorted(BEAT_WORDS))
def test_all_beat_textgrids(shared_data, name):
    path = shared_data / "beat" / f"{name}.TextGrid"
    timing = read_timing(path)
    assert len(timing.words) == BEAT_WORDS[name]
    speech = [p for p in timing.phones if p.symbol != SILENCE]
    assert speech and all(0 <= p.word < len(timing.words) for p in speech)
    # every phone lies inside the word it is attached to
    for p in speech:
        w = timing.words[p.word]
        assert w.start - 1e-6 <= p.start and p.end <= w.end + 1e-6
    assert any(p.stress == 1 for p in timing.phones)


def test_short_format_utf8_and_utf16(tmp_path):
    for enc in ("utf-8", "utf-16"):
        path = tmp_path / f"short_{enc}.TextGrid"
        path.write_bytes(SHORT.encode(enc))  # Python's utf-16 codec writes a BOM
        tiers = read_textgrid(path)
        assert list(tiers) == ["Wort", "phones"]  # the point tier is skipped
        assert [iv.text for iv in tiers["Wort"]] == ["", "Grüße", "sp", 'say "hi"']
        words = read_words(path)  # "Wort" is not a known name: the first interval tier is used
        assert words == [Word("Grüße", 0.4, 1.1), Word('say "hi"', 1.3, 2.5)]
        assert [w.text for w in read_words(path, tier="phones")] == ["x"]


def test_long_format_with_utf16_bom(shared_data, tmp_path):
    text = (shared_data / "beat" / "2_scott_0_2_2.TextGrid").read_text()
    path = tmp_path / "beat16.TextGrid"
    path.write_bytes(text.encode("utf-16"))
    assert len(read_words(path)) == BEAT_WORDS["2_scott_0_2_2"]


def test_round_trip_with_lab_phones(fixtures, tmp_path):
    lab = read_lab(fixtures / "arctic_a0009_phone.lab")
    words_text = "He turned sharply and faced Gregson across the table".split()
    # word spans from the phone labels (phones per word, by hand from the CMU dictionary)
    counts = [2, 4, 6, 3, 4, 7, 5, 2, 5]
    speech = [p for p in lab.phones if p.symbol != SILENCE]
    assert sum(counts) == len(speech)
    words, k = [], 0
    for text, n in zip(words_text, counts):
        words.append(Word(text, speech[k].start, speech[k + n - 1].end))
        k += n
    timing = Timing(phones=lab.phones, words=words)
    path = tmp_path / "out" / "a0009.TextGrid"
    write_textgrid(path, timing)
    back = read_timing(path)
    assert back.words == [Word(w.text, pytest.approx(w.start), pytest.approx(w.end)) for w in words]
    assert [p.symbol for p in back.phones] == [p.symbol for p in lab.phones]
    for a, b in zip(back.phones, lab.phones):
        assert a.start == pytest.approx(b.start) and a.end == pytest.approx(b.end)
    assert [p.word for p in back.phones if p.symbol != SILENCE][:6] == [0, 0, 1, 1, 1, 1]
    tiers = read_textgrid(path)
    assert tiers["words"][0].end == tiers["words"][1].start  # gapless tiers, as Praat needs
    assert tiers["words"][-1].end == pytest.approx(lab.end)


def test_errors(tmp_path, fixtures):
    bad = tmp_path / "bad.TextGrid"
    lines = SHORT.splitlines()
    lines[16] = '"1.1"'  # a string where the interval end time belongs
    bad.write_text("\n".join(lines))
    with pytest.raises(UmoError, match="line 17.*xmax of interval 2"):
        read_textgrid(bad)
    truncated = tmp_path / "cut.TextGrid"
    truncated.write_text("\n".join(SHORT.splitlines()[:12]))
    with pytest.raises(UmoError, match="ends early"):
        read_textgrid(truncated)
    with pytest.raises(UmoError, match="not look like a Praat|not a Praat"):
        read_textgrid(fixtures / "TRANSCRIPTS.txt")
    with pytest.raises(UmoError, match="not found"):
        read_textgrid(tmp_path / "missing.TextGrid")
    good = tmp_path / "good.TextGrid"
    good.write_text(SHORT)
    with pytest.raises(UmoError, match="no interval tier named 'words'.*'Wort'"):
        read_words(good, tier="words")
    with pytest.raises(UmoError, match="non-ARPAbet.*'x'"):
        read_timing(good)
