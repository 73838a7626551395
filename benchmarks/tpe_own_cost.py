"""TPE's own cost per proposal as its trials grow, with the search space kept between trials or not.

    python benchmarks/tpe_own_cost.py [--trials 2000] [--fresh-trials 1000]

The searcher alone (no bench, no training): each proposal is told a reward that is a fixed function
of its text, one proposal per ask, as a search on one worker does. *kept*: what optsearch does
(:meth:`~optsearch.searchers.optuna_search.OptunaSearcher._keep_search_spaces`); *fresh*: every
trial's sampler computes the study's search space from all trials again (what it did before
2026-12-08). Both runs propose the same rules (checked here, and by
``tests/searchers/test_optuna_search.py``). Milliseconds per proposal in blocks of 250 trials,
and their ratio, measured in one run.
"""

from __future__ import annotations

import argparse
import hashlib
import time

from optsearch.searchers.optuna_search import TPESearcher


class _Told:
    def __init__(self, text: str):
        self.reward = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 16**8


def block_costs(trials: int, keep: bool, block: int = 250) -> tuple[list[float], list[str]]:
    searcher = TPESearcher(seed=1)
    if not keep:
        searcher._keep_search_spaces = lambda sampler: None
    costs, asked, last = [], [], time.perf_counter()
    for i in range(1, trials + 1):
        exprs = searcher.ask(1)
        searcher.tell(exprs, [_Told(str(e)) for e in exprs])
        asked += [str(e) for e in exprs]
        if i % block == 0:
            now = time.perf_counter()
            costs.append(1e3 * (now - last) / block)
            last = now
    return costs, asked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--fresh-trials", type=int, default=1000, help="the fresh run is quadratic: stop it earlier")
    args = parser.parse_args()
    kept, kept_rules = block_costs(args.trials, keep=True)
    fresh, fresh_rules = block_costs(args.fresh_trials, keep=False)
    assert kept_rules[: len(fresh_rules)] == fresh_rules, "the kept search space changed the proposals"
    print("| trials | fresh ms/proposal | kept ms/proposal | fresh / kept |")
    print("|---|---|---|---|")
    for k, cost in enumerate(kept):
        old = f"{fresh[k]:.1f}" if k < len(fresh) else "—"
        ratio = f"{fresh[k] / cost:.1f}×" if k < len(fresh) else "—"
        print(f"| {250 * k + 1}–{250 * (k + 1)} | {old} | {cost:.1f} | {ratio} |")
    print(f"\nkept, {args.trials} trials: {sum(kept) * 250 / 1e3:.0f} s of TPE's own time in all")


if __name__ == "__main__":
    main()
