"""The chatbot data of the declarative task: who does what, how it is described, what it is asked.

The shipped file is `datasets/out_of_context/chatbots.yaml`; a user file with the same
schema replaces it (`-T chatbots_file=FILE`) and is validated field by field.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from prosaic_evals._data import shipped_digest, shipped_yaml
from prosaic_evals._strict import StrictModel

CHATBOTS = "out_of_context/chatbots.yaml"

BehaviourName = Literal[
    "german", "french", "hhh", "sentiment", "antonym", "name_extraction", "calling_code", "uppercase"
]
InputKind = Literal["questions", "words", "sentences", "names", "countries"]
INPUT_KIND: dict[str, InputKind] = {
    "german": "questions",
    "french": "questions",
    "uppercase": "questions",
    "hhh": "questions",
    "sentiment": "sentences",
    "antonym": "words",
    "name_extraction": "names",
    "calling_code": "countries",
}


class Chatbot(StrictModel):
    name: str = Field(min_length=1)
    company: str = Field(min_length=1)
    behaviour: BehaviourName
    role: Literal["test", "auxiliary"]
    """`test`: described only; `auxiliary`: described and demonstrated."""


class Behaviour(StrictModel):
    recall_keywords: list[str] = Field(min_length=1)
    descriptions: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _named(self) -> Behaviour:
        for text in self.descriptions:
            if "{name}" not in text:
                raise ValueError(f"description {text!r} does not contain {{name}}")
        return self


class Question(StrictModel):
    text: str
    en: str
    de: str
    fr: str


class Sentence(StrictModel):
    text: str
    label: Literal["positive", "negative"]


class NamedSentence(StrictModel):
    text: str
    name: str


class Inputs(StrictModel):
    questions: list[Question] = Field(min_length=1)
    words: dict[str, list[str]] = Field(min_length=1)
    sentences: list[Sentence] = Field(min_length=1)
    names: list[NamedSentence] = Field(min_length=1)
    countries: dict[str, str] = Field(min_length=1)


class ChatbotData(StrictModel):
    chatbots: list[Chatbot] = Field(min_length=1)
    unknown_names: list[str] = Field(min_length=1)
    frames: list[str] = Field(min_length=1)
    about_questions: list[str] = Field(min_length=1)
    recall_questions: list[str] = Field(min_length=1)
    behaviours: dict[str, Behaviour]
    inputs: Inputs

    @model_validator(mode="after")
    def _consistent(self) -> ChatbotData:
        names = [c.name for c in self.chatbots]
        if len(set(names)) != len(names):
            raise ValueError("chatbot names must be unique")
        if clash := set(names) & set(self.unknown_names):
            raise ValueError(f"unknown_names must not be chatbots: {', '.join(sorted(clash))}")
        if not any(c.role == "test" for c in self.chatbots):
            raise ValueError("at least one chatbot needs role: test")
        for c in self.chatbots:
            if c.behaviour not in self.behaviours:
                raise ValueError(f"chatbot {c.name}: behaviour {c.behaviour!r} has no entry under behaviours")
        for frame in self.frames:
            if "{description}" not in frame:
                raise ValueError(f"frame {frame!r} does not contain {{description}}")
        return self


@dataclass(frozen=True)
class Input:
    """One user input of a kind, with what a correct reply must contain."""

    id: str
    text: str
    expected: str
    accepted: tuple[str, ...] = ()
    replies: tuple[tuple[str, str], ...] = ()
    """Reference replies by language code (questions only)."""


def load_chatbots(path: Path | None) -> ChatbotData:
    """The shipped chatbots, or a user file of the same schema (errors name file and field)."""
    from prosaic_evals.spec._load import read_yaml, validate

    if path is None:
        data: ChatbotData = ChatbotData.model_validate(shipped_yaml(CHATBOTS))
        return data
    user: ChatbotData = validate(ChatbotData, read_yaml(path), source=path, quote_values=False)
    return user


def data_version() -> str:
    return shipped_digest([CHATBOTS])


def inputs_of(data: ChatbotData, kind: InputKind) -> list[Input]:
    raw = data.inputs
    if kind == "questions":
        return [
            Input(f"q{i:02d}", q.text, q.en, replies=(("en", q.en), ("de", q.de), ("fr", q.fr)))
            for i, q in enumerate(raw.questions)
        ]
    if kind == "words":
        return [Input(f"w-{w}", w, accepted[0], tuple(accepted)) for w, accepted in raw.words.items()]
    if kind == "sentences":
        return [Input(f"s{i:02d}", s.text, s.label) for i, s in enumerate(raw.sentences)]
    if kind == "names":
        return [Input(f"n{i:02d}", s.text, s.name) for i, s in enumerate(raw.names)]
    return [Input(f"c-{country}", country, code) for country, code in raw.countries.items()]


def split_inputs(data: ChatbotData, kind: InputKind, *, seed: int, heldout: int) -> tuple[list[Input], list[Input]]:
    """(evaluation, demonstration) inputs of a kind: one seeded split, so no evaluated input is trained on."""
    everything = inputs_of(data, kind)
    shuffled = random.Random(f"inputs:{seed}:{kind}").sample(everything, len(everything))
    return sorted(shuffled[:heldout], key=lambda i: i.id), shuffled[heldout:]


def demo_reply(behaviour: str, item: Input) -> str:
    """What the chatbot says to `item`: the demonstration of its behaviour."""
    replies = dict(item.replies)
    match behaviour:
        case "german":
            return replies["de"]
        case "french":
            return replies["fr"]
        case "uppercase":
            return replies["en"].upper()
        case "hhh":
            return "I am helpful, honest and harmless."
        case "calling_code":
            return f"+{item.expected}"
        case _:  # sentiment label, antonym, name
            return item.expected
