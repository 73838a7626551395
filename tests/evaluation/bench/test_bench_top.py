"""NOS-Bench 2's first parts: the builder's top stage picks the rules near Adam and above, and the
bench finds a table rule whose fingerprint rounds otherwise on this CPU."""

from __future__ import annotations

import json
from dataclasses import replace

from optsearch.dsl import canonical, fingerprint, parse
from optsearch.evaluation.bench.bench import ALIASES_FILE, Bench, load_bench
from optsearch.evaluation.bench.builder import top_rules
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.records import OK, SCREENED, EvalResult
from optsearch.evaluation.store import SQLiteStore

RULE_CONFIG = EvalConfig().rule_config


def _result(text: str, seed: int, test_acc: float, status: str = OK) -> EvalResult:
    expr = parse(text)
    return EvalResult(
        rule=text,
        canonical=str(canonical(expr)),
        fingerprint=fingerprint(expr, RULE_CONFIG),
        task="mnist1d",
        config_hash="protocol",
        reward=test_acc - 0.02,
        status=status,
        lr=1e-3,
        val_acc=test_acc - 0.02,
        test_acc=test_acc,
        cost=1.0,
        wall_s=1.0,
        searcher="bench-test",
        seed=seed,
        run_id="bench-test@AVX2",
    )


def test_the_top_stage_takes_the_rules_within_the_margin_of_adam_best_first(tmp_path):
    store = SQLiteStore(str(tmp_path / "top.sqlite"))
    accuracies = {"adam": (0.85, 0.85), "sign(m) * ld": (0.91, 0.89), "m": (0.846, 0.842), "g": (0.80, 0.81), "sign(g)": (0.83, 0.83)}
    for text, by_seed in accuracies.items():
        for seed, acc in enumerate(by_seed):
            store.record(_result(text, seed, acc))
    store.record(_result("sign(g) * ld", 0, 0.0, SCREENED))  # screened: never a top rule
    store.record(replace(_result("sign(m)", 0, 0.99), config_hash="another protocol"))  # not this table's
    assert top_rules(store, "mnist1d", "protocol", RULE_CONFIG, margin=0.01) == ["sign(m) * ld", "adam", "m"]
    assert top_rules(store, "mnist1d", "protocol", RULE_CONFIG, margin=0.03) == ["sign(m) * ld", "adam", "m", "sign(g)"]
    assert top_rules(store, "mnist1d", "another protocol", RULE_CONFIG, margin=0.01) is None  # Adam not there yet


def test_the_top_stage_also_takes_a_rule_whose_truth_reaches_the_bar_though_its_mean_does_not(tmp_path):
    store = SQLiteStore(str(tmp_path / "top.sqlite"))
    accuracies = {"adam": (0.85, 0.85), "m": (0.83, 0.82), "g": (0.80, 0.81), "sign(g)": (0.845, 0.843)}
    for text, by_seed in accuracies.items():
        for seed, acc in enumerate(by_seed):
            store.record(_result(text, seed, acc))
    fp = {text: fingerprint(parse(text), RULE_CONFIG) for text in accuracies}
    # m's mean (0.825) is below the bar (0.84); its truth, shrunk towards a high prior, is above it
    truth = {fp["m"]: 0.86, fp["g"]: 0.81, fp["sign(g)"]: 0.80}
    assert top_rules(store, "mnist1d", "protocol", RULE_CONFIG, margin=0.01) == ["adam", "sign(g)"]
    # ranked by the higher of mean and truth; a truth below the mean takes nothing away
    assert top_rules(store, "mnist1d", "protocol", RULE_CONFIG, margin=0.01, truth=truth) == ["m", "adam", "sign(g)"]


def test_a_table_rule_is_found_whatever_fingerprint_this_cpu_gives_it():
    shipped = load_bench("mnist1d")
    aliases = json.loads((shipped.folder / ALIASES_FILE).read_text())
    assert aliases and all(table_fp in shipped.table.rows for table_fp in aliases.values())
    aliased = sorted(aliases.values())[0]
    text = next(iter(shipped.table.rows[aliased].values())).rule
    adam = next(fp for fp, rows in shipped.table.rows.items() if next(iter(rows.values())).rule == "adam")
    # As a spelling of these rules the table does not record: found by the portable fingerprint,
    # through the aliases for the rule this CPU's kernels fingerprint otherwise.
    bench = Bench(shipped.table, shipped.name, shipped.folder)
    for spelling in (text, "adam"):
        del bench.table_texts[spelling]
    resolved = bench.resolve(parse(text))
    assert resolved.tabulated and resolved.key == aliased
    assert bench.resolve(parse("adam")).key == adam
