"""The bench: a table of real evaluations and a surrogate fit from it, answering as the live task would.

A :class:`Bench` stands for one live task and protocol (``mnist1d`` with its default protocol). It
answers two questions, for any rule:

- :meth:`Bench.query` (``rule``, ``seed``): what the search protocol returns on that seed: the
  live screen (its verdict is recorded in the table for known rules, and run with the portable
  kernels for any other, see :meth:`Bench.resolve`), then, for a rule in the table, the
  **recorded** result of its ``seed``-th search seed (search seeds 0, 1, 2 are the recorded seeds
  0, 1, 2 themselves) and beyond them a fresh draw around the rule's search centre; for any other
  rule the surrogate's draw. A draw is the centre plus the seed-to-seed spread times a residual
  determined by (fingerprint, seed), so no two search seeds share a draw; the residual follows the
  table's own residuals, skewed and light above (:func:`.truth.noise_z`), not a normal.
- :meth:`Bench.expected` (``rule``): the held-out truth: the expected search reward and the expected
  full-training test accuracy at the validation-chosen rate. For a tabulated rule it comes from
  seeds no search is served and no selection used, shrunk towards the surrogate's out-of-fold
  prediction (:mod:`.truth`); for any other rule it is the surrogate's mean. Held-out scores are
  expectations, so they carry no evaluation noise.

Every result names its provenance (``source``: ``"table"`` or ``"surrogate"``; in the evaluator's
records, ``detail`` starts with ``bench:table`` or ``bench:surrogate``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from optsearch.dsl import Expr, fingerprint, resolve_rule

from ..config import FLOOR_REWARD, EvalConfig
from ..records import HURDLE, OK, SCREENED, LRResult, Outcome, Status
from ..screen import SCREEN_COST, screen_rules
from .facts import FactsCache, RuleFacts, facts_version
from .portable import run_portable
from .table import Table, TableRow, bench_task_name, live_task_name, read_table
from .truth import TRUTH_FILE, TruthModel, noise_z, read_truth, search_centre, search_rows, truth_of

Rule = Union[str, Expr]
#: Where the benches' folders are (one per live task); ``$OPTSEARCH_BENCH_ROOT`` points elsewhere
#: (a thinned or a grown table, say) for this process and the processes it starts.
DATA_ROOT = Path(os.environ.get("OPTSEARCH_BENCH_ROOT") or Path(__file__).with_name("data"))
ALIASES_FILE = "aliases.json"
TABLE_SOURCE, SURROGATE_SOURCE = "table", "surrogate"
#: A tabulated rule's answer on a search seed beyond its recorded ones (a fresh draw, :mod:`.truth`).
DRAWN_SOURCE = "table-draw"


class BenchError(ValueError):
    """The bench cannot answer for this config (another protocol than the one it stands for)."""


@dataclass(frozen=True)
class Expected:
    """A rule's expected scores on the bench.

    ``reward``: the expected search-protocol reward; ``test_acc``: the expected full-training test
    accuracy at the validation-chosen rate (for a tabulated rule, the truth of :mod:`.truth`);
    ``reward_std``: the seed-to-seed spread of the reward (measured over ``seeds`` table seeds and
    shrunk, or predicted); ``source``: ``"table"`` or ``"surrogate"``.
    """

    rule: str
    fingerprint: str
    reward: float
    test_acc: float
    reward_std: float
    source: str
    seeds: int
    status: str = "ok"  # "screened": the rule never trains (its scores are the floor)
    truth_seeds: int = 0  # the table seeds no search is served that the truth rests on (:mod:`.truth`)


@dataclass(frozen=True)
class Resolved:
    """Where the bench's answer for a rule comes from (:meth:`Bench.resolve`), the same on every CPU.

    ``key``: the table's fingerprint of a tabulated rule, else the rule's portable fingerprint (its
    draws are keyed on it); ``passed``: the screen's verdict (the table's record, or the portable
    screen's); ``predicted``: the surrogate's (mean reward, test accuracy, spread), outside the
    table only.
    """

    key: str
    tabulated: bool
    passed: bool
    predicted: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class BenchResult:
    """One query's answer: what the live search protocol returns for (rule, seed)."""

    rule: str
    fingerprint: str
    seed: int
    status: Status
    reward: float
    val_acc: float
    test_acc: float
    lr: Optional[float]
    cost: float
    wall_s: float
    source: str
    table_seed: Optional[int]
    per_lr: tuple[LRResult, ...] = ()

    @property
    def outcome(self) -> Outcome:
        """The evaluator's outcome for this answer (provenance in ``detail``)."""
        where = f"bench:{self.source}" + (f" seed={self.table_seed}" if self.table_seed is not None else "")
        return Outcome(self.status, self.reward, self.lr, self.val_acc, self.test_acc, self.per_lr, self.cost, self.wall_s, where)


def _draw(fp: str, seed: int) -> float:
    """A standard normal determined by (fingerprint, seed) alone."""
    digest = hashlib.sha256(f"{fp}:{seed}".encode()).digest()
    return float(np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal())


class Bench:
    """The bench of one live task: load it with :func:`load_bench`."""

    def __init__(self, table: Table, name: str, folder: Optional[Path] = None):
        self.table = table
        self.folder = folder
        self.name = name
        protocol = table.protocol
        self.live_task = protocol.live_task
        self.config_hash = protocol.config_hash
        self.heldout_config_hash = protocol.heldout_config_hash
        self.trainer_version = protocol.trainer_version
        self.content_hash = table.content_hash
        self.rule_config = EvalConfig().rule_config
        rows = [r for by_seed in table.rows.values() for r in by_seed.values() if r.trained]
        self._hurdle_bar = float(protocol.config.get("hurdle_threshold") or 0.0)
        self._costs = {
            status: (statistics.fmean(r.cost for r in group), statistics.fmean(r.wall_s for r in group))
            for status in (OK, HURDLE)
            if (group := [r for r in rows if r.status == status])
        }
        self._expected: dict[str, Expected] = {}  # by rule text
        self._resolved: dict[str, Resolved] = {}  # by rule text
        self._keys: dict[str, str] = {}  # by rule text: Resolved.key, known before the rest of it
        self._unprobeable: dict[str, str] = {}  # rule text -> why it cannot be probed

    # -- metadata --------------------------------------------------------------------------
    @property
    def size(self) -> dict:
        """The table's coverage: rows, rules, trained rules by number of seeds, statuses."""
        return dict(self.table.manifest.get("coverage", {}))

    @property
    def protocol(self) -> dict:
        """The live task and protocol this bench stands for, and the table's content hash."""
        p = self.table.protocol
        return {
            "bench": self.name,
            "live_task": p.live_task,
            "config_hash": p.config_hash,
            "heldout_config_hash": p.heldout_config_hash,
            "trainer_version": p.trainer_version,
            "table_sha256": self.content_hash,
            # the held-out truth's model: two benches of one table with different truths answer differently
            **({"truth_sha256": self.table.manifest["truth_sha256"]} if "truth_sha256" in self.table.manifest else {}),
        }

    @cached_property
    def truth_model(self) -> Optional[TruthModel]:
        """The truth's priors and spreads (``truth.npz``, :mod:`.truth`); None for a table exported
        without one (its truth is then the plain mean of each rule's truth seeds)."""
        if self.folder is None:
            return None
        path = self.folder / TRUTH_FILE
        recorded = self.table.manifest.get("truth_sha256")
        if recorded is not None and (not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != recorded):
            raise BenchError(f"bench truth {path} is missing or does not match its manifest's hash (altered or truncated)")
        return read_truth(path)

    @cached_property
    def best(self) -> Expected:
        """The best known rule: the highest held-out truth (test accuracy) among rules on ≥ 3 table seeds."""
        candidates = [self.table_expected(fp) for fp in self.table.trained_rules(min_seeds=3)]
        return max(candidates, key=lambda e: (e.test_acc, e.reward))

    # -- the protocol ------------------------------------------------------------------------
    def mode(self, config: EvalConfig) -> str:
        """``"search"`` for the search protocol, ``"full"`` for held-out full training, else :class:`BenchError`."""
        live = replace(config, task=self.live_task, device="cpu")
        digest = live.config_hash()
        if digest == self.config_hash:
            return "search"
        if digest == self.heldout_config_hash:
            return "full"
        raise BenchError(
            f"{self.name} stands for {self.live_task} with its default protocol (config {self.config_hash}, "
            f"trainer {self.trainer_version}); this config (steps={config.steps}, batch_size={config.batch_size}, "
            f"lrs={config.lrs}, screen={config.screen}, hurdle={config.hurdle}) is another one (config {digest}): "
            f"use --task {self.live_task} to train live with other settings"
        )

    def screen_verdict(self, fp: str) -> Optional[bool]:
        """The screen's verdict recorded in the table for ``fp`` (None when the rule is not there)."""
        by_seed = self.table.rows.get(fp)
        if not by_seed:
            return None
        return all(r.trained for r in by_seed.values())

    @cached_property
    def aliases(self) -> dict[str, str]:
        """Portable fingerprint -> table fingerprint, for the table's rules where the two differ."""
        path = self.folder / ALIASES_FILE if self.folder is not None else None
        return json.loads(path.read_text()) if path is not None and path.exists() else {}

    @cached_property
    def table_texts(self) -> dict[str, str]:
        """Rule text -> table fingerprint, for every text the table records under one fingerprint."""
        keys: dict[str, set[str]] = {}
        for fp, by_seed in self.table.rows.items():
            for row in by_seed.values():
                keys.setdefault(row.rule, set()).add(fp)
        return {text: next(iter(fps)) for text, fps in keys.items() if len(fps) == 1}

    @cached_property
    def facts(self) -> FactsCache:
        """The facts remembered for rules outside the table (:mod:`.facts`)."""
        return FactsCache(self.folder, facts_version(self.rule_config), self.content_hash)

    def resolve(self, expr: Expr) -> Resolved:
        """Where the answer for ``expr`` comes from (:meth:`resolve_many` of one rule)."""
        return self.resolve_many([expr])[0]

    def resolve_many(self, exprs: Sequence[Expr]) -> list[Resolved]:
        """Where the answer for each of ``exprs`` comes from, the same on every CPU.

        A rule whose text the table records is tabulated (a dictionary look-up). Any other rule is
        resolved with the portable kernels (:mod:`.portable`), all of them in one call to the
        helper: its portable fingerprint, through :attr:`aliases`, may still name a table rule (a
        fingerprint rounds the rule's outputs, and on another CPU a few rules round the other way:
        14 of the 34,502 table rules on an AVX2 machine); else the screen's verdict and the
        surrogate's prediction are computed there. What the helper computes is remembered by rule
        text (:mod:`.facts`). So the answer depends on (rule, seed, table) alone, never on the CPU,
        and never on what was remembered. ``ValueError`` for a rule that cannot be probed.
        """
        return self._memoized(exprs, self._resolved, self._resolve_new)

    def keys_many(self, exprs: Sequence[Expr]) -> list[str]:
        """The key of each of ``exprs`` (:meth:`fingerprint`), without the screen or the surrogate.

        What :meth:`resolve_many` gives as ``Resolved.key``, at the cost of the portable fingerprint
        alone for a rule outside the table (one call to the helper for all of them): the evaluator
        asks for the keys first and resolves only the rules its cache does not answer, so a rule
        functionally equal to one already scored on that seed is never screened nor featurized.
        ``ValueError`` for a rule that cannot be probed.
        """
        return self._memoized(exprs, self._keys, self._key_new)

    def _memoized(self, exprs: Sequence[Expr], memo: dict, compute_new) -> list:
        """``memo``'s entry for each of ``exprs`` by text, ``compute_new`` filling it for the texts it
        lacks (one call for all); ``ValueError`` for a rule that cannot be probed."""
        texts = [str(e) for e in exprs]
        new = {t: e for t, e in zip(texts, exprs) if t not in memo and t not in self._unprobeable}
        if new:
            compute_new(new)
        for text in texts:
            if text in self._unprobeable:
                raise ValueError(f"rule {text!r} cannot be probed: {self._unprobeable[text]}")
        return [memo[t] for t in texts]

    def _key_new(self, new: dict[str, Expr]) -> None:
        outside: dict[str, Expr] = {}
        for text, expr in new.items():
            key = self.table_texts.get(text)
            if key is not None:
                self._keys[text] = key
            else:
                outside[text] = expr
        if not outside:
            return
        remembered = self.facts
        remembered.lookup(outside)
        missing = [outside[t] for t in outside if t not in remembered.facts]
        if missing:
            fingerprints, errors = run_portable(_fingerprints_portably, str(self.folder), missing)
            remembered.remember({t: RuleFacts(fp, None) for t, fp in fingerprints.items()}, {})
            self._unprobeable.update(errors)
        for text in outside:
            if text not in self._unprobeable:
                self._keys[text] = self._key_of(remembered.facts[text].fingerprint)

    def _key_of(self, portable_fp: str) -> str:
        """The key of a rule outside the table's texts: the table rule its portable fingerprint names, else that fingerprint."""
        key = self.aliases.get(portable_fp, portable_fp)
        return key if key in self.table.rows else portable_fp

    def _resolve_new(self, new: dict[str, Expr]) -> None:
        outside: dict[str, Expr] = {}
        for text, expr in new.items():
            key = self.table_texts.get(text)
            if key is not None:
                self._resolved[text] = Resolved(key, True, bool(self.screen_verdict(key)))
                self._keys[text] = key
            else:
                outside[text] = expr
        if not outside:
            return
        remembered = self.facts
        remembered.lookup(outside)
        unsettled = [text for text in outside if self._from_facts(text) is None]
        if unsettled:
            known = {t: remembered.facts[t] for t in unsettled if t in remembered.facts}
            facts, predictions, errors = run_portable(_facts_portably, str(self.folder), [outside[t] for t in unsettled], known)
            remembered.remember(facts, predictions)
            self._unprobeable.update(errors)
        for text in outside:
            if text not in self._unprobeable:
                self._resolved[text] = self._from_facts(text)
                self._keys[text] = self._resolved[text].key

    def _from_facts(self, text: str) -> Optional[Resolved]:
        """The resolution of a rule whose text the table does not record, from its remembered facts
        (None while they are not all known)."""
        facts = self.facts.facts.get(text)
        if facts is None:
            return None
        key = self._key_of(facts.fingerprint)
        if key in self.table.rows:
            return Resolved(key, True, bool(self.screen_verdict(key)))
        if facts.passed is None:
            return None  # only the fingerprint is known, or the screen was skipped for a table rule this table does not hold
        if not facts.passed:
            return Resolved(facts.fingerprint, False, False)
        predicted = self.facts.predictions.get(text)
        return None if predicted is None else Resolved(facts.fingerprint, False, True, predicted)

    def predict(self, features: np.ndarray) -> list[tuple[float, float, float]]:
        """The surrogate's (mean reward, test accuracy, spread) for rows of features, with this
        process's kernels (the helper's: :meth:`resolve_many`)."""
        mean, test, std = self.surrogate.model.predict(features)
        return [(float(m), float(t), float(s) if math.isfinite(s) else 0.0) for m, t, s in zip(mean, test, std)]

    def passes_screen(self, expr: Expr) -> bool:
        """The screen's verdict: the table's record for a tabulated rule, else the screen run with
        the portable kernels, so that no verdict depends on the CPU."""
        return self.resolve(expr).passed

    def fingerprint(self, expr: Expr) -> str:
        """The rule's key on this bench, the same on every CPU: its table fingerprint, else its
        portable one (``ValueError`` for a rule that cannot be probed)."""
        return self.keys_many([expr])[0]

    # -- answers -----------------------------------------------------------------------------
    def answer(self, expr: Expr, seed: int, mode: str = "search") -> BenchResult:
        """The result for a rule that passed the screen (the evaluator screens first)."""
        if mode == "full":
            e = self._expected_of(expr)
            cost, wall = self._costs.get(OK, (1.0, 0.0))
            status = SCREENED if e.status == "screened" else OK
            return BenchResult(str(expr), e.fingerprint, seed, status, e.reward, e.reward, e.test_acc, None, cost, wall, e.source, None)
        resolved = self.resolve(expr)
        if resolved.tabulated and resolved.passed:
            recorded = search_rows(self.table.rows[resolved.key])
            if 0 <= seed < len(recorded):
                return self._recorded(recorded[seed], str(expr), seed)
            centre = search_centre(resolved.key, self.table.rows[resolved.key], self.truth_model)
            lrs = [r.lr for r in recorded if r.lr is not None]
            lr = max(set(lrs), key=lrs.count) if lrs else None
            return self._draw_around(str(expr), resolved.key, seed, (centre.reward, centre.test_acc, centre.reward_std), DRAWN_SOURCE, lr)
        return self._drawn(expr, resolved, seed)

    def query(self, rule: Rule, seed: int) -> BenchResult:
        """What the live search protocol returns for ``rule`` on ``seed`` (screen included)."""
        expr = resolve_rule(rule) if isinstance(rule, str) else rule
        resolved = self.resolve(expr)
        if not resolved.passed:
            source = TABLE_SOURCE if resolved.tabulated else "screen"
            return BenchResult(str(expr), resolved.key, seed, SCREENED, FLOOR_REWARD, FLOOR_REWARD, FLOOR_REWARD, None, SCREEN_COST, 0.0, source, None)
        return self.answer(expr, seed)

    def expected(self, rules: Union[Rule, Sequence[Rule]]) -> Union[Expected, list[Expected]]:
        """The expected scores of one rule (text or :class:`Expr`), or of each of a list of rules."""
        if isinstance(rules, (str, Expr)):
            return self._expected_of(resolve_rule(rules) if isinstance(rules, str) else rules)
        exprs = [resolve_rule(r) if isinstance(r, str) else r for r in rules]
        self.resolve_many(exprs)  # one call to the helper for all the rules outside the table
        return [self._expected_of(e) for e in exprs]

    # -- helpers ----------------------------------------------------------------------------
    def _recorded(self, row: TableRow, rule: str, seed: int) -> BenchResult:
        return BenchResult(rule, row.fingerprint, seed, row.status, row.reward, row.val_acc, row.test_acc, row.lr, row.cost, row.wall_s, TABLE_SOURCE, row.seed, row.per_lr)

    def _drawn(self, expr: Expr, resolved: Resolved, seed: int) -> BenchResult:
        return self._draw_around(str(expr), resolved.key, seed, resolved.predicted, SURROGATE_SOURCE, None)

    def _draw_around(self, rule: str, key: str, seed: int, centre: tuple[float, float, float], source: str, lr: Optional[float]) -> BenchResult:
        """A seeded draw: ``centre`` (mean reward, mean test accuracy, spread) plus the spread times
        the residual of (key, seed) (:func:`.truth.noise_z` of its standard normal); the reward and
        the accuracy move together."""
        mean, test, std = centre
        z = noise_z(self.truth_model, _draw(key, seed), std)
        reward = min(1.0, max(0.0, mean + std * z))
        test_acc = min(1.0, max(0.0, test + std * z))
        status = OK if reward >= self._hurdle_bar else HURDLE
        cost, wall = self._costs.get(status, (1.0, 0.0))
        return BenchResult(rule, key, seed, status, reward, reward, test_acc, lr, cost, wall, source, None)

    def table_expected(self, fp: str) -> Expected:
        """The held-out expectation of the table rule whose table fingerprint is ``fp``."""
        rows = list(self.table.rows[fp].values())
        if not all(r.trained for r in rows):
            return Expected(rows[0].rule, fp, FLOOR_REWARD, FLOOR_REWARD, 0.0, TABLE_SOURCE, len(rows), "screened")
        truth = truth_of(fp, self.table.rows[fp], self.truth_model)
        return Expected(rows[0].rule, fp, truth.reward, truth.test_acc, truth.reward_std, TABLE_SOURCE, len(rows), truth_seeds=truth.truth_seeds)

    def _expected_of(self, expr: Expr) -> Expected:
        text = str(expr)
        if text not in self._expected:
            resolved = self.resolve(expr)
            if resolved.tabulated:
                self._expected[text] = replace(self.table_expected(resolved.key), rule=text)
            elif not resolved.passed:
                self._expected[text] = Expected(text, resolved.key, FLOOR_REWARD, FLOOR_REWARD, 0.0, "screen", 0, "screened")
            else:
                mean, test, std = resolved.predicted
                self._expected[text] = Expected(text, resolved.key, mean, test, std, SURROGATE_SOURCE, 0)
        return self._expected[text]

    @cached_property
    def surrogate(self):
        """The surrogate, fit on first use from the table's rules on ≥ 3 seeds (see :mod:`.model`).
        The bench's answers use the portable helper's fit (:meth:`resolve`)."""
        from .model import fit_surrogate

        return fit_surrogate(self.table, self.rule_config, self.folder)


def _facts_portably(folder: str, exprs: Sequence[Expr], known: dict[str, RuleFacts]):
    """What :meth:`Bench.resolve_many` runs in the portable helper: the facts of ``exprs`` (those
    in ``known`` are not computed again), the surrogate's predictions for the ones that passed the
    screen outside the table, and the rules that could not be probed (text -> error). The rules
    that need the screen are screened together (:func:`~optsearch.evaluation.screen.screen_rules`,
    each rule's verdict that of :func:`~optsearch.evaluation.screen.screen_rule`)."""
    from .features import features_here

    bench = load_bench(folder=folder)
    config = bench.rule_config
    fingerprints, errors = _fingerprints(exprs, known, config)
    probed = [e for e in exprs if str(e) in fingerprints]
    tabulated = {t for t, fp in fingerprints.items() if bench.aliases.get(fp, fp) in bench.table.rows}
    settled = {t for t, found in known.items() if found.passed is not None}
    unscreened = [e for e in probed if str(e) not in tabulated and str(e) not in settled]
    passing = [e for e, v in zip(unscreened, screen_rules(unscreened, rule_config=config)) if v.passed]
    features = dict(zip(map(str, passing), features_here(passing, config)))
    facts: dict[str, RuleFacts] = {}
    for expr in probed:
        text = str(expr)
        if text in tabulated or text in settled:
            facts[text] = known.get(text) or RuleFacts(fingerprints[text], None)
        else:
            facts[text] = RuleFacts(fingerprints[text], text in features, features.get(text))
    predicting = [t for t, f in facts.items() if t not in tabulated and f.passed]  # passed, outside the table
    rows = np.stack([facts[t].features for t in predicting]) if predicting else None
    predictions = dict(zip(predicting, bench.predict(rows))) if predicting else {}
    return facts, predictions, errors


def _fingerprints(exprs: Sequence[Expr], known: dict[str, RuleFacts], config) -> tuple[dict[str, str], dict[str, str]]:
    """The portable fingerprint of each rule (``known``'s where it has one), and the rules that
    cannot be probed (text -> error)."""
    fingerprints: dict[str, str] = {}
    errors: dict[str, str] = {}
    for expr in exprs:
        text = str(expr)
        found = known.get(text)
        try:
            fingerprints[text] = found.fingerprint if found is not None else fingerprint(expr, config)
        except Exception as error:  # a rule that cannot be probed is data, not a crash
            errors[text] = f"{type(error).__name__}: {error}"
    return fingerprints, errors


def _fingerprints_portably(folder: str, exprs: Sequence[Expr]) -> tuple[dict[str, str], dict[str, str]]:
    """What :meth:`Bench.keys_many` runs in the portable helper: each rule's portable fingerprint,
    and the rules that cannot be probed (text -> error)."""
    return _fingerprints(exprs, {}, load_bench(folder=folder).rule_config)


def portable_fingerprints(exprs: Sequence[Expr], rule_config) -> list[str]:
    """The fingerprints of ``exprs`` with this process's kernels (run it portably: :func:`.portable.run_portable`)."""
    return [fingerprint(e, rule_config) for e in exprs]


_LOADED: dict[str, Bench] = {}


def bench_names() -> tuple[str, ...]:
    """The live tasks that have a bench shipped with optsearch."""
    return tuple(sorted(p.name for p in DATA_ROOT.iterdir() if (p / "manifest.json").exists())) if DATA_ROOT.exists() else ()


def load_bench(task: str = "mnist1d", folder: Optional[Union[str, Path]] = None) -> Bench:
    """The bench of ``task`` (a live task such as ``"mnist1d"``, or its bench task ``"mnist1d-bench"``),
    read from the package's data (or from ``folder``) once per process."""
    live = live_task_name(task)
    path = Path(folder) if folder is not None else DATA_ROOT / live
    key = str(path.resolve())
    if key not in _LOADED:
        if folder is None and not (path / "manifest.json").exists():
            raise BenchError(f"no bench for task {task!r}; benches: {', '.join(bench_names()) or 'none'}")
        _LOADED[key] = Bench(read_table(path), bench_task_name(live), path)
    return _LOADED[key]
