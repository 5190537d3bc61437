"""Making NLTK's ``punkt_tab`` available to ``whisperx.align`` without a download.

See ``nltk_data/README.md`` beside this module for what the bundled parameters are and
what they change.
"""

from __future__ import annotations

import threading
from pathlib import Path

BUNDLED_NLTK_DATA = Path(__file__).parent / "nltk_data"
_LOCK = threading.Lock()


def punkt_language(language: str) -> str:
    """The Punkt model name WhisperX loads for a language code (English when it has none)."""
    from whisperx.utils import PUNKT_LANGUAGES

    return PUNKT_LANGUAGES.get(language, "english")


def ensure_punkt_tab(language: str) -> str:
    """Make ``tokenizers/punkt_tab/<lang>/`` findable, preferring an installed copy.

    Args:
        language: ISO code of the transcript's language.

    Returns:
        ``"installed"`` when NLTK already finds a real punkt_tab for it, else ``"bundled"``
        (the bundled folder was put first on ``nltk.data.path``).
    """
    import nltk

    lang = punkt_language(language)
    with _LOCK:
        try:
            found = nltk.data.find(f"tokenizers/punkt_tab/{lang}/")
        except LookupError:
            found = None
        if found is not None and not str(getattr(found, "path", found)).startswith(
            str(BUNDLED_NLTK_DATA)
        ):
            return "installed"
        if str(BUNDLED_NLTK_DATA) not in nltk.data.path:
            nltk.data.path.insert(0, str(BUNDLED_NLTK_DATA))
        nltk.data.find(f"tokenizers/punkt_tab/{lang}/")  # raises LookupError if the bundle lacks it
        return "bundled"
