"""The bundled text corpus of the synthetic training data: written sentences plus a small grammar.

``sentences_<language>.txt`` (beside this module) hold a few hundred sentences written for umo:
conversation, questions, exclamations, numbers, lists, long explanations and one-word interjections.
A template grammar (:data:`TEMPLATES`) recombines slot fillers into new sentences, so that a corpus
of any size does not repeat the same few hundred lines: :func:`sample_sentences` draws from both.

Languages are espeak voice languages: "en", "es", "de", "fr", "cmn".
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np

from umo.errors import UmoError

LANGUAGES: tuple[str, ...] = ("en", "es", "de", "fr", "cmn")
_DIR = Path(__file__).resolve().parent
TEMPLATE_SHARE = {"en": 0.5, "es": 0.35, "de": 0.35, "fr": 0.35, "cmn": 0.35}  # the rest: written lines

# --- the grammar ------------------------------------------------------------------------------
# A template is a string with {slot} fields; each slot draws one filler. Fillers may hold slots
# themselves (expanded recursively, depth-limited). {int}, {small}, {year}, {price}, {decimal},
# {clock} are numbers drawn at random, written as digits (espeak reads them out).
_NUMBER_SLOTS = ("int", "small", "year", "price", "decimal", "clock")

SLOTS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "person": ("my sister", "the teacher", "our neighbour", "a friend of mine", "the manager",
                   "my grandfather", "the new intern", "a stranger on the bus", "the doctor", "Maria",
                   "David", "the whole team", "nobody", "everyone in the office", "the kids"),
        "place": ("the station", "the library", "the market", "the beach", "the office", "the old bridge",
                  "the hospital", "the airport", "the park", "the bakery on the corner", "the top floor",
                  "the garden", "the cinema", "the museum", "the mountains"),
        "time": ("tomorrow", "yesterday", "this morning", "last night", "next week", "on Sunday",
                 "in ten minutes", "after lunch", "every Tuesday", "at {clock}", "in {year}", "right now",
                 "later tonight", "two days ago", "at the weekend"),
        "thing": ("the keys", "a red umbrella", "my phone", "the report", "a cup of tea", "the tickets",
                  "an old guitar", "the big box", "a letter", "the camera", "some fresh bread",
                  "the remote control", "the map", "a bicycle", "three apples"),
        "verb_past": ("found", "lost", "fixed", "forgot", "painted", "sold", "borrowed", "dropped",
                      "carried", "opened", "cleaned", "bought", "hid", "returned", "broke"),
        "verb": ("find", "fix", "bring", "carry", "open", "clean", "buy", "check", "move", "paint",
                 "sell", "return", "explain", "finish", "describe"),
        "activity": ("go for a run", "learn to cook", "visit the museum", "watch a film", "read a book",
                     "play chess", "take a long walk", "call my parents", "write a letter",
                     "plant some tomatoes", "clean the kitchen", "practise the piano", "sleep in"),
        "adj": ("wonderful", "strange", "tiny", "enormous", "noisy", "quiet", "beautiful", "boring",
                "brilliant", "expensive", "cheap", "old", "brand new", "surprising", "complicated"),
        "feeling": ("happy", "tired", "nervous", "excited", "hungry", "confused", "relieved", "proud",
                    "curious", "annoyed", "calm", "worried"),
        "interj": ("Oh", "Well", "Hmm", "Wow", "Okay", "Right", "Honestly", "Look", "Listen", "Hey",
                   "Ah", "So", "Anyway", "Oops", "Alright"),
        "unit": ("kilometres", "minutes", "people", "euros", "pages", "steps", "hours", "books",
                 "boxes", "degrees", "metres", "songs"),
        "reason": ("it was raining", "the bus was late", "nobody told me", "I was too tired",
                   "the shop was closed", "we ran out of time", "it seemed like a good idea",
                   "the map was wrong", "my phone died"),
    },
    "es": {
        "person": ("mi hermana", "el profesor", "nuestra vecina", "un amigo", "la directora", "mi abuelo"),
        "place": ("la estación", "la biblioteca", "el mercado", "la playa", "la oficina", "el parque"),
        "time": ("mañana", "ayer", "esta tarde", "el domingo", "la semana que viene", "a las {small}"),
        "thing": ("las llaves", "un paraguas", "mi teléfono", "el informe", "una carta", "los billetes"),
        "adj": ("precioso", "extraño", "enorme", "tranquilo", "caro", "nuevo", "aburrido"),
        "interj": ("Bueno", "Mira", "Oye", "Vaya", "Pues", "Vale"),
    },
    "de": {
        "person": ("meine Schwester", "der Lehrer", "unsere Nachbarin", "ein Freund", "die Chefin", "mein Opa"),
        "place": ("zum Bahnhof", "in die Bibliothek", "auf den Markt", "an den Strand", "ins Büro", "in den Park"),
        "time": ("morgen", "gestern", "heute Abend", "am Sonntag", "nächste Woche", "um {small} Uhr"),
        "thing": ("die Schlüssel", "einen Regenschirm", "mein Handy", "den Bericht", "einen Brief", "die Karten"),
        "adj": ("wunderbar", "seltsam", "riesig", "ruhig", "teuer", "neu", "langweilig"),
        "interj": ("Also", "Na", "Schau mal", "Hm", "Ach", "Gut"),
    },
    "fr": {
        "person": ("ma sœur", "le professeur", "notre voisine", "un ami", "la directrice", "mon grand-père"),
        "place": ("à la gare", "à la bibliothèque", "au marché", "à la plage", "au bureau", "au parc"),
        "time": ("demain", "hier", "ce soir", "dimanche", "la semaine prochaine", "à {small} heures"),
        "thing": ("les clés", "un parapluie", "mon téléphone", "le rapport", "une lettre", "les billets"),
        "adj": ("magnifique", "bizarre", "énorme", "calme", "cher", "nouveau", "ennuyeux"),
        "interj": ("Bon", "Alors", "Écoute", "Tiens", "Bref", "Ben"),
    },
    "cmn": {
        "person": ("我妹妹", "老师", "我们的邻居", "一个朋友", "经理", "我爷爷"),
        "place": ("火车站", "图书馆", "市场", "海边", "办公室", "公园"),
        "time": ("明天", "昨天", "今天晚上", "星期天", "下个星期", "{small}点"),
        "thing": ("钥匙", "雨伞", "我的手机", "报告", "一封信", "车票"),
        "adj": ("漂亮", "奇怪", "很大", "安静", "贵", "新", "无聊"),
        "interj": ("哎", "嗯", "好吧", "你看", "哇", "那么"),
    },
}

TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": (
        "{interj}, {person} {verb_past} {thing} at {place} {time}.",
        "Did {person} really {verb} {thing}?",
        "I can't believe {person} {verb_past} {thing}!",
        "{time}, we should {activity}.",
        "Why don't we {activity} {time}?",
        "{person} was {feeling} because {reason}.",
        "I was late {time} because {reason}, and then {person} {verb_past} {thing}.",
        "There were {int} {unit} at {place}, which is more than last year.",
        "It took us {small} {unit} to get to {place}.",
        "The ticket costs {price}.",
        "The answer is {decimal}.",
        "{interj}, that's {adj}!",
        "What a {adj} idea!",
        "Is it true that {place} closes at {clock}?",
        "We need {thing}, {thing} and {thing}.",
        "First {verb} {thing}, then {verb} {thing}, and finally {activity}.",
        "If you {verb} {thing} {time}, {person} will be {feeling}.",
        "{person} said that {place} was {adj}, but I thought it was {adj}.",
        "Honestly, I'd rather {activity} than {activity}.",
        "Where did {person} put {thing}?",
        "{interj}. {interj}. Let me think.",
        "In {year}, {person} moved to a {adj} town near {place}.",
        "Could you {verb} {thing} for me {time}?",
        "I'm {feeling}, {feeling} and a little bit {feeling}.",
        "Number {int}, please.",
        "{interj}!",
        "{interj}, I'm so {feeling} right now.",
        "When {person} arrived at {place}, everyone was {feeling}, because {reason}.",
    ),
    "es": (
        "{interj}, {person} ha perdido {thing}.",
        "¿Vamos a {place} {time}?",
        "¡Qué {adj}!",
        "{person} dice que {place} es {adj}.",
        "Son {int} personas en total.",
        "{interj}, nos vemos {time}.",
    ),
    "de": (
        "{interj}, {person} hat {thing} verloren.",
        "Gehen wir {time} {place}?",
        "Wie {adj}!",
        "{person} sagt, das ist {adj}.",
        "Es waren {int} Leute da.",
        "{interj}, bis {time}.",
    ),
    "fr": (
        "{interj}, {person} a perdu {thing}.",
        "On va {place} {time} ?",
        "C'est {adj} !",
        "{person} dit que c'est {adj}.",
        "Il y avait {int} personnes.",
        "{interj}, à {time}.",
    ),
    "cmn": (
        "{interj}，{person}把{thing}弄丢了。",
        "我们{time}去{place}吧？",
        "真{adj}！",
        "{person}说{place}很{adj}。",
        "一共有{int}个人。",
        "{interj}，{time}见。",
    ),
}

_SLOT_RE = re.compile(r"\{(\w+)\}")


@cache
def written_sentences(language: str) -> tuple[str, ...]:
    """The bundled written sentences of ``language`` (comment lines starting with # dropped)."""
    _check_language(language)
    path = _DIR / f"sentences_{language}.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(s for s in (ln.strip() for ln in lines) if s and not s.startswith("#"))


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise UmoError(f"no bundled sentences for language {language!r}: choose one of {', '.join(LANGUAGES)}")


def _number(kind: str, rng: np.random.Generator) -> str:
    if kind == "int":
        return str(int(rng.choice([rng.integers(2, 20), rng.integers(20, 100), rng.integers(100, 10_000)])))
    if kind == "small":
        return str(int(rng.integers(2, 13)))
    if kind == "year":
        return str(int(rng.integers(1890, 2040)))
    if kind == "price":
        return f"{int(rng.integers(1, 200))} dollars and {int(rng.integers(1, 100))} cents"
    if kind == "decimal":
        return f"{int(rng.integers(0, 100))}.{int(rng.integers(1, 10))}"
    return f"{int(rng.integers(1, 13))}:{int(rng.choice([0, 15, 30, 45])):02d}"  # clock


def expand(template: str, rng: np.random.Generator, language: str, depth: int = 3) -> str:
    """Fill every {slot} of ``template`` with a random filler of ``language`` (recursively)."""
    slots = SLOTS[language]

    def fill(m: re.Match) -> str:
        name = m.group(1)
        if name in _NUMBER_SLOTS:
            return _number(name, rng)
        choices = slots.get(name)
        if not choices:
            raise KeyError(f"template slot {{{name}}} has no fillers for {language!r}")
        value = choices[int(rng.integers(len(choices)))]
        return expand(value, rng, language, depth - 1) if depth > 0 and "{" in value else value

    text = _SLOT_RE.sub(fill, template)
    return text[:1].upper() + text[1:]


def sample_sentences(n: int, rng: np.random.Generator, language: str = "en") -> list[str]:
    """``n`` sentences of ``language``: bundled written lines and grammar-made ones, mixed."""
    _check_language(language)
    written = written_sentences(language)
    templates = TEMPLATES[language]
    out = []
    for _ in range(n):
        if rng.random() < TEMPLATE_SHARE[language]:
            out.append(expand(templates[int(rng.integers(len(templates)))], rng, language))
        else:
            out.append(written[int(rng.integers(len(written)))])
    return out
