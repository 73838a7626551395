"""The tasks a rule is evaluated on: data sets with fixed splits, and two test functions.

``get_task(name)`` returns a frozen :class:`Task`. Image and sequence tasks carry their data as
float32 tensors (``[N, C, H, W]`` / ``[N, C, L]``, normalised with training-set statistics) and
int64 labels, split into train / validation / test by a **fixed** seeded permutation that does
not depend on the evaluation seed (the evaluation seed only changes the child's initialisation,
the batch order and the rule's own randomness). The tensors are cached and shared between calls:
treat them as read-only. The language task carries int64 token windows (inputs ``[N, T]`` and
their next tokens ``[N, T]``); it is for transfer only (the search's child is a classifier).

==============  ==========  ================================  ====================  ========  ==============
task            kind        data                              train / val / test    input     steps × batch
==============  ==========  ================================  ====================  ========  ==============
``digits``      image       sklearn ``load_digits`` (1797)    1197 / 300 / 300      1×8×8     50 × 32
``mnist1d``     sequence    ``mnist1d`` generated offline     3000 / 1000 / 1000    1×40      200 × 64
``cifar10``     image       local torchvision-format copy     45000 / 5000 / 10000  3×32×32   1000 × 128
``quadratic``   function    ill-conditioned quadratic, 32-D   —                     32        400
``rosenbrock``  function    Rosenbrock (a=1, b=100), 2-D      —                     2         1000
``arith``       language    arithmetic lines, generated       4000 / 1000 / 1000    32 tokens 200 × 32
==============  ==========  ================================  ====================  ========  ==============

The tasks and their budgets are registered once, in :mod:`.registry` (each entry: name, kind,
loader, :class:`TaskDefaults`); every task's default learning-rate grid is 1e-4, 1e-3, 1e-2, 0.1,
1. :data:`DEFAULT_TASK` (``mnist1d``) was chosen by measurement, see the comment at its
definition. The loaders live in :mod:`.data` (and :mod:`.cifar10` for the files) and
:mod:`.functions` (the test functions and their progress score) and :mod:`.language` (the
generated corpus).
"""

from .cifar10 import DatasetNotFoundError
from .functions import SCORE_DECADES, QuadraticFunction, RosenbrockFunction, TestFunction, progress_score
from .registry import DEFAULT_TASK, DEFAULTS, LR_GRID, REGISTRY, SPECS, TASK_KINDS, TASKS, TaskSpec, get_task, spec_for
from .task import SPLIT_SEED, DataSplit, Task, TaskDefaults

__all__ = [
    "DEFAULT_TASK",
    "DEFAULTS",
    "DataSplit",
    "DatasetNotFoundError",
    "LR_GRID",
    "QuadraticFunction",
    "REGISTRY",
    "RosenbrockFunction",
    "SCORE_DECADES",
    "SPECS",
    "SPLIT_SEED",
    "TASKS",
    "TASK_KINDS",
    "Task",
    "TaskDefaults",
    "TaskSpec",
    "TestFunction",
    "get_task",
    "progress_score",
    "spec_for",
]
