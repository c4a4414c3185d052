"""Out-of-context reasoning: acting on (declarative) or inferring (inductive) facts seen only in training."""

from prosaic_evals.families.out_of_context._chatbots import ChatbotData, load_chatbots, split_inputs
from prosaic_evals.families.out_of_context._declarative import Declarative, DeclarativeParameters
from prosaic_evals.families.out_of_context._expressions import BUILTIN_FUNCTIONS, FunctionDef, compile_expression
from prosaic_evals.families.out_of_context._inductive import Inductive, InductiveParameters, make_world

__all__ = [
    "BUILTIN_FUNCTIONS",
    "ChatbotData",
    "Declarative",
    "DeclarativeParameters",
    "FunctionDef",
    "Inductive",
    "InductiveParameters",
    "compile_expression",
    "load_chatbots",
    "make_world",
    "split_inputs",
]
