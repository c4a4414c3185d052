"""prosaic-evals: behavioural experiments on language models, on inspect-ai.

Importing the package is cheap: inspect, torch and vLLM load only where used.
"""

__version__ = "0.1.0"
