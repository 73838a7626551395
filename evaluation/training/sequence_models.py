"""Sequence networks to transfer rules to: recurrent and Transformer classifiers, and a causal LM.

Classifiers read a sequence task's input ``[B, C, L]`` as ``L`` time steps of ``C`` features and
return logits ``[B, classes]``:

- :class:`RecurrentClassifier` (``lstm``, ``gru``): one ``nn.LSTM`` / ``nn.GRU`` layer with
  :data:`HIDDEN` units; a linear classifier on the hidden state after the last step.
- :class:`TransformerClassifier` (``transformer``): ``h_t = W_e x_t + p_t`` (a per-position linear
  embedding ``C → D_MODEL`` plus a learned positional embedding), :data:`LAYERS` pre-norm
  ``nn.TransformerEncoderLayer`` blocks (:data:`HEADS` heads, feed-forward :data:`FEEDFORWARD`,
  ReLU, dropout 0), a final layer norm, the mean over positions and a linear classifier.

:class:`CausalTransformerLM` (``transformer`` on a language task) maps token ids ``[B, T]`` to
next-token logits ``[B, V, T]`` (class dimension second, so ``F.cross_entropy(logits, y)`` takes
labels ``[B, T]``): token embedding ``V → D_MODEL`` plus learned positions, the same blocks with a
causal mask (position ``t`` attends to positions ``≤ t`` only), a final layer norm and a linear
read-out to the vocabulary.

Initialisation (:func:`init_sequence_model`) draws every parameter from one ``torch.Generator``
seeded by the caller, never from torch's global generator, visiting modules in registration order:

- linear maps (``nn.Linear``, the attention's output projection) ``W ~ U(±1/√fan_in)``, bias 0;
  the attention's fused query/key/value projection likewise (fan-in ``D_MODEL``), bias 0;
- ``nn.LSTM`` / ``nn.GRU`` weights and biases ``~ U(±1/√HIDDEN)`` (torch's default distribution);
- token embeddings ``~ N(0, 1)``, positional embeddings ``~ N(0, POSITION_STD²)``;
- layer norms ``γ = 1``, ``β = 0``.

A parameter that none of these covers raises ``TypeError``, so a new layer cannot silently keep
a draw from the global generator.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = [
    "D_MODEL",
    "FEEDFORWARD",
    "HEADS",
    "HIDDEN",
    "LAYERS",
    "POSITION_STD",
    "CausalTransformerLM",
    "RecurrentClassifier",
    "TransformerClassifier",
    "init_sequence_model",
]

HIDDEN = 64  # units of the recurrent layer
D_MODEL = 32  # Transformer width
HEADS = 4
FEEDFORWARD = 64
LAYERS = 2
POSITION_STD = 0.02  # small: positions start nearly uninformative, as in GPT-2


def _blocks() -> nn.ModuleList:
    return nn.ModuleList(
        nn.TransformerEncoderLayer(D_MODEL, HEADS, FEEDFORWARD, dropout=0.0, batch_first=True, norm_first=True)
        for _ in range(LAYERS)
    )


class RecurrentClassifier(nn.Module):
    """``[B, C, L] → [B, classes]``: one LSTM or GRU layer over the ``L`` steps, a linear head on ``h_L``."""

    def __init__(self, cell: str, in_features: int, num_classes: int, hidden: int = HIDDEN):
        super().__init__()
        layer = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.cell = cell
        self.rnn = layer(in_features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x.transpose(1, 2))  # [B, L, hidden]
        return self.head(out[:, -1])


class TransformerClassifier(nn.Module):
    """``[B, C, L] → [B, classes]``: a small pre-norm Transformer encoder, mean-pooled (module docstring)."""

    def __init__(self, in_features: int, length: int, num_classes: int):
        super().__init__()
        self.embed = nn.Linear(in_features, D_MODEL)
        self.position = nn.Parameter(torch.zeros(length, D_MODEL))
        self.blocks = _blocks()
        self.norm = nn.LayerNorm(D_MODEL)
        self.head = nn.Linear(D_MODEL, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.embed(x.transpose(1, 2)) + self.position  # [B, L, D]
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h).mean(1))


class CausalTransformerLM(nn.Module):
    """``[B, T]`` token ids ``→ [B, vocab, T]`` next-token logits: a causal pre-norm Transformer.

    Inputs may be shorter than ``length`` (the positions are learned up to it).
    """

    def __init__(self, vocab: int, length: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, D_MODEL)
        self.position = nn.Parameter(torch.zeros(length, D_MODEL))
        self.blocks = _blocks()
        self.norm = nn.LayerNorm(D_MODEL)
        self.head = nn.Linear(D_MODEL, vocab)
        # True above the diagonal: position t may not attend to any later position.
        self.register_buffer("mask", torch.ones(length, length, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, tokens: Tensor) -> Tensor:
        steps = tokens.shape[1]
        mask = self.mask[:steps, :steps]
        h = self.embed(tokens) + self.position[:steps]  # [B, T, D]
        for block in self.blocks:
            h = block(h, src_mask=mask, is_causal=True)
        return self.head(self.norm(h)).transpose(1, 2)


def _uniform(tensor: Tensor, bound: float, generator: torch.Generator) -> None:
    tensor.copy_(torch.rand(tensor.shape, generator=generator, dtype=tensor.dtype) * (2 * bound) - bound)


def _normal(tensor: Tensor, std: float, generator: torch.Generator) -> None:
    tensor.copy_(torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype) * std)


def init_sequence_model(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Seeded initialisation of every parameter of ``model`` (module docstring); returns ``model``."""
    done: set[int] = set()
    with torch.no_grad():
        for module in model.modules():
            own = dict(module.named_parameters(recurse=False))
            if isinstance(module, nn.Linear):
                _uniform(module.weight, 1.0 / math.sqrt(module.weight.shape[1]), generator)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.MultiheadAttention):
                _uniform(module.in_proj_weight, 1.0 / math.sqrt(module.embed_dim), generator)
                module.in_proj_bias.zero_()
                own = {"in_proj_weight": module.in_proj_weight, "in_proj_bias": module.in_proj_bias}
            elif isinstance(module, (nn.LSTM, nn.GRU)):
                for param in own.values():
                    _uniform(param, 1.0 / math.sqrt(module.hidden_size), generator)
            elif isinstance(module, nn.Embedding):
                _normal(module.weight, 1.0, generator)
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
            elif isinstance(module, (TransformerClassifier, CausalTransformerLM)):
                _normal(module.position, POSITION_STD, generator)
                own = {"position": module.position}
            else:
                own = {}  # not handled: any parameter of its own is reported below
            done.update(id(p) for p in own.values())
    missed = [name for name, p in model.named_parameters() if id(p) not in done]
    if missed:
        raise TypeError(f"no initialisation rule for parameters {missed}")
    return model
