"""NOS-Bench: the table as data, the bench as a task, the builder (real evaluations throughout)."""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from optsearch.cli import main
from optsearch.dsl import fingerprint, parse
from optsearch.evaluation.bench.bench import DATA_ROOT, BenchError, load_bench
from optsearch.evaluation.bench.builder import BuildPlan, build, ingest
from optsearch.evaluation.bench.publish import export_store, live_protocol, restore_store, write_snapshot
from optsearch.evaluation.bench.table import TABLE_FILE, TableError, TableRow, read_table, table_rows
from optsearch.evaluation.bench.truth import SEARCH_SEEDS, truth_of
from optsearch.searchers.studies.bench_stages import SEARCHER_STAGES
from optsearch.evaluation.config import EvalConfig
from optsearch.evaluation.evaluator import Evaluator
from optsearch.evaluation.records import HURDLE, OK, SCREENED, EvalResult, LRResult
from optsearch.evaluation.store import InMemoryStore, SQLiteStore


@pytest.fixture(scope="module")
def bench():
    return load_bench("mnist1d")


def _tabulated(bench, min_seeds: int = 3) -> str:
    """A trained rule of the shipped table with at least ``min_seeds`` seeds (the first by fingerprint)."""
    return sorted(bench.table.trained_rules(min_seeds=min_seeds))[0]


def test_the_shipped_table_is_data_and_matches_its_manifest():
    folder = DATA_ROOT / "mnist1d"
    suffixes = {p.name.split(".", 1)[1] for p in folder.iterdir()}
    assert suffixes <= {"json", "csv.gz", "npz"}, suffixes
    table = read_table(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert table.content_hash == manifest["table_sha256"]
    assert manifest["coverage"]["rows"] == len(table)
    assert (folder / "features.npz").exists()
    with np.load(folder / "features.npz", allow_pickle=False) as data:  # no object arrays
        assert data["X"].dtype == np.float32 and np.isfinite(data["X"]).all()


def test_an_altered_table_is_refused(tmp_path):
    folder = tmp_path / "t"
    shutil.copytree(DATA_ROOT / "mnist1d", folder)
    text = gzip.decompress((folder / TABLE_FILE).read_bytes()).decode().replace("0.8", "0.9", 1)
    (folder / TABLE_FILE).write_bytes(gzip.compress(text.encode()))
    with pytest.raises(TableError, match="hash"):
        read_table(folder)


def test_the_table_reads_back_bit_for_bit(tmp_path):
    store = InMemoryStore()
    config = EvalConfig(task="quadratic")
    with Evaluator(config, store=store, backend="serial") as evaluator:
        for seed in (0, 1):
            evaluator.evaluate([parse(r) for r in ("adam", "g", "sign(m) * ld", "-g", "noise")], seed=seed)
        digest = evaluator.config_hash
    rows = table_rows(store.results(), "quadratic", digest)
    from optsearch.evaluation.bench.table import export_table

    _, protocol = live_protocol("quadratic")
    export_table(rows, tmp_path, protocol)
    back = read_table(tmp_path).rows
    assert back == rows
    stored = {(r.fingerprint, r.seed): r for r in store.results()}
    for fp, by_seed in back.items():
        for seed, row in by_seed.items():
            live = stored[(fp, seed)]
            assert (row.reward, row.status, row.lr, row.test_acc, row.per_lr, row.cost) == (
                live.reward, live.status, live.lr, live.test_acc, live.per_lr, live.cost
            )


def test_a_rows_per_rate_results_read_back_from_its_cells_field_by_field():
    """Every per-rate field, distinct values (validation is not test), an infinite loss, two statuses:
    the row read back from its cells (the per-rate results parsed on first use) gives them all."""
    per_lr = (
        LRResult(0.1, 0.8125, 0.796875, OK, 400, 0.4375),
        LRResult(1e-05, 0.3, 0.2890625, HURDLE, 40, float("inf")),
    )
    result = EvalResult(
        rule="adam", canonical="adam", fingerprint="fp", task="mnist1d", config_hash="c", reward=0.8125,
        status=OK, lr=0.1, val_acc=0.8125, test_acc=0.796875, per_lr=per_lr, cost=1.0, wall_s=2.5,
        searcher="named", seed=3, run_id="bench-top@AVX2",
    )
    row = TableRow.of(result)
    back = TableRow.from_cells(row.cells())
    assert back == row and back.platform == "AVX2"
    assert back.per_lr == per_lr and [r.status for r in back.per_lr] == [OK, HURDLE]


def test_a_tabulated_query_returns_the_recorded_row(bench):
    fp = _tabulated(bench)
    by_seed = bench.table.rows[fp]
    seeds = sorted(s for s in by_seed if s < SEARCH_SEEDS)  # the search seeds (further seeds define the truth only)
    rule = by_seed[seeds[0]].rule
    for seed in range(len(seeds)):
        answer = bench.query(rule, seed)
        row = by_seed[seeds[seed]]
        assert answer.source == "table" and answer.table_seed == row.seed
        assert (answer.reward, answer.status, answer.test_acc, answer.per_lr, answer.cost) == (
            row.reward, row.status, row.test_acc, row.per_lr, row.cost
        )
    beyond = bench.query(rule, len(seeds))  # a fresh draw (tests/evaluation/bench/test_bench_truth.py)
    assert beyond.source == "table-draw" and beyond.table_seed is None
    expected = bench.expected(rule)
    assert expected.source == "table" and expected.seeds == len(by_seed)
    assert expected.test_acc == truth_of(fp, by_seed, bench.truth_model).test_acc


@pytest.mark.slow
def test_surrogate_draws_are_deterministic_per_rule_and_seed_and_say_so(bench):
    rule = "sign(m) * exp(1e-2 * w) + clip(adam, 1e-3) * cd"
    assert fingerprint(parse(rule)) not in bench.table.rows
    first = [bench.query(rule, seed) for seed in range(6)]
    again = [bench.query(rule, seed) for seed in range(6)]
    assert first == again
    assert {a.source for a in first} == {"surrogate"}
    assert len({a.reward for a in first}) > 1  # the seed matters
    expected = bench.expected(rule)
    assert expected.source == "surrogate" and 0.0 <= expected.reward <= 1.0 and expected.reward_std >= 0.0


def test_screened_rules_are_screened_as_live(bench):
    answer = bench.query("-g", 0)
    assert answer.status == SCREENED and answer.reward == 0.0


@pytest.mark.slow
@pytest.mark.live  # not about the bench's answers, so not in CI's second pass
def test_a_tabulated_result_equals_a_fresh_live_evaluation(tmp_path):
    """A table built from live evaluations answers with exactly what a fresh live evaluation gives
    (mnist1d's default protocol, every field bit for bit) on the machine that built it."""
    store = SQLiteStore(str(tmp_path / "s.sqlite"))
    rules = [parse("adam"), parse("drop(sign(m), 0.1) * ld")]
    with Evaluator(EvalConfig(task="mnist1d"), store=store, backend="serial") as built:
        built.evaluate(rules, seed=0)
    export_store([store], tmp_path / "bench", with_features=False)
    bench = load_bench("mnist1d", folder=tmp_path / "bench")
    with Evaluator(EvalConfig(task="mnist1d"), backend="serial") as live:
        fresh = live.evaluate(rules, seed=0)
    assert live.config_hash == bench.config_hash == load_bench("mnist1d").config_hash
    for rule, result in zip(rules, fresh):
        answer = bench.query(rule, 0)
        assert answer.source == "table" and answer.table_seed == 0
        assert (answer.status, answer.reward, answer.lr, answer.val_acc, answer.test_acc, answer.per_lr, answer.cost) == (
            result.status, result.reward, result.lr, result.val_acc, result.test_acc, result.per_lr, result.cost
        )


@pytest.mark.slow
@pytest.mark.live  # not about the bench's answers, so not in CI's second pass
def test_the_shipped_table_agrees_with_live_training_on_this_machine(bench):
    """Bit-for-bit equality holds on the platform that built a row: another CPU's kernels round
    differently, and 200 steps turn that into seed-sized differences (see docs/bench). What must
    hold anywhere is agreement in distribution: Adam's fresh live rewards on the table seeds
    against the table's, within the seed-to-seed noise (std ~0.015)."""
    adam = parse("adam")
    recorded = bench.table.rows[fingerprint(adam)]
    with Evaluator(EvalConfig(task="mnist1d"), backend="serial") as live:
        fresh = [live.evaluate([adam], seed=seed)[0].reward for seed in (0, 1, 2)]
    table = [recorded[seed].reward for seed in (0, 1, 2)]
    assert abs(np.mean(fresh) - np.mean(table)) < 0.03, (fresh, table)


def test_the_evaluator_serves_the_bench_with_provenance(bench):
    fp = _tabulated(bench)
    rule = parse(next(iter(bench.table.rows[fp].values())).rule)
    new = parse("sign(m) * exp(1e-2 * w) + clip(adam, 1e-3) * cd")
    with Evaluator(EvalConfig(task="mnist1d-bench")) as evaluator:
        table_hit, drawn = evaluator.evaluate([rule, new], seed=1)
    assert table_hit.detail.startswith("bench:table") and table_hit.reward == bench.query(rule, 1).reward
    assert drawn.detail.startswith("bench:surrogate") and drawn.reward == bench.query(new, 1).reward
    assert table_hit.cost > 0 and table_hit.wall_s > 0  # simulated cost and time, from the table


def test_a_store_never_serves_one_table_versions_answers_as_anothers(bench, tmp_path, monkeypatch):
    # A resumed run must not mix tables: results are keyed by a config hash that names the table's
    # content, so a grown table (another content hash) finds none of an older one's in the store.
    store = SQLiteStore(str(tmp_path / "s.sqlite"))
    rule = parse(next(iter(bench.table.rows[_tabulated(bench)].values())).rule)
    with Evaluator(EvalConfig(task="mnist1d-bench"), store=store) as evaluator:
        first = evaluator.evaluate([rule], seed=1)[0]
        assert evaluator.evaluate([rule], seed=1)[0].cached  # the same table: served from the store
    monkeypatch.setattr(bench, "content_hash", "0" * 64)  # the same bench with another table
    with Evaluator(EvalConfig(task="mnist1d-bench"), store=store) as evaluator:
        again = evaluator.evaluate([rule], seed=1)[0]
    assert not again.cached and again.config_hash != first.config_hash


def test_the_bench_refuses_another_protocol():
    with pytest.raises(ValueError, match="stands for mnist1d"):
        Evaluator(EvalConfig(task="mnist1d-bench", steps=50))
    assert main(["eval", "adam", "--task", "mnist1d-bench", "--steps", "50"]) == 2


@pytest.mark.slow
def test_search_compare_and_manifest_on_the_bench(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    assert main(["search", "--task", "mnist1d-bench", "--searcher", "random", "--budget", "40", "--groups", "2", "--store", str(store), "--quiet"]) == 0
    rows = SQLiteStore(str(store)).results(task="mnist1d-bench")
    assert len(rows) == 40 and all(r.detail.startswith("bench:") or r.status == SCREENED or r.cached for r in rows)
    out = tmp_path / "cmp"
    argv = ["compare", "--task", "mnist1d-bench", "--searchers", "random,evolution", "--budget", "30", "--seeds", "2", "--out", str(out)]
    assert main([*argv, "--race-top", "1", "--race-seeds", "2"]) == 0
    manifest = (out / "manifest.toml").read_text()
    assert load_bench("mnist1d").content_hash in manifest
    assert (out / "summary.md").exists()
    # the race trained the bench's best rule and Adam for real, on the live task
    live = SQLiteStore(str(out / "results.sqlite")).results(task="mnist1d")
    assert {r.seed for r in live} == {1_500_000, 1_500_001} and len({r.fingerprint for r in live}) == 2
    assert all(not r.detail.startswith("bench:") for r in live)
    check = (out / "race.md").read_text()
    assert "Raced against Adam on mnist1d" in check and "bench (expected test acc)" in check
    # the experiment file the manifest is re-runs it, training nothing new
    def answered():
        return sum(not r.cached for r in SQLiteStore(str(out / "results.sqlite")).results())

    before = answered()
    assert main(["compare", "--config", str(out / "manifest.toml")]) == 0
    assert answered() == before


@pytest.mark.slow
def test_a_bench_comparison_in_processes_equals_the_sequential_one(tmp_path):
    """Seeds run in parallel processes share no cache entries, so results, costs and cache hits are
    those of the one-process loop."""
    argv = ["compare", "--task", "mnist1d-bench", "--searchers", "random,gp", "--budget", "40", "--seeds", "3", "--race-top", "0", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "serial"), "--backend", "serial"]) == 0
    assert main([*argv, "--out", str(tmp_path / "parallel"), "--workers", "2"]) == 0

    def rows(folder):
        return sorted(
            (r.run_id, r.index, r.fingerprint, r.reward, r.status, r.cached, r.cost)
            for r in SQLiteStore(str(tmp_path / folder / "results.sqlite")).results(task="mnist1d-bench")
        )

    assert rows("serial") == rows("parallel") and len(rows("serial")) > 2 * 3 * 40
    assert (tmp_path / "serial" / "summary.csv").read_text() == (tmp_path / "parallel" / "summary.csv").read_text()


def test_the_env_on_the_bench(bench):
    import gymnasium

    from optsearch import ENV_ID

    env = gymnasium.make(ENV_ID, task="mnist1d-bench", groups=1)
    env.reset(seed=0)
    tokens = ["g", "sign(m)", "id", "id", "mul"]  # g * sign(m)
    for token in tokens:
        action = env.unwrapped.space.vocabulary.index[token]
        _, reward, terminated, _, info = env.step(action)
    assert terminated
    assert reward == bench.query("g * sign(m)", 0).reward


@pytest.mark.slow
@pytest.mark.live  # not about the bench's answers, so not in CI's second pass
def test_the_builder_resumes_after_an_interruption_and_ingests_stores(tmp_path):
    plan = BuildPlan(random_rules=((1, 12), (2, 12)), chunk=6, searchers=("random", "evolution"), searcher_budget=10, mutations_top=3, mutations_per_rule=2)
    config = EvalConfig(task="quadratic")
    quiet = lambda message: None  # noqa: E731

    whole = tmp_path / "whole.sqlite"
    build(whole, plan, config=config, backend="serial", log=quiet, stages=SEARCHER_STAGES)

    class Interrupted(Exception):
        pass

    class Dying(SQLiteStore):
        writes = 0

        def record(self, result):
            Dying.writes += 1
            if Dying.writes == 120:
                raise Interrupted
            return super().record(result)

    broken = tmp_path / "broken.sqlite"
    with pytest.raises(Interrupted):
        build(Dying(str(broken)), plan, config=config, backend="serial", log=quiet, stages=SEARCHER_STAGES)
    build(broken, plan, config=config, backend="serial", log=quiet, stages=SEARCHER_STAGES)

    def table(path):
        rows = SQLiteStore(str(path)).results()
        keys = [(r.fingerprint, r.seed) for r in rows if not r.cached and r.run_id.startswith("bench-") and r.index is None]
        assert len(keys) == len(set(keys))  # nothing recorded twice
        return {(r.fingerprint, r.seed): (r.reward, r.status) for r in rows if not r.cached}

    assert table(broken) == table(whole)

    other = tmp_path / "user.sqlite"
    with Evaluator(config, store=str(other), backend="serial") as evaluator:
        evaluator.evaluate([parse("m * sign(g) + 1e-3 * w")], seed=7)
    with Evaluator(replace(config, steps=50), store=str(other), backend="serial") as evaluator:
        evaluator.evaluate([parse("m * sign(g) + 1e-2 * w")], seed=7)  # another protocol: not taken
    target = SQLiteStore(str(whole))
    digest = Evaluator(config, backend="serial").config_hash
    assert ingest(target, [other], "quadratic", digest) == 1
    assert target.lookup(fingerprint(parse("m * sign(g) + 1e-3 * w")), "quadratic", digest, 7) is not None
    assert ingest(target, [other], "quadratic", digest) == 0


def test_a_table_restored_into_a_store_exports_to_the_same_table(tmp_path):
    # `bench build --from-table` continues a shipped table: its rows go back into a store bit for
    # bit (the same content hash when exported again), and the manifest counts them as rows of an
    # earlier table, whose machine kind they keep; a new evaluation in that store is not one.
    store = SQLiteStore(str(tmp_path / "first.sqlite"))
    with Evaluator(EvalConfig(task="quadratic"), store=store, backend="serial") as evaluator:
        for seed in range(3):
            evaluator.evaluate([parse(r) for r in ("adam", "m", "-g")], seed=seed)
    first = export_store([store], tmp_path / "first", task="quadratic", with_features=False)
    table = read_table(tmp_path / "first")
    again = SQLiteStore(str(tmp_path / "again.sqlite"))
    assert restore_store(table, again) == first["coverage"]["rows"] == 9
    assert restore_store(table, again) == 0  # nothing twice
    second = export_store([again], tmp_path / "second", task="quadratic", with_features=False)
    assert second["table_sha256"] == first["table_sha256"]
    assert second["platform"]["rows_from_earlier_tables"] == 9
    with Evaluator(EvalConfig(task="quadratic"), store=again, backend="serial") as evaluator:
        evaluator.evaluate([parse("sign(m)")], seed=0)
    third = export_store([again], tmp_path / "third", task="quadratic", with_features=False)
    assert third["coverage"]["rows"] == 10 and third["platform"]["rows_from_earlier_tables"] == 9


def test_export_from_stores_and_load(tmp_path):
    store = SQLiteStore(str(tmp_path / "s.sqlite"))
    with Evaluator(EvalConfig(task="quadratic"), store=store, backend="serial") as evaluator:
        for seed in range(3):
            evaluator.evaluate([parse(r) for r in ("adam", "g", "m", "-g")], seed=seed)
    manifest = export_store([store], tmp_path / "bench", task="quadratic", with_features=False)
    assert manifest["coverage"]["trained_rules_on_3_or_more_seeds"] == 3
    assert manifest["coverage"]["screened_rules"] == 1
    # the machine kind is named: live rows reproduce bit for bit only on the kind that computed them
    assert manifest["platform"]["torch"] == torch.__version__
    assert manifest["platform"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert manifest["platform"]["rows_from_earlier_tables"] == 0
    bench = load_bench("quadratic", folder=tmp_path / "bench")
    assert bench.expected("adam").seeds == 3 and bench.best.rule in ("adam", "g", "m")
    with pytest.raises(BenchError):
        load_bench("digits")


@pytest.mark.slow
@pytest.mark.live  # not about the bench's answers, so not in CI's second pass
def test_the_incumbents_stage_gives_the_rules_comparisons_end_on_the_top_seeds(tmp_path):
    from optsearch.searchers.registry import run_named_search
    from optsearch.searchers.studies.bench_stages import final_incumbents

    config = EvalConfig(task="quadratic")
    runs = tmp_path / "comparison.sqlite"
    ends: set[str] = set()
    with Evaluator(config, store=str(runs), backend="serial") as evaluator:
        for seed in (0, 1):
            results = run_named_search("random", evaluator, budget=40, seed=seed, groups=2).results
            ends.add(max(results, key=lambda r: r.reward).fingerprint)  # the first of the best rewards
        evaluator.evaluate([parse("adam")], seed=99, searcher="heldout", run_id="heldout")
    assert set(final_incumbents(runs, ["quadratic"])) == {"random"}  # a held-out run is no search
    assert len(final_incumbents(runs, ["quadratic"])["random"]) == 2 and final_incumbents(runs, ["mnist1d"]) == {}

    target = tmp_path / "table.sqlite"
    plan = BuildPlan(stages=("incumbents",), incumbent_stores=(str(runs),), top_seeds=4, top_chunk=1, noise_share=0.0)
    build(target, plan, config=config, backend="serial", log=lambda message: None, stages=SEARCHER_STAGES)
    seeds: dict[str, set[int]] = {}
    for row in SQLiteStore(str(target)).results(task="quadratic"):
        seeds.setdefault(row.fingerprint, set()).add(row.seed)
    assert seeds == {fp: {0, 1, 2, 3} for fp in ends}


def test_a_snapshot_of_a_build_carries_its_rows_beyond_the_table_to_another_store(tmp_path):
    # A long build commits its progress as a snapshot: the rows its store holds beyond the table it
    # continues, bit for bit with their machine kind, and nothing of the table itself; ingested into a
    # new store beside the table, it exports to the same table as the build's own store.
    store = SQLiteStore(str(tmp_path / "build.sqlite"))
    with Evaluator(EvalConfig(task="quadratic"), store=store, backend="serial") as evaluator:
        for seed in range(3):
            evaluator.evaluate([parse(r) for r in ("adam", "m")], seed=seed)
        export_store([store], tmp_path / "table", task="quadratic", with_features=False)
        base = read_table(tmp_path / "table")
        evaluator.evaluate([parse(r) for r in ("adam", "-g")], seed=3)
        evaluator.evaluate([parse("-g")], seed=0)
    snapshot = write_snapshot(store, tmp_path / "snapshot", base, task="quadratic")
    assert snapshot["coverage"]["rows"] == 3 and snapshot["snapshot_of"] == base.content_hash
    rows = read_table(tmp_path / "snapshot").rows
    assert sorted((fp, seed) for fp, by_seed in rows.items() for seed in by_seed) == sorted(
        (r.fingerprint, r.seed) for r in store.results() if not r.cached and (r.seed == 3 or r.rule == "-g")
    )

    resumed = SQLiteStore(str(tmp_path / "resumed.sqlite"))
    restore_store(base, resumed)
    _, protocol = live_protocol("quadratic")
    assert ingest(resumed, [tmp_path / "snapshot"], "quadratic", protocol.config_hash) == 3
    assert ingest(resumed, [tmp_path / "snapshot"], "quadratic", protocol.config_hash) == 0
    whole = export_store([store], tmp_path / "whole", task="quadratic", with_features=False)
    again = export_store([resumed], tmp_path / "again", task="quadratic", with_features=False)
    assert again["table_sha256"] == whole["table_sha256"]
    with pytest.raises(ValueError, match="config hash"):
        ingest(resumed, [tmp_path / "snapshot"], "quadratic", "another")
    # the command builds the live task's table: a snapshot of another protocol is a usage error,
    # refused before the build's store is touched
    assert main(["bench", "build", "--store", str(tmp_path / "other.sqlite"), "--ingest", str(tmp_path / "snapshot")]) == 2
    assert not (tmp_path / "other.sqlite").exists()


def test_a_build_keeps_its_snapshot_up_to_date_after_every_chunk(tmp_path):
    # `bench build --snapshot DIR`: after every chunk of the top stage and every stage, DIR holds the
    # rows the store has beyond the shipped table; the quadratic has no shipped bench, so every row
    plan = BuildPlan(stages=("named", "top"), top_margin=1.0, top_seeds=4, top_chunk=8)
    lines: list[str] = []
    store = tmp_path / "build.sqlite"
    build(store, plan, config=EvalConfig(task="quadratic"), backend="serial", log=lines.append, snapshot=tmp_path / "snapshot")
    chunks = [line for line in lines if line.startswith("top:") and "rules on 4 seeds" in line]
    assert len(chunks) >= 2
    assert sum(line.startswith("snapshot:") for line in lines) == len(chunks) + 2
    exported = export_store([store], tmp_path / "table", task="quadratic", with_features=False)
    assert read_table(tmp_path / "snapshot").content_hash == exported["table_sha256"]
