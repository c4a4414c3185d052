"""Do candidates' lengths decide the likelihood contrast? Sum, per-token mean and PMI, from one set of logs.

The logs are the shipped likelihood task (normalize: pmi, whose scores record every candidate's summed
log-probability, token count and prior) on the untrained model and on the study's LoRA variant:

    prosaic-evals run reversal_curse_likelihood -T seed=0 -T facts_per_subset=20 -T train_templates=10 \
        -T scorer.distractors=3 -m local -m variant/reversal-curse-smollm2-lora-default-local-s0 \
        --log-dir analysis/reversal_curse/length/logs
    python analysis/reversal_curse/length/length_bias.py analysis/reversal_curse/length/logs \
        > analysis/reversal_curse/length/length_bias.md

For each (target, distractor) pair it computes the contrast three ways. On the untrained model, which
knows none of the facts, any dependence of the contrast on the two candidates' token counts is bias;
on the variant, the trained direction's mean contrast over its spread is the signal each way keeps.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from inspect_ai.log import read_eval_log
from scipy import stats

WAYS = ("sum", "mean", "pmi")


def pairs(log_dir: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(log_dir.rglob("*.eval")):
        log = read_eval_log(str(path))
        for sample in log.samples or []:
            meta = next(iter(sample.scores.values())).metadata or {}
            target = (meta["logprob_target"], meta["tokens_target"], meta["prior_target"])
            others = (meta[f"{key}_distractors"] for key in ("logprob", "tokens", "prior"))
            for logprob, tokens, prior in zip(*others, strict=True):
                rows.append({
                    "model": "variant" if "variant" in log.eval.model else "base",
                    "condition": sample.metadata["condition"],
                    "cluster": sample.metadata["fact_id"],
                    "length_difference": target[1] - tokens,
                    "sum": target[0] - logprob,
                    "mean": target[0] / target[1] - logprob / tokens,
                    "pmi": (target[0] - target[2]) - (logprob - prior),
                })  # fmt: skip
    return pd.DataFrame(rows)


def bias_table(base: pd.DataFrame) -> str:
    unequal = base[base["length_difference"] != 0]
    lines = ["| contrast | r with the token-count difference | shorter candidate wins (unequal pairs) | SD |",
             "| --- | --- | --- | --- |"]  # fmt: skip
    for way in WAYS:
        r = stats.pearsonr(base["length_difference"], base[way]).statistic
        shorter = float(np.mean((unequal[way] > 0) == (unequal["length_difference"] < 0)))
        lines.append(f"| {way} | {r:+.2f} | {shorter:.2f} | {base[way].std():.2f} |")
    return "\n".join(lines)


def signal_table(variant: pd.DataFrame) -> str:
    lines = ["| contrast | condition | mean | SD | mean / SD |", "| --- | --- | --- | --- | --- |"]
    for way in WAYS:
        for condition, rows in variant.groupby("condition", sort=True):
            mean, sd = rows[way].mean(), rows[way].std()
            lines.append(f"| {way} | {condition} | {mean:+.2f} | {sd:.2f} | {mean / sd:+.2f} |")
    return "\n".join(lines)


def main() -> None:
    frame = pairs(Path(sys.argv[1]))
    base, variant = frame[frame["model"] == "base"], frame[frame["model"] == "variant"]
    unequal = float((base["length_difference"] != 0).mean())
    print(f"# Candidate length and the likelihood contrast\n\n{len(base)} (target, distractor) pairs per model; "
          f"{unequal:.0%} differ in token count.\n\n## Untrained model: bias\n\n{bias_table(base)}\n\n"
          f"## LoRA variant: signal\n\n{signal_table(variant)}")  # fmt: skip


if __name__ == "__main__":
    main()
