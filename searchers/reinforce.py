"""The paper's controller: an LSTM that emits a rule token by token, trained with REINFORCE.

At each position the LSTM reads the previous token, and a softmax restricted to the valid tokens
at that position (:func:`optsearch.dsl.valid_tokens`) picks the next one (Bello et al. 2017,
section 3.2). The controller maximises :math:`J(\\theta) = E_{\\Delta \\sim p_\\theta}[R(\\Delta)]`
with the policy gradient

.. math:: \\nabla J \\approx \\frac1N \\sum_i (R_i - b) \\nabla \\log p_\\theta(\\Delta_i) + \\beta \\nabla H,

where ``b`` is an exponential moving average of past rewards and ``H`` the entropy of the policy,
and is optimised with Adam (as in the paper). The paper leaves the size, learning rate, entropy
bonus and baseline decay unconfirmed: they are parameters here. The defaults were tuned on the
bench against their neighbours (lr 1e-3/1e-2, entropy 0/5e-2, baseline decay 0.5/0.99, batch 16):
none beat them on the final incumbent; lr 1e-2 learns five times faster but settles on worse rules
(``benchmarks/README.md``, *Searchers' settings on the bench*).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import Tensor, nn

from optsearch.dsl import Expr, Vocabulary, from_tokens, to_tokens, valid_tokens
from optsearch.evaluation.records import EvalResult

from .base import Searcher


class Controller(nn.Module):
    """An LSTM over token embeddings with one output logit per token of the vocabulary."""

    def __init__(self, n_tokens: int, hidden: int = 64, layers: int = 1):
        super().__init__()
        self.start = n_tokens  # the "start of rule" input
        self.embedding = nn.Embedding(n_tokens + 1, hidden)
        self.lstm = nn.LSTM(hidden, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, n_tokens)

    def forward(self, inputs: Tensor, state: Optional[tuple[Tensor, Tensor]] = None):
        """Logits ``[batch, time, n_tokens]`` for input ids ``[batch, time]``."""
        output, state = self.lstm(self.embedding(inputs), state)
        return self.head(output), state


class ReinforceSearcher(Searcher):
    """REINFORCE with an exponential-moving-average baseline and an entropy bonus."""

    name = "reinforce"

    def __init__(
        self,
        *,
        groups: int = 3,
        seed: int = 0,
        hidden: int = 64,
        lr: float = 3e-3,
        entropy_weight: float = 1e-2,
        baseline_decay: float = 0.9,
    ):
        super().__init__(groups=groups, seed=seed)
        self.vocabulary = Vocabulary(groups)
        with torch.random.fork_rng():  # seeded initial weights without touching the global RNG
            torch.manual_seed(seed)
            self.controller = Controller(len(self.vocabulary), hidden)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr)
        self.entropy_weight = entropy_weight
        self.baseline_decay = baseline_decay
        self.baseline: Optional[float] = None
        self.sampler = torch.Generator().manual_seed(seed)
        self.masks = self._position_masks()
        self._asked: dict[Expr, tuple[str, ...]] = {}

    def _position_masks(self) -> Tensor:
        """``[length, n_tokens]`` validity; validity depends on the position alone."""
        masks = torch.zeros(self.vocabulary.length, len(self.vocabulary), dtype=torch.bool)
        prefix: list[str] = []
        for position in range(self.vocabulary.length):
            allowed = valid_tokens(prefix, self.groups)
            masks[position, self.vocabulary.encode(allowed)] = True
            prefix.append(allowed[0])
        return masks

    def _masked_logits(self, logits: Tensor) -> Tensor:
        return logits.masked_fill(~self.masks[: logits.shape[1]], float("-inf"))

    @torch.no_grad()
    def ask(self, n: int) -> list[Expr]:
        inputs = torch.full((n, 1), self.controller.start, dtype=torch.long)
        state = None
        chosen = []
        for position in range(self.vocabulary.length):
            logits, state = self.controller(inputs, state)
            logits = logits[:, -1].masked_fill(~self.masks[position], float("-inf"))
            token = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=self.sampler)
            chosen.append(token)
            inputs = token
        ids = torch.cat(chosen, dim=1).tolist()
        proposals = []
        for row in ids:
            tokens = tuple(self.vocabulary.decode(row))
            expr = from_tokens(tokens)
            self._asked[expr] = tokens
            proposals.append(expr)
        return proposals

    def log_probs_and_entropy(self, token_ids: Tensor) -> tuple[Tensor, Tensor]:
        """Per-rule log-probability and mean per-position entropy of ``[batch, length]`` ids."""
        start = torch.full((token_ids.shape[0], 1), self.controller.start, dtype=torch.long)
        logits, _ = self.controller(torch.cat([start, token_ids[:, :-1]], dim=1))
        log_p = torch.log_softmax(self._masked_logits(logits), dim=-1)
        chosen = log_p.gather(2, token_ids.unsqueeze(2)).squeeze(2).sum(dim=1)
        p = log_p.exp()
        entropy = -(p * log_p.masked_fill(p == 0, 0.0)).sum(dim=-1).mean(dim=1)
        return chosen, entropy

    def tell(self, exprs: Sequence[Expr], results: Sequence[EvalResult]) -> None:
        sequences, rewards = [], []
        for expr, result in zip(exprs, results):
            tokens = self._asked.pop(expr, None)
            if tokens is None:  # told, never asked (a seed rule): learn from it all the same
                try:
                    tokens = tuple(to_tokens(expr, self.groups))
                except ValueError:
                    continue
            sequences.append(self.vocabulary.encode(tokens))
            rewards.append(float(result.reward))
        if not sequences:
            return
        reward = torch.tensor(rewards)
        if self.baseline is None:
            self.baseline = float(reward.mean())
        advantage = reward - self.baseline
        log_p, entropy = self.log_probs_and_entropy(torch.tensor(sequences))
        loss = -(advantage * log_p).mean() - self.entropy_weight * entropy.mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * float(reward.mean())

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            controller=self.controller.state_dict(),
            optimizer=self.optimizer.state_dict(),
            baseline=self.baseline,
            sampler=self.sampler.get_state(),
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = state["baseline"]
        self.sampler.set_state(state["sampler"])
