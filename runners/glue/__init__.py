"""T5 fine-tuned on GLUE: ``runners.glue.train(config, report) -> dict`` (never imports ray).

Model: T5ForConditionalGeneration, text-to-text as in the T5 paper, scored by rank
classification over the task's target strings (the reasons are in ``runners.glue.model``).
``model`` is ``tiny`` (a random 2+2-layer T5 with the byte-level ByT5 tokenizer: no download),
``random-t5-small`` / ``random-t5-base`` (random weights in those shapes, ByT5 tokenizer: for
benchmarks), ``t5-small``, ``t5-base`` (the paper's), ``t5-v1_1-base`` (C4-only pre-training:
the original T5 checkpoints saw GLUE's train sets, see ``runners.glue.model``), a hub id or a
local directory; the tokenizer is always the model's own. Weights load in float32.

Config keys (everything else is an optimizer hyperparameter for ``optim.build``; keys starting
with ``_`` and ``phase``, ``iid``, ``trial_index``, ``rung`` are ignored):

- ``task``: ``cola``, ``sst2``, ``mrpc``, ``stsb``, ``qqp``, ``mnli``, ``qnli``, ``rte``, ``wnli``,
  also written ``glue-cola`` or ``SST-2``.
- ``model`` (tiny), ``optimizer`` (adamw), ``seed`` (0), ``device`` (auto), ``amp`` (bf16
  autocast; default on for CUDA, off on CPU).
- ``batch_size`` (32): examples per optimizer step, split into ``grad_accum`` (1) micro-batches,
  so that the batch size a study searches does not depend on the memory of the machine.
- Budget: ``steps`` optimizer steps with an eval every ``eval_every`` steps. ``epochs`` means the
  number of evals (the study's per-cell budget): with only ``epochs``, steps = epochs x
  eval_every (eval_every defaults to 100); with ``steps`` and ``epochs``, exactly ``epochs``
  evals, after steps ceil(i x steps / epochs) (the last at the last step); with ``steps`` and
  ``eval_every``, one every ``eval_every`` steps and one at the end; with neither, 10 evals of
  100 steps.
- ``schedule``: constant (the paper's) | linear | cosine decay after ``warmup_steps`` (0) of
  linear warmup.
- Data: ``data_files`` ({split: path}) or ``data_dir`` for offline clusters, else the Hub's
  ``nyu-mll/glue`` (see ``runners.glue.data``); ``cache_dir`` for the tokenized cache;
  ``max_length`` (512, the T5 paper's) input tokens, an input over it losing tokens from its
  longest text field first so that every segment is kept (``runners.glue.data``); batches are
  padded to their own longest row; ``n_train`` (all) training examples (``train_size(config)``:
  how many a fair-protocol trial trains on, which the study caps its batch sizes at).
- ``protocol``: ``fair`` (default) selects on ``n_val`` (min(2000, 10%)) examples held out of
  GLUE's train set, a split that is the same for every trial, and reports GLUE's dev set(s) as the
  test (``selection: train-holdout``, the default), or with ``selection: dev-split`` selects on
  one fixed half of each dev set and reports the other (the original T5 checkpoints saw GLUE's
  train sets in pre-training); ``paper`` evaluates GLUE's dev set at every eval and reports the
  best eval's metrics, as the paper does (MNLI: acc_mm at the eval with the best acc_m).
  ``selection`` is ignored under ``paper``.
- Trials whose config ``phase`` is ``tune`` skip the final test evaluation (``test_score`` NaN):
  only the fixed phases report test scores.
- ``eval_batch_size`` (64), ``diagnostics`` (read ``optimizer.diagnostics()`` at each eval).

Reports, at each eval: ``epoch`` (eval count), ``step``, ``train_loss`` (mean over the interval),
``score``, ``chance``, ``lr``, ``val_<metric>`` (and ``diag/<name>``). Returns ``status`` (ok |
diverged), ``score``, ``test_score`` (GLUE dev), ``chance``, ``train_loss``, ``steps``,
``epochs_done``, ``wall_time``, ``time_per_step`` (training only), ``tokens_per_s`` (encoder input
tokens, training only), ``val_<metric>``, ``test_<metric>``, ``truncated_train`` /
``truncated_eval`` (examples cut at ``max_length`` in the training / the evaluated splits). Metrics
per task: CoLA mcc; SST-2, QNLI, RTE acc; MRPC, QQP f1 (main) and acc; STS-B pearson (main) and
spearman; MNLI acc, on dev acc_m (main) and acc_mm. Metrics are fractions/coefficients, scores are
100 x the main metric. ``chance`` is 100/n_classes for accuracy, 0 for MCC and correlations, and
the F1 of always predicting the positive class for F1. A non-finite mean training loss at an eval
stops the trial as ``diverged`` with score = test_score = chance (the loss is checked once per eval
interval: no host sync per step). Optimizers are built on ``model.block_view``: the parameters
arranged by T5 blocks, so ``groups="block"`` means one group per T5 block (``layer`` per module).
An optimizer with a ``swa`` attribute averages the weights at each eval after its start fraction
and then trains at the constant ``swa_lr`` (T5 has no BatchNorm, so no ``update_bn``).

Checkpoint contract (the study's Ray adapter wires ``tune.get_checkpoint`` into it): when
``config["_checkpoint_dir"]`` is set, every ``checkpoint_every`` (1) evals but the last writes
``<dir>/glue_checkpoint.pt`` atomically (model, optimizer state in the parameters' dtype,
scheduler, data order, RNG states, step and bookkeeping) *before* calling ``report``; when
train() starts and that file exists, it resumes from it: a retried trial continues at the saved
step with the same data order and the same losses (from the last checkpointed eval).
"""

from .loop import train, train_size
from .metrics import chance, compute
from .paper import PAPER_SCORES
from .tasks import TASKS, resolve_task

__all__ = ["train", "train_size", "compute", "chance", "TASKS", "resolve_task", "PAPER_SCORES"]
