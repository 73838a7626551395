"""Transfer: chosen rules trained on other tasks and networks with the DeepOBS protocol, and compared
with Adam across them.

Use::

    from optsearch.evaluation.experiments.transfer import TransferConfig, transfer, rules_from_store
    from optsearch.evaluation.experiments.transfer.render import write

    config = TransferConfig("cifar10", model="resnet", epochs=30, batch_size=128, augment=True)
    result = transfer({"powersign": "powersign"}, config, data_dir="~/data", device="cuda")
    write(result, "runs/transfer-cifar10")  # transfer.md, transfer.csv, transfer_curves.png, transfer.json

The pieces, one job each:

- :mod:`.config`: what to train and for how long (:class:`TransferConfig`), and where;
- :mod:`.rules`: which rules (the requested ones and the baselines; :func:`rules_from_store`);
- :mod:`.trainer`: the protocol itself (:func:`transfer`);
- :mod:`.records`: what was measured (:class:`TransferResult`);
- :mod:`.render`: a transfer's files; :mod:`.cells`: how those files write a value;
- :mod:`.suite`: several task entries, every rule against Adam (:class:`TransferSuite`);
- :mod:`.profile`: the suite's files, the performance profile among them;
- :mod:`.runner`: a whole suite, its entries in worker processes (:func:`run_suite`).
"""

from .config import TransferConfig
from .records import CSV_COLUMNS, RuleTransfer, TransferResult
from .rules import rules_from_store
from .runner import run_suite
from .suite import TaskEntry, TransferSuite, build_suite, parse_task_entries
from .trainer import transfer

__all__ = [
    "CSV_COLUMNS",
    "RuleTransfer",
    "TaskEntry",
    "TransferConfig",
    "TransferResult",
    "TransferSuite",
    "build_suite",
    "parse_task_entries",
    "rules_from_store",
    "run_suite",
    "transfer",
]
