"""The reward and everything around it: tasks, the child network, the trainer, the screen, the
shared evaluator with its cache, the durable results store and the workers; the statistics and the
comparison report over results (:mod:`.statistics`, :mod:`.reports`); and the experiments that train
beyond the search (:mod:`.experiments`: held-out, race, transfer, funnel)."""

from .config import EvalConfig
from .evaluator import Evaluator
from .executor import make_executor
from .records import EvalResult, LRResult
from .store import InMemoryStore, ResultStore, SQLiteStore, Store, StoreError
from .tasks import DEFAULT_TASK, TASKS, get_task

__all__ = [
    "DEFAULT_TASK",
    "EvalConfig",
    "EvalResult",
    "Evaluator",
    "InMemoryStore",
    "LRResult",
    "ResultStore",  # deprecated name of SQLiteStore
    "SQLiteStore",
    "Store",
    "StoreError",
    "TASKS",
    "get_task",
    "make_executor",
]
