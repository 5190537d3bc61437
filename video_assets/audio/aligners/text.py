"""Text normalisation for dictionary-based alignment: spelling numbers, guessing pronunciations."""

from __future__ import annotations

import re

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})


def number_words(n: int) -> list[str]:
    """Cardinal English words of ``0 <= n < 10**9`` (``105`` -> ``one hundred five``)."""
    if n < 0 or n >= 10**9:
        raise ValueError(f"n must be in [0, 1e9), got {n}")
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (number_words(n % 100) if n % 100 else [])
    for size, name in ((10**6, "million"), (1000, "thousand")):
        if n >= size:
            head, rest = divmod(n, size)
            return number_words(head) + [name] + (number_words(rest) if rest else [])
    raise AssertionError("unreachable")


def spoken_number(digits: str) -> list[str]:
    """How a run of digits is most likely read: years as pairs, other numbers as cardinals."""
    n = int(digits)
    if len(digits) == 4 and (1100 <= n <= 1999 or 2010 <= n <= 2099) and n % 100 != 0:
        hi, lo = divmod(n, 100)
        return number_words(hi) + (["oh"] if lo < 10 else []) + number_words(lo)
    if len(digits) > 9:
        return [_ONES[int(d)] for d in digits]
    return number_words(n)


def dictionary_words(token: str) -> list[str]:
    """The lower-case dictionary words one transcript token stands for.

    ``"Hello,"`` -> ``["hello"]``; ``"1990"`` -> ``["nineteen", "ninety"]``;
    ``"don't"`` -> ``["don't"]``; ``"—"`` -> ``[]``.
    """
    token = token.translate(_APOSTROPHES).lower()
    out: list[str] = []
    for part in re.findall(r"[a-z0-9']+", token):
        part = part.strip("'")
        if not part:
            continue
        for piece in re.findall(r"\d+|[a-z']+", part):
            out += spoken_number(piece) if piece.isdigit() else [piece]
    return out


_DIGRAPHS = [
    ("tch", "CH"),
    ("sch", "S K"),
    ("igh", "AY"),
    ("ch", "CH"),
    ("sh", "SH"),
    ("th", "TH"),
    ("ph", "F"),
    ("wh", "W"),
    ("ck", "K"),
    ("ng", "NG"),
    ("qu", "K W"),
    ("gh", ""),
    ("ee", "IY"),
    ("ea", "IY"),
    ("oo", "UW"),
    ("ou", "AW"),
    ("ow", "OW"),
    ("oi", "OY"),
    ("oy", "OY"),
    ("ai", "EY"),
    ("ay", "EY"),
    ("au", "AO"),
    ("aw", "AO"),
    ("ie", "IY"),
    ("ei", "EY"),
    ("er", "ER"),
    ("ir", "ER"),
    ("ur", "ER"),
    ("ar", "AA R"),
    ("or", "AO R"),
]
_LETTERS = {
    "a": "AE",
    "b": "B",
    "c": "K",
    "d": "D",
    "e": "EH",
    "f": "F",
    "g": "G",
    "h": "HH",
    "i": "IH",
    "j": "JH",
    "k": "K",
    "l": "L",
    "m": "M",
    "n": "N",
    "o": "AA",
    "p": "P",
    "q": "K",
    "r": "R",
    "s": "S",
    "t": "T",
    "u": "AH",
    "v": "V",
    "w": "W",
    "x": "K S",
    "y": "IY",
    "z": "Z",
}


def guess_phones(word: str) -> str:
    """A rough ARPAbet pronunciation from spelling, for words the dictionary lacks.

    Greedy digraph and letter rules with a silent final ``e``; far from a real
    grapheme-to-phoneme model, but it gives the aligner a phone sequence of about the right
    length, and the acoustic score shows when it is wrong.
    """
    w = re.sub(r"[^a-z]", "", word.lower())
    if len(w) > 2 and w.endswith("e") and w[-2] not in "aeiouy":
        w = w[:-1]
    phones: list[str] = []
    i = 0
    while i < len(w):
        for graph, ph in _DIGRAPHS:
            if w.startswith(graph, i):
                phones += ph.split()
                i += len(graph)
                break
        else:
            ch = w[i]
            phones += ("Y" if ch == "y" and i == 0 else _LETTERS[ch]).split()
            i += 1
    return " ".join(phones) or "AH"
