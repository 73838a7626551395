"""Transfer (DeepOBS protocol) and the transfer networks: real trainings on tiny budgets."""

from __future__ import annotations

import csv
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from optsearch.dsl.canonical import canonical
from optsearch.dsl.optimizer import resolve_rule
from optsearch.dsl.printer import to_text
from optsearch.evaluation.experiments.transfer import CSV_COLUMNS, TransferConfig, rules_from_store, transfer
from optsearch.evaluation.experiments.transfer.render import write
from optsearch.evaluation.experiments.transfer.rules import entries as _entries
from optsearch.evaluation.records import EvalResult
from optsearch.evaluation.store import ResultStore, StoreError
from optsearch.evaluation.tasks import DataSplit, Task, get_task
from optsearch.evaluation.tasks import cifar10 as cifar
from optsearch.evaluation.tasks.cifar10 import DatasetNotFoundError
from optsearch.evaluation.training.device import resolve_device
from optsearch.evaluation.training.models import WideResNet, build_model, count_parameters
from optsearch.evaluation.training.single import Budget, augment_images, train_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BASELINES = ("adam", "momentum", "sgd")


# ------------------------------------------------------------------------------------------------
# The protocol on digits with the paper's child
# ------------------------------------------------------------------------------------------------
DIGITS = TransferConfig("digits", steps=24, eval_every=8, seeds=(1, 2), num_threads=1)


@pytest.fixture(scope="module")
def digits_run():
    calls = []
    result = transfer(["powersign"], DIGITS, progress=lambda done, total, record: calls.append((done, total, record)))
    return result, calls


@pytest.mark.slow
def test_transfer_picks_a_grid_lr_for_every_rule_and_baseline(digits_run):
    result, calls = digits_run
    assert [r.name for r in result.rules] == ["powersign", *BASELINES]
    assert [r.baseline for r in result.rules] == [False, True, True, True]
    assert result["powersign"].text == "exp(sign(g) * sign(m)) * g"
    for rule in result.rules:
        assert [run.lr for run in rule.grid] == list(DIGITS.lrs)
        assert all(run.phase == "tune" and run.seed == 0 and run.test_acc is None for run in rule.grid)
        assert rule.best_lr in DIGITS.lrs
        # the selection is the best final validation accuracy among the finished tuning runs
        finished = {lr: acc for lr, acc in rule.grid_val.items() if not math.isnan(acc)}
        assert rule.best_lr == max(finished, key=finished.get)
        assert [run.seed for run in rule.runs] == [1, 2]
        assert all(run.phase == "seed" and run.lr == rule.best_lr for run in rule.runs)
    # lr = 1 blows every rule up on digits: stopped early, ranked worst, never selected
    for rule in result.rules:
        top = rule.grid[-1]
        assert top.status in ("diverged", "nan") and top.steps < DIGITS.steps and top.val_acc == 0.0
    # every run reported, in order
    assert [c[0] for c in calls] == list(range(1, len(calls) + 1))
    assert len(calls) == calls[-1][1] == 4 * (5 + 2)


@pytest.mark.slow
def test_transfer_records_curves_and_test_accuracy(digits_run):
    result, _ = digits_run
    assert result.budget == Budget(steps=24, batch_size=32, eval_every=8)
    assert result.budget.curve_steps == (8, 16, 24)
    for rule in result.rules:
        for run in (*rule.grid, *rule.runs):
            assert run.curve_steps == (8, 16, 24)
            assert len(run.curve_val) == len(run.curve_loss) == 3
        for run in rule.runs:
            assert run.status == "ok" and run.steps == 24
            assert all(0.0 <= v <= 1.0 for v in run.curve_val) and all(math.isfinite(v) for v in run.curve_loss)
            assert run.val_acc == run.curve_val[-1]
            assert run.test_acc is not None and 0.0 <= run.test_acc <= 1.0
        steps, values = rule.curves("val")
        assert steps.tolist() == [8, 16, 24] and values.shape == (2, 3)
        assert rule.val_mean == pytest.approx(np.mean([r.val_acc for r in rule.runs]))
        assert rule.test_std == pytest.approx(np.std([r.test_acc for r in rule.runs], ddof=1))
    adam = result["adam"]
    assert adam.status == "ok" and adam.test_mean > 0.6  # chance is 0.1
    # the seeds differ in initialisation and batch order
    assert adam.runs[0].curve_loss != adam.runs[1].curve_loss


@pytest.mark.slow
def test_transfer_writes_png_csv_md_json(digits_run, tmp_path):
    result, _ = digits_run
    paths = write(result, tmp_path / "out")
    assert set(paths) == {"md", "csv", "png", "json"}
    assert paths["png"].name == "transfer_curves.png"
    png = paths["png"].read_bytes()
    assert png[:8] == PNG_SIGNATURE and len(png) > 10_000
    with open(paths["csv"], newline="") as handle:
        rows = list(csv.DictReader(handle))
        handle.seek(0)
        assert tuple(next(csv.reader(handle))) == CSV_COLUMNS
    assert {row["rule"] for row in rows} == {"powersign", *BASELINES}
    means = [float(row["val_mean"]) for row in rows]
    assert means == sorted(means, reverse=True)  # ranked by validation accuracy
    for row in rows:
        rule = result[row["rule"]]
        assert float(row["best_lr"]) == rule.best_lr and int(row["seeds"]) == 2 and row["status"] == "ok"
        assert float(row["test_mean"]) == pytest.approx(rule.test_mean)
        assert row["text"] == rule.text
    md = paths["md"].read_text()
    assert "# Transfer: `digits`, model `paper`" in md and "transfer_curves.png" in md
    assert "| rank | rule | text | best lr |" in md and "momentum (baseline)" in md
    assert "exp(sign(g) * sign(m)) * g" in md and "diverged" in md  # the grid table
    data = json.loads(paths["json"].read_text())
    assert data["config"]["task"] == "digits" and len(data["rules"]) == 4
    assert len(data["rules"][0]["runs"][0]["curve_val"]) == 3


def test_a_rule_that_diverges_at_every_lr_ranks_last_without_crashing(tmp_path):
    config = TransferConfig("digits", lrs=(1e-2, 1e-1, 1.0), steps=10, eval_every=5, seeds=(1,), num_threads=1)
    result = transfer({"ascent": "-g"}, config)
    ascent = result["ascent"]
    assert ascent.best_lr is None and ascent.runs == () and ascent.seeds == 0
    assert ascent.status in ("diverged", "nan")
    assert all(run.status in ("diverged", "nan") and run.steps < 10 for run in ascent.grid)
    for run in ascent.grid:  # as long as a finished run's curves, with the floor from the failure on
        assert len(run.curve_val) == 2 and run.curve_val[-1] == 0.0 and math.isnan(run.curve_loss[-1])
        assert run.val_acc == 0.0  # a failed run counts with the floor accuracy
    assert all(math.isnan(v) for v in ascent.grid_val.values())
    assert math.isnan(ascent.val_mean) and result.ranked[-1].name == "ascent"
    assert all(r.status == "ok" for r in result.rules if r.baseline)
    paths = write(result, tmp_path)
    with open(paths["csv"], newline="") as handle:
        last = list(csv.DictReader(handle))[-1]
    assert last["rule"] == "ascent" and last["best_lr"] == "" and last["val_mean"] == "" and last["seeds"] == "0"
    assert last["status"] == ascent.status
    assert paths["png"].read_bytes()[:8] == PNG_SIGNATURE
    assert "failed at every learning rate" in paths["md"].read_text()


def test_nan_ends_a_run_with_status_nan():
    task = get_task("digits")
    with torch.random.fork_rng(devices=[]):
        record = train_run("sgd", task, lr=1e38, seed=1, budget=Budget(10, 16, 5))
    assert record.status == "nan" and record.steps < 10
    assert record.val_acc == 0.0 and record.test_acc == 0.0 and record.curve_val == (0.0, 0.0)
    assert record.steps == 1 and math.isnan(record.final_loss) and math.isnan(record.curve_loss[-1])


# ------------------------------------------------------------------------------------------------
# Rules in, configs, merges
# ------------------------------------------------------------------------------------------------
def test_rules_are_parsed_before_training_and_merged_with_baselines():
    entries, notes = _entries({"ps": "powersign", "same": "g * exp(sign(m) * sign(g))", "mom": "m"})
    assert [(n, b) for n, _, b in entries] == [("ps", False), ("adam", True), ("momentum", True), ("sgd", True)]
    assert any("`same`" in n and "`ps`" in n for n in notes) and any("`mom`" in n and "`momentum`" in n for n in notes)
    with pytest.raises(ValueError, match="cannot parse"):
        transfer(["exp(("], DIGITS)
    with pytest.raises(ValueError, match="baseline's name"):
        transfer({"adam": "sign(g)"}, DIGITS)
    with pytest.raises(ValueError, match="function task"):
        transfer(["powersign"], TransferConfig("quadratic"))


def test_config_budget_and_validation():
    task = get_task("digits")
    assert TransferConfig("digits").budget(task) == Budget(50, 32, 2)  # the task's defaults
    assert TransferConfig("digits", epochs=2, batch_size=100).budget(task).steps == math.ceil(2 * 1197 / 100)
    assert Budget(10, 4, 4).curve_steps == (4, 8, 10)
    for bad in (
        dict(steps=10, epochs=1.0),
        dict(lrs=()),
        dict(lrs=(0.1, -1.0)),
        dict(seeds=()),
        dict(model="vgg"),
        dict(model="wrn-0-0"),
        dict(model="wrn-16-0"),
        dict(steps=0),
        dict(epochs=math.nan),
        dict(epochs=math.inf),
        dict(epochs=1e9),
        dict(weight_decay=math.nan),
        dict(weight_decay=math.inf),
        dict(weight_decay=-1e-4),
    ):
        with pytest.raises(ValueError):
            TransferConfig("digits", **bad)
    with pytest.raises(ValueError, match="unknown task 'nosuch'"):
        TransferConfig("nosuch")
    with pytest.raises(ValueError, match="function task"):
        TransferConfig("rosenbrock")
    with pytest.raises(ValueError, match="augmentation"):
        TransferConfig("mnist1d", augment=True)


def test_devices_are_checked_before_any_work():
    assert resolve_device("cpu") == torch.device("cpu")
    for bad, message in (("bogus", "unknown device 'bogus'"), ("meta", "is not supported")):
        with pytest.raises(ValueError, match=message):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
        with pytest.raises(ValueError, match="CUDA is not available"):
            transfer(["powersign"], DIGITS, device="cuda:0")


def _stored(rule: str, reward: float, status: str = "ok") -> EvalResult:
    return EvalResult(
        rule=rule,
        canonical=to_text(canonical(resolve_rule(rule))),
        fingerprint=rule,
        task="mnist1d",
        config_hash="cfg",
        reward=reward,
        status=status,
        val_acc=reward,
    )


def test_rules_from_store(tmp_path):
    path = tmp_path / "results.sqlite"
    with ResultStore(path) as store:
        store.record(_stored("-g", 0.99, status="diverged"))  # failed rows never come back
        store.record(_stored("g * exp(sign(g) * sign(m))", 0.9))
        store.record(_stored("exp(sign(m) * sign(g)) * g", 0.7))  # same canonical rule
        store.record(_stored("m", 0.8))
        store.record(_stored("sign(g)", 0.6))
    assert rules_from_store(path, 2) == {"powersign": "g * exp(sign(g) * sign(m))", "momentum": "m"}
    assert list(rules_from_store(path, 10)) == ["powersign", "momentum", "signsgd"]  # a reference rule by name
    with pytest.raises(StoreError):
        rules_from_store(tmp_path / "missing.sqlite", 3)


# ------------------------------------------------------------------------------------------------
# Networks and CIFAR-10
# ------------------------------------------------------------------------------------------------
def _write_fake_cifar(root: Path, per_batch: int = 12) -> None:
    """torchvision's on-disk CIFAR-10: five training batches and a test batch of random images."""
    folder = root / cifar.FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for name in (*cifar.TRAIN_FILES, cifar.TEST_FILE):
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, size=per_batch)],
            b"data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
        }
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle, protocol=2)


@pytest.mark.slow
def test_resnet_on_fake_cifar10(tmp_path):
    _write_fake_cifar(tmp_path)
    task = get_task("cifar10", data_dir=tmp_path)
    assert task.input_shape == (3, 32, 32) and len(task.train) == 54
    x = task.train.x[:4]
    for name in ("resnet", "wrn-10-1", "paper"):
        model = build_model(name, task, seed=0)
        assert model(x).shape == (4, 10)
    resnet = build_model("resnet", task, seed=0)
    assert isinstance(resnet, WideResNet) and (resnet.depth, resnet.widen) == (16, 2)
    assert 600_000 < count_parameters(resnet) < 800_000
    # seeded: same seed, same weights; another seed, other weights; torch's generator untouched
    state = torch.random.get_rng_state()
    again, other = build_model("resnet", task, seed=0), build_model("resnet", task, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(a, b) for a, b in zip(resnet.state_dict().values(), again.state_dict().values()))
    assert not torch.equal(resnet.stem.weight, other.stem.weight)
    # a few real training steps, with augmentation
    budget = Budget(steps=3, batch_size=8, eval_every=2)
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(1)
        record = train_run("powersign", task, model="resnet", lr=0.01, seed=1, budget=budget, augment=True)
    assert record.status == "ok" and record.steps == 3 and record.curve_steps == (2, 3)
    assert all(math.isfinite(v) for v in record.curve_loss) and 0.0 <= record.test_acc <= 1.0
    # the whole protocol end to end on the cheapest Wide ResNet
    config = TransferConfig("cifar10", model="wrn-10-1", lrs=(1e-2,), seeds=(1,), steps=2, batch_size=8, num_threads=1)
    result = transfer(["addsign"], config, data_dir=tmp_path)
    assert [r.name for r in result.rules] == ["addsign", *BASELINES]
    assert all(r.best_lr == 1e-2 and r.seeds == 1 for r in result.rules)
    assert result.parameters == count_parameters(build_model("wrn-10-1", task, 0))


@pytest.mark.slow
def test_resnet_one_dimensional_variant_and_errors():
    rng = torch.Generator().manual_seed(0)

    def split(n: int) -> DataSplit:
        return DataSplit(torch.randn(n, 1, 40, generator=rng), torch.randint(0, 10, (n,), generator=rng))

    digits = get_task("digits")
    task = Task("seq", "sequence", 10, (1, 40), digits.defaults, split(32), split(8), split(8))
    model = build_model("wrn-10-1", task, seed=0)
    assert model(task.train.x[:5]).shape == (5, 10)
    assert isinstance(model.stem, torch.nn.Conv1d)
    assert build_model("paper", task, seed=0)(task.train.x[:5]).shape == (5, 10)
    record = train_run("adam", task, model="resnet", lr=1e-3, seed=0, budget=Budget(2, 8, 1))
    assert record.status == "ok" and len(record.curve_val) == 2
    with pytest.raises(ValueError, match="function task"):
        build_model("resnet", "quadratic", seed=0)
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet50", digits, seed=0)
    with pytest.raises(ValueError, match="6n \\+ 4"):
        build_model("wrn-12-1", digits, seed=0)
    with pytest.raises(ValueError, match="augmentation"):
        transfer(["sgd"], TransferConfig(task, augment=True))


def test_augment_images_crops_and_flips():
    x = torch.arange(4 * 3 * 8 * 8, dtype=torch.float32).view(4, 3, 8, 8) + 1.0
    a = augment_images(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, augment_images(x, torch.Generator().manual_seed(0)))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))  # 8 // 8 = 1 pixel of zeros
    seen = set()
    for seed in range(10):
        out = augment_images(x, torch.Generator().manual_seed(seed))
        for i in range(4):
            matches = [
                (dy, dx, flip)
                for dy in range(3)
                for dx in range(3)
                for flip in (False, True)
                if torch.equal(out[i], (lambda c: c.flip(-1) if flip else c)(padded[i, :, dy : dy + 8, dx : dx + 8]))
            ]
            assert len(matches) == 1  # every output is one crop of the padded image, maybe flipped
            seen.add(matches[0])
    assert len(seen) > 10 and {flip for _, _, flip in seen} == {False, True}


def test_missing_cifar10_raises_before_training(tmp_path):
    with pytest.raises(DatasetNotFoundError):
        transfer(["powersign"], TransferConfig("cifar10", model="resnet"), data_dir=tmp_path / "nowhere")
