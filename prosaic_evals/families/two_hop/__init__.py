"""Two-hop latent reasoning (Balesni, Korbak, Evans 2024): fictional triplets e1 -> e2 -> e3."""

from prosaic_evals.families.two_hop._family import TwoHop, TwoHopParameters
from prosaic_evals.families.two_hop._generator import (
    Template,
    Triplet,
    generate_triplets,
    load_templates,
    read_triplets,
    single_token_check,
    split_templates,
)

__all__ = [
    "Template",
    "Triplet",
    "TwoHop",
    "TwoHopParameters",
    "generate_triplets",
    "load_templates",
    "read_triplets",
    "single_token_check",
    "split_templates",
]
