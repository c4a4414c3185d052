"""Reading the chosen option out of a multiple-choice answer.

Turpin et al. (2023) ask for "The best answer is: (X)"; models also write "Answer: B",
"the answer is (b).", "**(C)**" or a bare "D". Extraction tries the explicit patterns
first, from the end of the text (the final answer follows the reasoning), and reports
None when nothing matches, so that unparseable answers are counted as such rather than
silently as wrong.
"""

from __future__ import annotations

import re
import string

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


def extract_choice(text: str, n_options: int) -> str | None:
    """The option letter `text` commits to (A, B, ...), or None when it names none."""
    valid = letters(n_options)
    for pattern in _PATTERNS:
        found = [str(m).upper() for m in re.findall(pattern, text)]
        found = [m for m in found if m in valid]
        if found:
            return found[-1]
    bare = text.strip().strip("*.:) ").lstrip("(")
    if len(bare) == 1 and bare.upper() in valid:  # the whole answer is one letter
        return bare.upper()
    return None
