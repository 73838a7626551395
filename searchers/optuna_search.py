"""Optuna's samplers as searchers: one categorical parameter per token of the controller's encoding.

**The space.** A rule of ``groups`` groups is ``5 * groups`` tokens ``(op1, op2, u1, u2, b)``
(:mod:`optsearch.dsl.tokens`); token ``i`` is the categorical parameter ``g{group}.{slot}``, e.g.
``g1.op2``. Optuna needs a parameter's choices to be the same in every trial, while the valid tokens
are given for a prefix (:func:`~optsearch.dsl.valid_tokens`). The grammar is typed by position: the
valid tokens depend on the position only (operand slots of group ``k`` take the base operands and
``h0`` … ``h{k-1}``, unary slots the unary functions, the binary slot the binary ones), so the
choices of a parameter are the union of the tokens ever valid at its position, which is exactly the
set valid there, and every pick is valid. Should a grammar ever make the valid tokens depend on the
prefix, a pick that is not valid after the actual prefix is mapped as the Gymnasium environment
maps an invalid action (:meth:`~optsearch.envs.dynamics.RuleSpace.resolve`: ``S[a mod |S|]``), so
only rules of the language are proposed. Tokens that do not reach the rule (the repeated operand of
a pass-through group) are parameters without effect, which a sampler treats as any other.

**Ask/tell.** ``ask(n)`` creates ``n`` trials through ``study.ask`` with the fixed distributions;
``tell`` completes them with the reward, maximized. A failed evaluation is simply its (floor)
reward; a non-finite reward counts as the floor. Rules told that were never asked (seed rules) are
added as completed trials with their tokens (``optuna.trial.create_trial`` + ``study.add_trial``)
when they fit in ``groups`` groups, and are ignored otherwise.

**Determinism and resume.** Before each trial the sampler is built afresh with a seed drawn from
``(seed, trial number)``, so a proposal is a function of the seed and the trials so far, with no
random state hidden inside the sampler (Optuna keeps it in private objects). ``state_dict`` holds
the study: every trial (state, tokens, value, attributes) and the study's system attributes, as
JSON text; ``load_state_dict`` replays them in order into a fresh in-memory study, so a resumed run
proposes what an uninterrupted one would have. A rule asked but not yet told when the state was
taken is told to its trial after loading too.

**Samplers.** ``tpe``: :class:`optuna.samplers.TPESampler`, multivariate (one joint Parzen
estimator over the tokens, which are strongly dependent: an operand only matters through the unary
and binary applied to it) with the constant liar (the trials of a batch, asked before any is
told, are pushed apart). ``nsga2``: :class:`optuna.samplers.NSGAIISampler`, whose uniform crossover
and mutation act on categorical parameters directly; its population is :data:`NSGA2_POPULATION`
rules, so a budget of a hundred proposals still sees several generations (Optuna's default of 50
leaves a small budget almost entirely random). ``CmaEsSampler`` is not offered: CMA-ES models
continuous and integer parameters only, and samples categorical ones with its independent sampler
(random by default), so on this all-categorical space it is random search plus a warning per trial.
Any other sampler runs through :class:`OptunaSearcher` (``sampler=`` a class of
``optuna.samplers`` by name, or a callable taking ``seed=``).

Optuna is an optional dependency (``pip install 'optsearch[optuna]'``), imported when a searcher is
built; its log is silenced to warnings.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

import numpy as np

from optsearch.dsl import Expr, from_tokens, parse, to_tokens, valid_tokens
from optsearch.envs.dynamics import RuleSpace
from optsearch.evaluation.config import FLOOR_REWARD
from optsearch.evaluation.records import EvalResult

from .base import Searcher

if TYPE_CHECKING:
    import optuna

SLOT_NAMES = ("op1", "op2", "u1", "u2", "b")
#: Optuna's incremental search-space calculators, kept from one trial's sampler to the next.
_SEARCH_SPACE_KINDS = ("IntersectionSearchSpace", "_GroupDecomposedSearchSpace")
NSGA2_POPULATION = 16

SamplerSpec = Union[str, Callable[..., Any]]


def _import_optuna(searcher: str) -> Any:
    """Optuna, or one clear ``ImportError`` saying how to install it."""
    from optsearch.evaluation.extras import require

    optuna = require("optuna", "optuna", f"the {searcher!r} searcher")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def parameter_names(groups: int) -> list[str]:
    """The parameter of each token position, in order: ``g0.op1`` … ``g{groups-1}.b``."""
    return [f"g{group}.{slot}" for group in range(groups) for slot in SLOT_NAMES]


def token_choices(groups: int) -> list[tuple[str, ...]]:
    """The choices of each token position: the tokens valid there (they depend on the position only)."""
    prefix: list[str] = []
    choices = []
    for _ in range(groups * len(SLOT_NAMES)):
        valid = valid_tokens(prefix, groups)
        choices.append(valid)
        prefix.append(valid[0])
    return choices


def trial_seed(seed: int, number: int) -> int:
    """The sampler's seed for trial ``number`` of a search seeded with ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(number)]).generate_state(1)[0])


class OptunaSearcher(Searcher):
    """Any Optuna sampler over the token encoding, through Optuna's ask/tell interface.

    ``sampler``: the name of a class of ``optuna.samplers`` or a callable; either is called as
    ``sampler(seed=..., **sampler_options)`` before each trial.
    """

    name = "optuna"

    def __init__(self, *, groups: int = 3, seed: int = 0, sampler: SamplerSpec = "TPESampler", **sampler_options: Any):
        super().__init__(groups=groups, seed=seed)
        optuna = _import_optuna(self.name)
        self._optuna = optuna
        self._sampler = getattr(optuna.samplers, sampler) if isinstance(sampler, str) else sampler
        self._sampler_options = sampler_options
        self.space = RuleSpace(groups)
        self.names = parameter_names(groups)
        self.choices = token_choices(groups)
        self.distributions = {
            name: optuna.distributions.CategoricalDistribution(choices) for name, choices in zip(self.names, self.choices)
        }
        self._pending: dict[Expr, list[int]] = {}  # asked, not yet told: the rule's trial numbers
        self.study = self._new_study()

    # -- the study -------------------------------------------------------------------------------
    def _new_study(self) -> "optuna.Study":
        self._search_spaces: dict[str, Any] = {}  # bound to one study: a new study starts them afresh
        self._storage = self._optuna.storages.InMemoryStorage()
        study = self._optuna.create_study(storage=self._storage, direction="maximize", sampler=self._make_sampler(0))
        self._study_id = self._storage.get_study_id_from_name(study.study_name)
        return study

    def _make_sampler(self, number: int) -> "optuna.samplers.BaseSampler":
        with warnings.catch_warnings():  # experimental-argument warnings, once per trial otherwise
            warnings.simplefilter("ignore", self._optuna.exceptions.ExperimentalWarning)
            sampler = self._sampler(seed=trial_seed(self.seed, number), **self._sampler_options)
        self._keep_search_spaces(sampler)
        return sampler

    def _keep_search_spaces(self, sampler: "optuna.samplers.BaseSampler") -> None:
        """Hand the new sampler the search-space objects of the samplers before it.

        A sampler computes the study's search space (the intersection of every trial's parameters)
        with an object that remembers how far it has read the trials and reads only the newer ones
        next time. A sampler built afresh per trial would read them all again: at 650 trials that
        was 92 % of TPE's time (0.41 s a proposal, ``benchmarks/nosbench_proposal_cost.py``). The
        object's answer does not depend on where it stopped reading, so the proposals are those of
        a fresh object (``tests/searchers/test_optuna_search.py``).
        """
        kinds = tuple(getattr(self._optuna.search_space, name, type(None)) for name in _SEARCH_SPACE_KINDS)
        for name, value in vars(sampler).items():
            if not isinstance(value, kinds):
                continue
            kept = self._search_spaces.get(name)
            if type(kept) is type(value) and vars(kept).get("_include_pruned") == vars(value).get("_include_pruned"):
                setattr(sampler, name, kept)
            else:
                self._search_spaces[name] = value

    def tokens_of(self, params: dict[str, str]) -> list[str]:
        """The rule's tokens from a trial's picks, each mapped onto a valid token as the env does."""
        index = self.space.vocabulary.index
        tokens: list[str] = []
        for name in self.names:
            tokens.append(self.space.resolve(tokens, index[params[name]]))
        return tokens

    # -- ask / tell ------------------------------------------------------------------------------
    def ask(self, n: int) -> list[Expr]:
        proposals = []
        for _ in range(n):
            self.study.sampler = self._make_sampler(len(self.study.get_trials(deepcopy=False)))
            trial = self.study.ask(self.distributions)
            expr = from_tokens(self.tokens_of(trial.params))
            self._pending.setdefault(expr, []).append(trial.number)
            proposals.append(expr)
        return proposals

    def tell(self, exprs: Sequence[Expr], results: Sequence[EvalResult]) -> None:
        for expr, result in zip(exprs, results):
            reward = float(result.reward)
            value = reward if math.isfinite(reward) else FLOOR_REWARD
            numbers = self._pending.get(expr)
            if numbers:
                self.study.tell(numbers.pop(0), value)
                if not numbers:
                    del self._pending[expr]
                continue
            params = self._params_of(expr)
            if params is not None:
                self.study.add_trial(
                    self._optuna.trial.create_trial(params=params, distributions=self.distributions, value=value)
                )

    def _params_of(self, expr: Expr) -> Optional[dict[str, str]]:
        """The parameters that encode ``expr``, or ``None`` when it does not fit the space."""
        try:
            tokens = to_tokens(expr, self.groups)
        except ValueError:
            return None
        if any(token not in choices for token, choices in zip(tokens, self.choices)):
            return None
        return dict(zip(self.names, tokens))

    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        trials = [
            {
                "state": trial.state.name,
                "params": trial.params,
                "value": trial.value if trial.state == self._optuna.trial.TrialState.COMPLETE else None,
                "system_attrs": trial.system_attrs,
                "user_attrs": trial.user_attrs,
            }
            for trial in self.study.get_trials(deepcopy=False)
        ]
        study_attrs = self._storage.get_study_system_attrs(self._study_id)
        state["study"] = json.dumps({"trials": trials, "system_attrs": study_attrs})
        state["pending"] = [[str(expr), number] for expr, numbers in self._pending.items() for number in numbers]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        saved = json.loads(state["study"])
        self.study = self._new_study()
        for record in saved["trials"]:
            trial_state = self._optuna.trial.TrialState[record["state"]]
            self.study.add_trial(
                self._optuna.trial.create_trial(
                    state=trial_state,
                    params=record["params"],
                    distributions={name: self.distributions[name] for name in record["params"]},
                    value=record["value"],
                    system_attrs=record["system_attrs"],
                    user_attrs=record["user_attrs"],
                )
            )
        for key, value in saved["system_attrs"].items():
            self._storage.set_study_system_attr(self._study_id, key, value)
        self._pending = {}
        for text, number in state["pending"]:
            self._pending.setdefault(parse(text), []).append(int(number))


class TPESearcher(OptunaSearcher):
    """Optuna's multivariate TPE with the constant liar (Optuna extra).

    The options are :class:`optuna.samplers.TPESampler`'s of the same names. The defaults were
    tuned on the bench against 50 startup trials and independent sampling: neither beat them on the
    final incumbent (``benchmarks/README.md``, *Searchers' settings on the bench*).
    """

    name = "tpe"

    def __init__(
        self,
        *,
        groups: int = 3,
        seed: int = 0,
        n_startup_trials: int = 10,
        n_ei_candidates: int = 24,
        multivariate: bool = True,
        constant_liar: bool = True,
    ):
        super().__init__(
            groups=groups,
            seed=seed,
            sampler="TPESampler",
            n_startup_trials=n_startup_trials,
            n_ei_candidates=n_ei_candidates,
            multivariate=multivariate,
            constant_liar=constant_liar,
        )


class NSGAIISearcher(OptunaSearcher):
    """Optuna's NSGA-II: uniform crossover and mutation of the tokens (Optuna extra).

    The options are :class:`optuna.samplers.NSGAIISampler`'s of the same names (``mutation_prob``
    ``None``: one over the number of tokens).
    """

    name = "nsga2"

    def __init__(
        self,
        *,
        groups: int = 3,
        seed: int = 0,
        population_size: int = NSGA2_POPULATION,
        mutation_prob: Optional[float] = None,
        crossover_prob: float = 0.9,
        swapping_prob: float = 0.5,
    ):
        super().__init__(
            groups=groups,
            seed=seed,
            sampler="NSGAIISampler",
            population_size=population_size,
            mutation_prob=mutation_prob,
            crossover_prob=crossover_prob,
            swapping_prob=swapping_prob,
        )
