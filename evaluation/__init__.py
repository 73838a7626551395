"""The reward and everything around it: tasks, the child network, the trainer, the screen, the
shared evaluator with its cache, the durable results store, the workers, and the reports."""

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
