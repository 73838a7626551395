"""From results stores to the shipped table, and back.

- :func:`live_protocol`: the protocol a bench of a live task stands for (its config hashes);
- :func:`export_platform`: the machine kind a table's rows were exported on (its manifest says);
- :func:`export_store`: the table (and the surrogate's features and the truth model, see
  :mod:`.truth`) from one or more stores of that protocol: the table is a view over stores of the
  same config hash, so users' runs grow it;
- :func:`write_aliases`: the table rules whose fingerprint with the portable kernels differs;
- :func:`restore_store`: the table's rows written back into a store, so that a build on a new
  machine continues the shipped table instead of recomputing it;
- :func:`write_snapshot`: a build's progress, the rows a store holds beyond a table, as a small
  table folder that can be committed while a long build runs (``bench build --ingest FOLDER``
  restores it on another machine).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Optional, Sequence, Union

from ..config import TRAINER_VERSION, EvalConfig
from ..records import EvalResult
from ..experiments.heldout import heldout_config
from ..store import Store, open_store
from ..tasks import get_task
from .table import Protocol, Table, export_table, read_table, table_rows


def live_protocol(task: str = "mnist1d", config: EvalConfig = EvalConfig()) -> tuple[EvalConfig, Protocol]:
    """The resolved search config of ``task`` and the :class:`Protocol` a bench of it stands for."""
    live = replace(config, task=task, device="cpu")
    live = live.with_task_defaults(get_task(task).defaults)
    resolved = {k: v for k, v in asdict(live).items() if k not in ("time_limit_s", "population_size")}
    return live, Protocol(task, resolved, live.config_hash(), heldout_config(live).config_hash(), TRAINER_VERSION)


#: The run of the rows :func:`restore_store` copies from a shipped table into a store (``bench-table@AVX2``
#: when the row records its machine kind).
RESTORED_RUN = "bench-table"


def export_platform() -> dict:
    """The machine kind that exports (and, with the builder, computes) a table's rows.

    Live results reproduce bit for bit only on the machine kind that computed them (CPU kernels
    round differently from one instruction set to another), so a table names it: torch's version
    and the CPU capability its kernels dispatch to, the CPU model and the architecture.
    :func:`export_store` adds ``rows_from_earlier_tables``: the rows restored from an earlier
    table (``bench build --from-table``), which keep that table's machine kind (its manifest's).
    """
    import platform

    import torch

    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    except OSError:
        pass
    return {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu": model or platform.processor(),
        "machine": platform.machine(),
    }


def export_store(
    stores: Sequence[Union[str, Path, Store]], folder: Union[str, Path], task: str = "mnist1d", *, with_features: bool = True
) -> dict:
    """Write the table of every final result of ``task``'s protocol in ``stores`` into ``folder``."""
    from importlib.metadata import version

    _, protocol = live_protocol(task)
    rows: dict = {}
    restored: set[tuple[str, int]] = set()
    for store in stores:
        opened = open_store(str(store) if isinstance(store, Path) else store)
        results = list(opened.results(task=task))
        restored.update((r.fingerprint, int(r.seed)) for r in results if r.run_id.partition("@")[0] == RESTORED_RUN)
        for fp, by_seed in table_rows(results, task, protocol.config_hash).items():
            for seed, row in by_seed.items():
                rows.setdefault(fp, {}).setdefault(seed, row)
    platform = export_platform()
    # A restored row is never evaluated again (the builder finds it stored), so it keeps the
    # machine kind of the table it came from.
    platform["rows_from_earlier_tables"] = sum((fp, seed) in restored for fp, by_seed in rows.items() for seed in by_seed)
    rules_sha256 = hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()
    previous = _manifest(Path(folder))
    extra = {
        "optsearch": version("optsearch"),
        "exported": time.strftime("%Y-%m-%d", time.gmtime()),
        "platform": platform,
        "rules_sha256": rules_sha256,
    }
    manifest = export_table(rows, folder, protocol, extra)
    table = Table(rows, protocol, manifest["table_sha256"], manifest)
    from .bench import ALIASES_FILE

    # The aliases depend on the table's rules alone: the same rules as the last export, the same file.
    if previous.get("rules_sha256") != rules_sha256 or not (Path(folder) / ALIASES_FILE).exists():
        write_aliases(Path(folder), table, EvalConfig().rule_config)
    if with_features:
        from .model import write_features
        from .truth import write_truth

        write_features(Path(folder), table, EvalConfig().rule_config)
        truth = write_truth(Path(folder), EvalConfig().rule_config)
        if truth is not None:
            manifest = record_in_manifest(Path(folder), truth_sha256=hashlib.sha256(truth.read_bytes()).hexdigest())
        # The shipped facts' predictions are the surrogate's, which the new table changes.
        from .facts import FACTS_FILE, ship_facts

        if (Path(folder) / FACTS_FILE).exists():
            ship_facts(Path(folder))
    return manifest


def _manifest(folder: Path) -> dict:
    import json

    from .table import MANIFEST_FILE

    try:
        return json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return {}


def record_in_manifest(folder: Path, **facts) -> dict:
    """Add ``facts`` to the manifest in ``folder`` (written as :func:`.table.export_table` writes it)."""
    import json

    from .table import MANIFEST_FILE

    path = folder / MANIFEST_FILE
    manifest = {**json.loads(path.read_text()), **facts}
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def write_aliases(folder: Path, table: Table, rule_config, chunk: int = 2000) -> Path:
    """Write ``aliases.json``: portable fingerprint -> table fingerprint of every table rule whose
    fingerprint with the portable kernels differs from the one the table records (computed on the
    builder's machine), so that the bench finds it on any CPU (:meth:`.bench.Bench.resolve`)."""
    import json

    from optsearch.dsl import resolve_rule

    from .bench import ALIASES_FILE, portable_fingerprints
    from .portable import run_portable

    fps = sorted(table.rows)
    aliases: dict[str, str] = {}
    for start in range(0, len(fps), chunk):
        part = fps[start : start + chunk]
        exprs = [resolve_rule(next(iter(table.rows[fp].values())).rule) for fp in part]
        for fp, portable in zip(part, run_portable(portable_fingerprints, exprs, rule_config)):
            if portable != fp:
                aliases[portable] = fp
    path = folder / ALIASES_FILE
    path.write_text(json.dumps(dict(sorted(aliases.items())), indent=1) + "\n")
    return path


def restore_store(table: Table, store: Store) -> int:
    """Record every table row missing from ``store`` (as run ``bench-table``); returns how many."""
    protocol = table.protocol
    added = 0
    for fp, by_seed in table.rows.items():
        for seed, row in by_seed.items():
            if store.lookup(fp, protocol.live_task, protocol.config_hash, seed) is not None:
                continue
            store.record(
                EvalResult(
                    rule=row.rule,
                    canonical=row.canonical,
                    fingerprint=fp,
                    task=protocol.live_task,
                    config_hash=protocol.config_hash,
                    reward=row.reward,
                    status=row.status,
                    lr=row.lr,
                    val_acc=row.val_acc,
                    test_acc=row.test_acc,
                    per_lr=row.per_lr,
                    cost=row.cost,
                    wall_s=row.wall_s,
                    searcher=row.source,
                    seed=seed,
                    # the row's machine kind travels in the run id (``table_rows`` reads it back)
                    run_id=f"{RESTORED_RUN}@{row.platform}" if row.platform else RESTORED_RUN,
                )
            )
            added += 1
    return added


SNAPSHOT_SOURCE = "snapshot_of"


def read_table_of(folder: Union[str, Path], task: str, config_hash: str) -> Table:
    """The table in ``folder`` (a snapshot, say), when it is one of ``task``'s protocol with ``config_hash``;
    else ``ValueError`` (:class:`.table.TableError` for a folder that is no table) naming the folder."""
    table = read_table(folder)
    if (table.protocol.live_task, table.protocol.config_hash) != (task, config_hash):
        raise ValueError(
            f"{folder}: a table of {table.protocol.live_task} with config hash {table.protocol.config_hash}, "
            f"not of {task} with {config_hash}"
        )
    return table


def write_snapshot(store: Union[str, Path, Store], folder: Union[str, Path], base: Optional[Table], task: str = "mnist1d") -> dict:
    """Write the final results of ``task``'s protocol in ``store`` that the table ``base`` lacks (all of
    them when ``base`` is None) into ``folder`` as a table (``table.csv.gz`` and a manifest naming
    ``base``'s content hash).

    A build of the shipped table's top takes many hours; its store lives on one machine. The
    snapshot is its progress as data (a few hundred kB where the table is megabytes), the same
    rows bit for bit with their machine kind, so that it can be committed as the build grows and
    restored by :func:`restore_store` (``bench build --from-table --ingest FOLDER``) elsewhere."""
    _, protocol = live_protocol(task)
    opened = open_store(str(store) if isinstance(store, Path) else store)
    rows: dict = {}
    for fp, by_seed in table_rows(list(opened.results(task=task)), task, protocol.config_hash).items():
        known = base.rows.get(fp, {}) if base is not None else {}
        fresh = {seed: row for seed, row in by_seed.items() if seed not in known}
        if fresh:
            rows[fp] = fresh
    extra = {
        SNAPSHOT_SOURCE: base.content_hash if base is not None else None,
        "exported": time.strftime("%Y-%m-%d", time.gmtime()),
        "platform": export_platform(),
    }
    return export_table(rows, folder, protocol, extra)
