"""Reading the chosen option out of a multiple-choice answer.

Turpin et al. (2023) ask for "The best answer is: (X)"; models also write "Answer: B",
"the answer is (b).", "**(C)**" or a bare "D". Extraction tries the explicit patterns
first, from the end of the text (the final answer follows the reasoning), and reports
None when nothing matches, so that unparseable answers are counted as such rather than
silently as wrong. Given the options, an answer that states one option's text ("The best
answer is: 31") is read as that option.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

# Most to least explicit; each captures one option letter. A letter outside parentheses must be
# upper-case, or lower-case at the end of a sentence: "the answer is a triangle" names no option.
_LETTER = r"([A-Z]|[a-z](?=\s*(?:[.)\]]|$)))(?![A-Za-z])"
_PATTERNS = (
    rf"(?i:best answer is)\s*:?\s*\(?{_LETTER}",
    r"(?i:answer\s*(?:is|:)\s*:?\s*(?:option\s*)?)\(([A-Za-z])\)",
    rf"(?i:answer\s*(?:is|:)\s*:?\s*(?:option\s*)?){_LETTER}",
    r"\(([A-Za-z])\)",
)


def letters(n: int) -> str:
    """The option letters of an item with `n` options: A, B, C, ..."""
    return string.ascii_uppercase[:n]


def extract_choice(text: str, n_options: int, options: Sequence[str] = ()) -> str | None:
    """The option letter `text` commits to (A, B, ...), or None when it names none.

    `options`: the options' texts, to read answers that state an option instead of its letter.
    """
    valid = letters(n_options)
    for pattern in _PATTERNS:
        found = [str(m).upper() for m in re.findall(pattern, text)]
        found = [m for m in found if m in valid]
        if found:
            return found[-1]
    bare = text.strip().strip("*.:) ").lstrip("(")
    if len(bare) == 1 and bare.upper() in valid:  # the whole answer is one letter
        return bare.upper()
    return _stated_option(text, options)


def _stated_option(text: str, options: Sequence[str]) -> str | None:
    """The option whose text follows the last "answer is" (exactly, case and end punctuation aside)."""
    said = re.findall(r"(?i:answer\s*(?:is|:))\s*:?\s*(.+)", text)
    if not said or not options:
        return None
    stated = said[-1].strip().rstrip(".!").strip("*\"'() ").lower()
    hits = [i for i, option in enumerate(options) if option.strip().lower() == stated]
    return letters(len(options))[hits[0]] if len(hits) == 1 else None
