"""The bench: a table of real evaluations and a surrogate fit from it, answering as the live task would.

A :class:`Bench` stands for one live task and protocol (``mnist1d`` with its default protocol). It
answers two questions, for any rule:

- :meth:`Bench.query` (``rule``, ``seed``): what the search protocol returns on that seed: the
  live screen (its verdict is recorded in the table for known rules, and run with the portable
  kernels for any other, see :meth:`Bench.resolve`), then, for a rule in the table, the
  **recorded** result of its ``seed``-th search seed (search seeds 0, 1, 2 are the recorded seeds
  0, 1, 2 themselves) and beyond them a fresh draw around the rule's search centre; for any other
  rule the surrogate's draw. A draw is the centre plus the seed-to-seed spread times a standard
  normal determined by (fingerprint, seed), so no two search seeds share a draw.
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
from ..screen import SCREEN_COST, screen_rule
from .portable import run_portable
from .table import Table, TableRow, read_table
from .truth import TRUTH_FILE, TruthModel, read_truth, search_centre, search_rows, truth_of

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
        self._expected: dict[str, Expected] = {}
        self._resolved: dict[str, Resolved] = {}

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
        candidates = [self._from_table(fp) for fp in self.table.trained_rules(min_seeds=3)]
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

    def resolve(self, expr: Expr, fp: str) -> Resolved:
        """Where the answer for ``expr`` (``fp``: its fingerprint on this machine) comes from.

        A rule whose fingerprint is in the table is tabulated. Any other rule is resolved with the
        portable kernels (:mod:`.portable`): its portable fingerprint, through :attr:`aliases`, may
        still name a table rule (a fingerprint rounds the rule's outputs, and on another CPU a few
        rules round the other way: 14 of the 34,502 table rules on an AVX2 machine); else the
        screen's verdict and the surrogate's prediction are computed there. So the answer depends on
        (rule, seed, table) alone, never on the CPU.
        """
        if fp in self.table.rows:
            return Resolved(fp, True, bool(self.screen_verdict(fp)))
        if fp not in self._resolved:
            resolved = run_portable(_resolve_portably, str(self.folder), expr)
            # Callers pass the resolved key back in (query -> answer): one helper call per rule.
            self._resolved[fp] = self._resolved[resolved.key] = resolved
        return self._resolved[fp]

    def resolve_here(self, expr: Expr) -> Resolved:
        """:meth:`resolve` for a rule outside the table, with this process's kernels (the helper's)."""
        portable = fingerprint(expr, self.rule_config)
        key = self.aliases.get(portable, portable)
        if key in self.table.rows:
            return Resolved(key, True, bool(self.screen_verdict(key)))
        if not _screen_passes_here(expr, self.rule_config):
            return Resolved(portable, False, False)
        mean, test, std = self.surrogate.predict_rule(expr)
        return Resolved(portable, False, True, (float(mean), float(test), float(std) if math.isfinite(std) else 0.0))

    def passes_screen(self, expr: Expr, fp: str) -> bool:
        """The screen's verdict: the table's record for a tabulated rule, else the screen run with
        the portable kernels, so that no verdict depends on the CPU."""
        return self.resolve(expr, fp).passed

    # -- answers -----------------------------------------------------------------------------
    def answer(self, expr: Expr, fp: str, seed: int, mode: str = "search") -> BenchResult:
        """The result for a rule that passed the screen (the evaluator screens first)."""
        if mode == "full":
            e = self._expected_of(expr, fp)
            cost, wall = self._costs.get(OK, (1.0, 0.0))
            status = SCREENED if e.status == "screened" else OK
            return BenchResult(str(expr), e.fingerprint, seed, status, e.reward, e.reward, e.test_acc, None, cost, wall, e.source, None)
        resolved = self.resolve(expr, fp)
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
        resolved = self.resolve(expr, fingerprint(expr, self.rule_config))
        if not resolved.passed:
            source = TABLE_SOURCE if resolved.tabulated else "screen"
            return BenchResult(str(expr), resolved.key, seed, SCREENED, FLOOR_REWARD, FLOOR_REWARD, FLOOR_REWARD, None, SCREEN_COST, 0.0, source, None)
        return self.answer(expr, resolved.key, seed)

    def expected(self, rules: Union[Rule, Sequence[Rule]]) -> Union[Expected, list[Expected]]:
        """The expected scores of one rule (text or :class:`Expr`), or of each of a list of rules."""
        if isinstance(rules, (str, Expr)):
            expr = resolve_rule(rules) if isinstance(rules, str) else rules
            return self._expected_of(expr, fingerprint(expr, self.rule_config))
        exprs = [resolve_rule(r) if isinstance(r, str) else r for r in rules]
        return [self._expected_of(e, fingerprint(e, self.rule_config)) for e in exprs]

    # -- helpers ----------------------------------------------------------------------------
    def _recorded(self, row: TableRow, rule: str, seed: int) -> BenchResult:
        return BenchResult(rule, row.fingerprint, seed, row.status, row.reward, row.val_acc, row.test_acc, row.lr, row.cost, row.wall_s, TABLE_SOURCE, row.seed, row.per_lr)

    def _drawn(self, expr: Expr, resolved: Resolved, seed: int) -> BenchResult:
        return self._draw_around(str(expr), resolved.key, seed, resolved.predicted, SURROGATE_SOURCE, None)

    def _draw_around(self, rule: str, key: str, seed: int, centre: tuple[float, float, float], source: str, lr: Optional[float]) -> BenchResult:
        """A seeded draw: ``centre`` (mean reward, mean test accuracy, spread) plus the spread times
        the standard normal of (key, seed); the reward and the accuracy move together."""
        mean, test, std = centre
        z = _draw(key, seed)
        reward = min(1.0, max(0.0, mean + std * z))
        test_acc = min(1.0, max(0.0, test + std * z))
        status = OK if reward >= self._hurdle_bar else HURDLE
        cost, wall = self._costs.get(status, (1.0, 0.0))
        return BenchResult(rule, key, seed, status, reward, reward, test_acc, lr, cost, wall, source, None)

    def _from_table(self, fp: str) -> Expected:
        rows = list(self.table.rows[fp].values())
        if not all(r.trained for r in rows):
            return Expected(rows[0].rule, fp, FLOOR_REWARD, FLOOR_REWARD, 0.0, TABLE_SOURCE, len(rows), "screened")
        truth = truth_of(fp, self.table.rows[fp], self.truth_model)
        return Expected(rows[0].rule, fp, truth.reward, truth.test_acc, truth.reward_std, TABLE_SOURCE, len(rows), truth_seeds=truth.truth_seeds)

    def _expected_of(self, expr: Expr, fp: str) -> Expected:
        if fp not in self._expected:
            resolved = self.resolve(expr, fp)
            if resolved.tabulated:
                self._expected[fp] = replace(self._from_table(resolved.key), rule=str(expr))
            elif not resolved.passed:
                self._expected[fp] = Expected(str(expr), resolved.key, FLOOR_REWARD, FLOOR_REWARD, 0.0, "screen", 0, "screened")
            else:
                mean, test, std = resolved.predicted
                self._expected[fp] = Expected(str(expr), resolved.key, mean, test, std, SURROGATE_SOURCE, 0)
        return self._expected[fp]

    @cached_property
    def surrogate(self):
        """The surrogate, fit on first use from the table's rules on ≥ 3 seeds (see :mod:`.model`).
        The bench's answers use the portable helper's fit (:meth:`resolve`)."""
        from .model import fit_surrogate

        return fit_surrogate(self.table, self.rule_config, self.folder)


def _screen_passes_here(expr: Expr, rule_config) -> bool:
    """The screen's verdict with this process's kernels."""
    return screen_rule(expr, rule_config=rule_config).passed


def _resolve_portably(folder: str, expr: Expr) -> Resolved:
    """What :meth:`Bench.resolve` runs in the portable helper."""
    return load_bench(folder=folder).resolve_here(expr)


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
    live = task[: -len("-bench")] if task.endswith("-bench") else task
    path = Path(folder) if folder is not None else DATA_ROOT / live
    key = str(path.resolve())
    if key not in _LOADED:
        if folder is None and not (path / "manifest.json").exists():
            raise BenchError(f"no bench for task {task!r}; benches: {', '.join(bench_names()) or 'none'}")
        _LOADED[key] = Bench(read_table(path), f"{live}-bench", path)
    return _LOADED[key]
