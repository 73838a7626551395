"""Transfer's sequence children (lstm, gru, transformer) and the language task ``arith``: real
trainings on tiny budgets."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest
import torch

from optsearch.cli import main
from optsearch.evaluation.experiments.transfer import TransferConfig, transfer
from optsearch.evaluation.experiments.transfer.render import write
from optsearch.evaluation.tasks import TASK_KINDS, get_task
from optsearch.evaluation.tasks import language
from optsearch.evaluation.training.child import child_spec
from optsearch.evaluation.training.loop import accuracy
from optsearch.evaluation.training.models import build_model, count_parameters, parse_model_name
from optsearch.evaluation.training.single import Budget, train_run

TINY = Budget(steps=6, batch_size=16, eval_every=3)
CASES = [("mnist1d", "lstm"), ("mnist1d", "gru"), ("mnist1d", "transformer"), ("arith", "transformer")]
RULES = ("adam", "sign(m)", "g")
BLOW_UP = "exp(exp(exp(g)))"  # at lr 1 every child's loss blows up within two steps (measured)


def cases(*fast: tuple[str, str]) -> list:
    """CASES, each one not in ``fast`` marked slow (run by the full suite, not by ``-m "not slow"``)."""
    return [case if case in fast else pytest.param(*case, marks=pytest.mark.slow) for case in CASES]


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _fields(record) -> dict:
    data = dataclasses.asdict(record)
    data.pop("wall_s")
    return data


# ------------------------------------------------------------------------------------------------
# The children
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task_name, model", CASES)
def test_each_child_has_the_right_output_shape(task_name, model):
    task = get_task(task_name)
    net = build_model(model, task, 0)
    x = task.val.x[:5]
    out = net(x)
    if task.kind == "language":
        assert out.shape == (5, task.num_classes, language.SEQ_LEN)  # [B, V, T]
    else:
        assert out.shape == (5, task.num_classes)
    assert torch.isfinite(out).all()
    assert 5_000 < count_parameters(net) < 50_000  # small networks, like the paper's child


@pytest.mark.parametrize("task_name, model", cases(("mnist1d", "lstm"), ("arith", "transformer")))
def test_each_child_trains_with_several_rules(task_name, model):
    task = get_task(task_name)
    for rule in RULES:
        record = train_run(rule, task, lr=1e-3, seed=1, budget=TINY, model=model)
        assert record.status == "ok", (rule, record.detail)
        assert record.steps == TINY.steps and record.curve_steps == (3, 6)
        assert math.isfinite(record.final_loss) and all(math.isfinite(v) for v in record.curve_loss)
        assert all(0.0 <= v <= 1.0 for v in record.curve_val) and 0.0 <= record.test_acc <= 1.0


@pytest.mark.parametrize("task_name, model", cases(("mnist1d", "lstm")))
def test_a_seed_fixes_the_run_bit_for_bit(task_name, model):
    task = get_task(task_name)
    first = train_run("adam", task, lr=1e-2, seed=3, budget=TINY, model=model)
    again = train_run("adam", task, lr=1e-2, seed=3, budget=TINY, model=model)
    other = train_run("adam", task, lr=1e-2, seed=4, budget=TINY, model=model)
    assert _fields(first) == _fields(again)
    assert first.curve_loss != other.curve_loss
    a, b, c = (build_model(model, task, s).state_dict() for s in (7, 7, 8))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a if k != "mask")


@pytest.mark.parametrize("task_name, model", CASES)
def test_a_blow_up_is_a_status_not_an_exception(task_name, model):
    record = train_run(BLOW_UP, get_task(task_name), lr=1.0, seed=1, budget=TINY, model=model)
    assert record.status in ("nan", "diverged") and record.steps < TINY.steps
    assert record.val_acc == 0.0 and record.test_acc == 0.0 and math.isnan(record.curve_loss[-1])


@pytest.mark.parametrize("task_name, model", CASES)
def test_initialisation_comes_from_the_seed_alone(task_name, model):
    task = get_task(task_name)
    state = torch.get_rng_state()
    net = build_model(model, task, 5)
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is not advanced
    torch.manual_seed(12345)  # ... nor read: no parameter keeps a draw from it
    other = build_model(model, task, 5)
    torch.set_rng_state(state)
    for (name, p), q in zip(net.named_parameters(), other.parameters()):
        assert torch.equal(p, q), name


def test_the_language_model_is_causal():
    task = get_task("arith")
    net = build_model("transformer", task, 0)
    x = task.val.x[:4].clone()
    cut = 20
    changed = x.clone()
    changed[:, cut:] = (changed[:, cut:] + 1) % task.num_classes
    for mode in (True, False):  # training and eval mode (torch's fast path) alike
        net.train(mode)
        with torch.no_grad():
            before, after = net(x), net(changed)
        assert torch.equal(before[:, :, :cut], after[:, :, :cut])  # earlier positions never see later tokens
        assert not torch.equal(before[:, :, cut:], after[:, :, cut:])


def test_next_token_accuracy_counts_every_position():
    task = get_task("arith")
    net = build_model("transformer", task, 0).eval()
    x, y = task.val.x[:700], task.val.y[:700]  # more than one evaluation batch
    with torch.no_grad():
        expected = (net(x).argmax(1) == y).double().mean()
    assert torch.equal(accuracy(net, x, y), expected)


# ------------------------------------------------------------------------------------------------
# The arith corpus
# ------------------------------------------------------------------------------------------------
def test_arith_is_deterministic_and_needs_no_download():
    task = get_task("arith")
    assert task.kind == TASK_KINDS["arith"] == "language"
    assert task.input_shape == (language.SEQ_LEN,) and task.num_classes == len(language.VOCAB) == 14
    language.load_arith.cache_clear()
    torch.manual_seed(99)
    again = get_task("arith")
    assert again is not task
    for a, b in zip((task.train, task.val, task.test), (again.train, again.val, again.test)):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert torch.equal(torch.from_numpy(language.arith_stream(500)), torch.from_numpy(language.arith_stream(500)))


def test_arith_windows_shift_by_one_and_splits_are_disjoint_parts_of_the_stream():
    task = get_task("arith")
    splits = (task.train, task.val, task.test)
    assert [len(s) for s in splits] == list(language.SPLIT_WINDOWS)
    pieces = []
    for split in splits:
        assert split.x.dtype == split.y.dtype == torch.int64 and split.x.shape == split.y.shape
        assert torch.equal(split.y[:, :-1], split.x[:, 1:])  # y is x shifted by one
        assert torch.equal(split.y[:-1, -1], split.x[1:, 0])  # consecutive windows tile the segment
        pieces.append(torch.cat([split.x.reshape(-1), split.y[-1, -1:]]))  # the split's segment
    stream = torch.from_numpy(language.arith_stream(sum(len(p) for p in pieces)))
    assert torch.equal(torch.cat(pieces), stream)  # consecutive, non-overlapping segments
    text = language.decode(stream)
    lines = text.split(";")[:-1]  # the last one may be cut
    assert len(lines) > 20_000
    for line in lines:
        a, op, b, c = re.fullmatch(r"(\d+)([+-])(\d+)=(\d+)", line).groups()
        a, b, c = int(a), int(b), int(c)
        assert 0 <= min(a, b) and max(a, b) <= language.MAX_OPERAND
        assert c == (a + b if op == "+" else a - b)


def test_adam_learns_arith_well_above_the_majority_token():
    task = get_task("arith")
    counts = torch.bincount(task.train.y.reshape(-1), minlength=task.num_classes)
    baseline = float((task.val.y == counts.argmax()).double().mean())
    # Measured: 0.32-0.33 after 40 steps (seeds 1, 2) against the baseline 0.11.
    record = train_run("adam", task, lr=1e-2, seed=1, budget=Budget(40, 32, 40), model="transformer")
    assert record.status == "ok"
    assert record.val_acc > baseline + 0.1


# ------------------------------------------------------------------------------------------------
# transfer() end to end
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "task_name, model", [pytest.param("arith", "transformer", marks=pytest.mark.slow), ("mnist1d", "lstm")]
)
def test_transfer_runs_end_to_end(task_name, model, tmp_path):
    config = TransferConfig(task_name, model=model, lrs=(1e-3, 1e-2), seeds=(1,), steps=4, eval_every=4, num_threads=1)
    result = transfer(["sign(m)"], config)
    assert [r.name for r in result.rules] == ["sign(m)", "adam", "momentum", "sgd"]
    for rule in result.rules:
        assert [run.lr for run in rule.grid] == [1e-3, 1e-2] and rule.best_lr in (1e-3, 1e-2)
        assert len(rule.runs) == 1 and rule.runs[0].ok and 0.0 <= rule.runs[0].test_acc <= 1.0
    assert result.parameters == count_parameters(build_model(model, task_name, 0))
    paths = write(result, tmp_path)
    assert task_name in paths["md"].read_text()


@pytest.mark.parametrize("task_name, model", cases())
def test_a_rule_transfers_bit_for_bit_alone_and_among_other_rules(task_name, model):
    """Transfer trains one network per run (stacked populations are the search child's), so its
    population is the rules of one transfer in one process: a rule's runs must not depend on the
    rules trained before it (no state leaks between runs: global generators, thread settings)."""
    config = TransferConfig(task_name, model=model, lrs=(1e-3, 1e-2), seeds=(1, 2), steps=4, eval_every=2, num_threads=1)
    alone = transfer({"signum": "drop(sign(m), 0.1)"}, config).rules[0]
    among = {rule.name: rule for rule in transfer({"blow-up": BLOW_UP, "g3": "g3", "signum": "drop(sign(m), 0.1)"}, config).rules}["signum"]
    assert alone.best_lr == among.best_lr
    assert [_fields(r) for r in alone.grid + alone.runs] == [_fields(r) for r in among.grid + among.runs]


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------
def test_a_model_on_the_wrong_kind_of_task_is_a_clear_error():
    with pytest.raises(ValueError, match="models for language tasks: transformer"):
        build_model("paper", "arith", 0)
    with pytest.raises(ValueError, match="models for language tasks: transformer"):
        build_model("wrn-16-1", "arith", 0)
    with pytest.raises(ValueError, match="'lstm' does not work on the image task 'digits'"):
        build_model("lstm", "digits", 0)
    with pytest.raises(ValueError, match="'paper' does not work on the language task"):
        TransferConfig("arith")  # before any data is loaded or any run trained
    with pytest.raises(ValueError, match="does not work on the image task"):
        TransferConfig("digits", model="gru")
    with pytest.raises(ValueError, match="depth and widen only apply"):
        build_model("lstm", "mnist1d", 0, depth=16)
    with pytest.raises(ValueError, match="lstm, gru, transformer"):
        parse_model_name("rnn")


def test_the_search_rejects_a_language_task_early(capsys):
    with pytest.raises(ValueError, match="language task"):
        child_spec(get_task("arith"))
    assert main(["eval", "--task", "arith", "adam"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "language task" in err and "transfer" in err
