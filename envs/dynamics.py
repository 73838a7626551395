"""The pure dynamics of rule construction: a state is the token prefix, an action appends a token.

Kept free of I/O and of the evaluator (Gymnasium's ``FuncEnv`` habit), so the single environment,
the batched vector environment and any custom agent share one definition of observations, masks
and the treatment of invalid actions.

Invalid actions (for agents that do not mask): the action ``a`` at a position whose valid tokens
are ``S`` (in vocabulary order) becomes ``a`` itself when ``a ∈ S`` and ``S[a mod |S|]`` otherwise.
Every valid token stays reachable and nothing outside the language can be emitted, so the search
space is exactly the masked one; an episode always ends with a valid rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from optsearch.dsl import Vocabulary, valid_tokens


@dataclass(frozen=True)
class RuleSpace:
    """The token space of rules with exactly ``groups`` groups of five tokens."""

    groups: int

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary(self.groups)

    @property
    def length(self) -> int:
        """Tokens per rule (= steps per episode)."""
        return self.vocabulary.length

    @property
    def n_actions(self) -> int:
        return len(self.vocabulary)

    @property
    def pad(self) -> int:
        """The observation value of a position not yet filled."""
        return self.n_actions

    def valid_ids(self, prefix: Sequence[str]) -> np.ndarray:
        """The ids of the tokens allowed after ``prefix``, ascending."""
        index = self.vocabulary.index
        return np.array(sorted(index[t] for t in valid_tokens(prefix, self.groups)), dtype=np.int64)

    def mask(self, prefix: Sequence[str]) -> np.ndarray:
        """A fresh boolean mask over the actions."""
        mask = np.zeros(self.n_actions, dtype=bool)
        mask[self.valid_ids(prefix)] = True
        return mask

    def resolve(self, prefix: Sequence[str], action: int) -> str:
        """The token an action emits after ``prefix`` (invalid actions mapped as documented above)."""
        valid = self.valid_ids(prefix)
        action = int(action)
        chosen = action if action in valid else int(valid[action % len(valid)])
        return self.vocabulary.tokens[chosen]

    def observe(self, prefix: Sequence[str]) -> np.ndarray:
        """The padded prefix of token ids followed by the position."""
        obs = np.full(self.length + 1, self.pad, dtype=np.int64)
        obs[: len(prefix)] = self.vocabulary.encode(prefix)
        obs[-1] = len(prefix)
        return obs

    def observation_nvec(self) -> np.ndarray:
        """Cardinalities for a ``MultiDiscrete`` observation space."""
        return np.array([self.n_actions + 1] * self.length + [self.length + 1], dtype=np.int64)
