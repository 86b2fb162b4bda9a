"""Distribution heads on top of an audio-language model's last hidden states.

Two heads, chosen with ``--head``:

- ``attention`` (the reference head's layers, trained in full; unlike the authors' code it masks padding, see
  docs/reference-protocol.md, row *Head*): last-layer hidden
  states ``(batch, seq, hidden)`` → 8-head self-attention (``nn.MultiheadAttention``, no attention dropout, padding
  masked) → the first token → residual block ``x + GELU(Dropout(Linear(LayerNorm(x))))`` → projection block
  ``GELU(Dropout(Linear(hidden, hidden // 2)(LayerNorm(x))))`` → ``LayerNorm`` → ``Linear(hidden // 2, n_classes)``
  → (log-)softmax. Dropout 0.15 in the residual block and 0.1 in the projection block (the reference values), or
  one value for both.
- ``label_token``: no new parameters; the distribution is the softmax over the model's own log-probabilities of
  each class name as the answer (the annotator's ``score`` code, :mod:`hf_ambiguity.alm.scoring`), so only the
  LoRA adapter is trained.

The head always runs in float32 (hidden states are cast up), which keeps fp16/bf16 backbones numerically safe.

>>> import torch
>>> head = AttentionPoolingHead(hidden_size=16, n_classes=4, num_heads=8)
>>> log_p = head(torch.randn(2, 5, 16), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]))
>>> tuple(log_p.shape), bool(torch.allclose(log_p.exp().sum(-1), torch.ones(2)))
((2, 4), True)
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

__all__ = ["HeadKind", "HEAD_KINDS", "AttentionPoolingHead"]

HeadKind = Literal["attention", "label_token"]
HEAD_KINDS: tuple[str, ...] = ("attention", "label_token")


class AttentionPoolingHead(nn.Module):
    """The reference attention-pooling classifier; ``forward`` returns log-probabilities ``(batch, n_classes)``.

    ``hidden_size`` must be divisible by ``num_heads`` (8 in the reference).
    """

    def __init__(self, hidden_size: int, n_classes: int, *, num_heads: int = 8, dropout: float | None = None) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(
                f"the attention head needs hidden_size divisible by num_heads, got hidden_size={hidden_size}, "
                f"num_heads={num_heads}; pass --head_num_heads with a divisor of {hidden_size}"
            )
        if n_classes < 2:
            raise ValueError(f"a distribution head needs at least 2 classes, got n_classes={n_classes}")
        self.hidden_size, self.n_classes, self.num_heads = hidden_size, n_classes, num_heads
        block_p, down_p = (0.15, 0.1) if dropout is None else (dropout, dropout)
        self.attention = nn.MultiheadAttention(hidden_size, num_heads, batch_first=True)
        self.block_norm = nn.LayerNorm(hidden_size)
        self.block_linear = nn.Linear(hidden_size, hidden_size)
        self.block_dropout = nn.Dropout(block_p)
        self.act = nn.GELU()
        self.down_input_norm = nn.LayerNorm(hidden_size)
        self.down = nn.Linear(hidden_size, hidden_size // 2)
        self.down_dropout = nn.Dropout(down_p)
        self.down_norm = nn.LayerNorm(hidden_size // 2)
        self.classifier = nn.Linear(hidden_size // 2, n_classes)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``hidden_states`` ``(batch, seq, hidden)``, ``attention_mask`` ``(batch, seq)`` (1 = real token)."""
        x = hidden_states.to(self.classifier.weight.dtype)
        pad = None if attention_mask is None else attention_mask.to(x.device) == 0
        # Self-attention, then the first token: only query 0 is computed (its output is the same as in the full
        # sequence x sequence attention, which the reference then discards for every other position).
        attended, _ = self.attention(x[:, :1], x, x, key_padding_mask=pad, need_weights=False)
        pooled = attended[:, 0]
        x = pooled + self.act(self.block_dropout(self.block_linear(self.block_norm(pooled))))
        z = self.act(self.down_dropout(self.down(self.down_input_norm(x))))
        return torch.log_softmax(self.classifier(self.down_norm(z)), dim=-1)

    def describe(self) -> dict[str, int | str]:
        """What identifies this head in a saved checkpoint (checked when it is reloaded)."""
        return {"kind": "attention", "hidden_size": self.hidden_size, "n_classes": self.n_classes,
                "num_heads": self.num_heads}
