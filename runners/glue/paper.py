"""The SepNorm paper's T5-on-GLUE settings (002_8e4f7ef60d591d92.txt, Sec. 6.2, Table 3, App. D).

What the paper states for GLUE: T5 fine-tuned for 50,000 steps, batch size 128, constant learning
rate, mixed precision, three runs per cell, the *peak* dev score per task reported (Table 3 is
titled T5-Base; Sec. 6.2's text says 11B, we follow the table). Appendix D has no T5 table: it
gives betas (AdamW 0.9/0.999, Lion and SepNorm 0.9/0.99) and, for every fine-tuning setting, Lion
and SepNorm at 1/10 of AdamW's lr with about 3x its weight decay (Table 6, ViT fine-tuning:
6.25e-5 / 0.1 against 6.25e-6 / 0.3). The T5 lr and wd below are therefore ASSUMED: AdamW at
1e-4 (a usual constant T5 fine-tuning lr) with wd 0.1, the others at Table 6's ratios. The paper
phase should say so next to its numbers. SepNorm groups: one per layer, the paper's choice.
These settings and the budget are the study's GLUE paper point and budget, kept in one place:
``search_spaces.points`` (``paper_point``, ``paper_budget``). This module keeps Table 3's scores.
"""

from __future__ import annotations

# Table 3 (T5-Base, GLUE dev, peak, mean over 3 runs), in points; two numbers = the task's two
# metrics in the paper's order (MRPC, QQP: F1 / accuracy; STS-B: Pearson / Spearman).
PAPER_SCORES: dict[str, dict[str, tuple[float, ...]]] = {
    "cola": {"adamw": (61.5,), "lion": (60.7,), "sepnorm": (61.8,), "ortsepnorm": (61.3,)},
    "sst2": {"adamw": (94.6,), "lion": (94.8,), "sepnorm": (94.6,), "ortsepnorm": (94.9,)},
    "mrpc": {"adamw": (93.9, 91.3), "lion": (93.8, 91.2), "sepnorm": (94.2, 92.0),
             "ortsepnorm": (94.2, 91.9)},
    "stsb": {"adamw": (90.4, 90.3), "lion": (90.7, 90.5), "sepnorm": (90.9, 90.7),
             "ortsepnorm": (91.2, 90.9)},
    "qqp": {"adamw": (88.4, 91.2), "lion": (88.2, 91.1), "sepnorm": (88.4, 91.2),
            "ortsepnorm": (88.3, 91.1)},
    "mnli_m": {"adamw": (87.0,), "lion": (86.9,), "sepnorm": (87.0,), "ortsepnorm": (87.1,)},
    "mnli_mm": {"adamw": (87.1,), "lion": (87.1,), "sepnorm": (87.2,), "ortsepnorm": (87.2,)},
    "qnli": {"adamw": (92.9,), "lion": (93.0,), "sepnorm": (93.0,), "ortsepnorm": (92.9,)},
    "rte": {"adamw": (79.9,), "lion": (79.5,), "sepnorm": (80.4,), "ortsepnorm": (80.4,)},
}

