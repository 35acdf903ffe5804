"""T5 as a text-to-text model (T5 paper) and its tokenizer; rank-classification scoring.

Why text-to-text and not classification heads: it is how T5 was pre-trained and fine-tuned on
GLUE (T5 paper; the Lion paper's T5 runs, whose setup the SepNorm paper scales down), so every
pre-trained weight, the LM head included, is used and no randomly initialized head is added.
Evaluation scores each task's few target strings (rank classification: the target with the
highest sequence log-likelihood wins) instead of free generation: one encoder pass and one
batched decoder pass, no host round trips, never an unparsable output. For STS-B the 26 targets
0.0, 0.2, ..., 5.0 are T5's rounded regression scores.

Models: ``t5-base`` (the paper's) and ``t5-small`` are the original T5 checkpoints, which were
pre-trained on a mixture of C4 *and* the supervised tasks, GLUE's train sets with these exact
input prefixes among them (T5 paper, Sec. 3.7): fine-tuning them on GLUE starts from a model that
has seen the training data. ``t5-v1_1-base`` (``google/t5-v1_1-base``: C4 only, GEGLU, untied
head) is the option without that exposure; pair it with ``selection: dev-split`` for a fair
protocol on data the model has never seen. Weights are always loaded in float32: ``amp`` is
bf16 autocast over float32 master weights, and a checkpoint saved in bf16 (``dtype="auto"``)
would otherwise train in pure bf16.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

HUB_NAMES = {"t5-small": "google-t5/t5-small", "t5-base": "google-t5/t5-base",
             "t5-v1_1-base": "google/t5-v1_1-base"}

# ``tiny``: a random T5 for tests and benchmarks, with the byte-level ByT5 tokenizer (no files).
TINY = dict(d_model=64, d_ff=128, d_kv=16, num_heads=4, num_layers=2, num_decoder_layers=2,
            relative_attention_num_buckets=8, relative_attention_max_distance=32,
            dropout_rate=0.0)
# Random weights in the shapes of t5-small / t5-base (their config.json, 32128-token vocabulary)
# with the ByT5 tokenizer: throughput and checkpoint-size benchmarks without a download.
SHAPES = {
    "tiny": TINY,
    "random-t5-small": dict(d_model=512, d_ff=2048, d_kv=64, num_heads=8, num_layers=6,
                            num_decoder_layers=6, vocab_size=32128),
    "random-t5-base": dict(d_model=768, d_ff=3072, d_kv=64, num_heads=12, num_layers=12,
                           num_decoder_layers=12, vocab_size=32128),
}


def build(name: str, seed: int) -> tuple[nn.Module, object]:
    """(T5ForConditionalGeneration in float32, tokenizer) for ``tiny``, ``random-t5-small``,
    ``random-t5-base`` (``SHAPES``), ``t5-small``, ``t5-base``, ``t5-v1_1-base``, a hub id or a
    local directory."""
    from transformers import (AutoTokenizer, ByT5Tokenizer, T5Config,
                              T5ForConditionalGeneration)

    torch.manual_seed(seed)
    if name in SHAPES:
        tok = ByT5Tokenizer()
        shape = {"vocab_size": len(tok), **SHAPES[name]}
        cfg = T5Config(pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                       decoder_start_token_id=tok.pad_token_id, **shape)
        return T5ForConditionalGeneration(cfg), tok
    path = HUB_NAMES.get(name, name)
    try:
        if Path(path).is_dir() and not (Path(path) / "config.json").is_file():
            raise OSError(f"{path} has no config.json")
        tok = AutoTokenizer.from_pretrained(path)
        model = T5ForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(
            f"model {name!r}: cannot load {path!r} ({str(exc).splitlines()[0]}); pass model="
            "'tiny', a local directory with a T5 checkpoint, or download it while online") from None
    return model, tok


def block_view(model: nn.Module) -> nn.ModuleDict:
    """The model's parameters arranged as T5 blocks, for ``optim.build``'s ``groups="block"``.

    Top-level children are: the shared embedding, each encoder block, the encoder's final norm,
    each decoder block, the decoder's final norm and the LM head when it is not tied. The modules
    are the model's own (no copies), so an optimizer built on the view trains the model.
    """
    enc, dec = model.encoder, model.decoder
    parts: dict[str, nn.Module] = {"shared": model.shared}
    parts.update({f"encoder_block_{i}": b for i, b in enumerate(enc.block)})
    parts["encoder_final_layer_norm"] = enc.final_layer_norm
    parts.update({f"decoder_block_{i}": b for i, b in enumerate(dec.block)})
    parts["decoder_final_layer_norm"] = dec.final_layer_norm
    if model.lm_head.weight is not model.shared.weight:
        parts["lm_head"] = model.lm_head
    view = nn.ModuleDict(parts)
    n_view = sum(p.numel() for p in view.parameters())
    n_model = sum(p.numel() for p in model.parameters())
    if n_view != n_model:
        raise ValueError(f"T5 block view covers {n_view} of {n_model} parameters")
    return view


def rank_scores(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
    """(B, C) log-likelihood of each of the C target sequences (``targets``: (C, Lt), -100 pad)."""
    b, c = input_ids.shape[0], targets.shape[0]
    hidden = model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask)[0]
    labels = targets.repeat(b, 1)                                     # (B*C, Lt)
    out = model(encoder_outputs=(hidden.repeat_interleave(c, 0),),
                attention_mask=attention_mask.repeat_interleave(c, 0),
                decoder_input_ids=model._shift_right(labels))
    logp = torch.log_softmax(out.logits.float(), dim=-1)
    keep = labels.ne(-100)
    tok = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return torch.where(keep, tok, 0.0).sum(-1).view(b, c)
