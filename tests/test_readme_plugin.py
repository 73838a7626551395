"""The README's "Benchmark your own searcher", run as written: the example plugin installed with pip
from a temporary copy, listed, searched with, compared from its experiment file, re-run from the
manifest, and checked with the conformance kit; uninstalled at the end.

Its commands run in order in a temporary folder holding a copy of ``examples/plugin``. They are
run as written, with three adaptations: ``python``/``optsearch`` are this interpreter; pip
installs offline (``--no-build-isolation --no-deps``: optsearch is installed already); ``search``
and ``compare`` get flags for the millisecond ``quadratic`` task and tiny budgets (flags override
the experiment file, which is what the README says they do).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from optsearch.evaluation.store import ResultStore

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "examples" / "plugin"
TINY = {
    "search": ["--backend", "serial", "--steps", "20", "--quiet"],
    "compare": ["--task", "quadratic", "--steps", "20", "--budget", "6", "--seeds", "2", "--heldout-seeds", "2"]
    + ["--batch-size", "2", "--backend", "serial", "--quiet"],
}
LABELS = ("reinforce-default", "reinforce-noentropy", "mine", "random")


def section_blocks() -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block of the README's section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Benchmark your own searcher\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)


def test_the_sections_code_is_the_example_packages_code():
    files = {path.name: path.read_text() for path in PLUGIN.iterdir() if path.is_file()}
    blocks = section_blocks()
    assert {language for language, _ in blocks} == {"python", "toml", "bash"}
    for language, code in blocks:
        if language != "bash":
            assert any(code.strip() in text for text in files.values()), code


def _argv(command: str) -> list[str]:
    words = shlex.split(command, comments=True)
    if words[:4] == ["python", "-m", "pip", "install"]:
        return [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "-q", *words[4:]]
    if words[:3] == ["python", "-m", "pytest"]:
        return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *words[3:]]
    assert words[0] == "optsearch", command
    return [sys.executable, "-m", "optsearch", *words[1:], *TINY.get(words[1], [])]


def _trained(store: Path) -> int:
    with ResultStore(store) as results:
        return sum(not r.cached for r in results.results())


@pytest.mark.slow
def test_the_sections_commands_run_in_order(tmp_path):
    shutil.copytree(PLUGIN, tmp_path / "examples" / "plugin", ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    commands = [line for language, code in section_blocks() if language == "bash" for line in code.splitlines() if line.strip()]
    assert [shlex.split(c)[:2] for c in commands] == [
        ["python", "-m"], ["optsearch", "list"], ["optsearch", "search"], ["optsearch", "compare"], ["optsearch", "compare"],
        ["python", "-m"],
    ]  # fmt: skip
    outputs = []
    trained_before_rerun = None
    try:
        for command in commands:
            if "my-benchmark/manifest.toml" in command:
                trained_before_rerun = _trained(tmp_path / "my-benchmark" / "results.sqlite")
            done = subprocess.run(_argv(command), cwd=tmp_path, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
            outputs.append(done.stdout)
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "mine-plugin"], capture_output=True, timeout=300)
    install, listing, search, compare, rerun, kit = outputs
    mine = next(line for line in listing.splitlines() if line.strip().startswith("mine "))
    assert "[entry point of mine-plugin: mine_plugin:MySearcher]" in mine
    assert "mine seed 0: 16 proposals" in search
    for label in LABELS:
        assert f"| {label} |" in compare
    assert _trained(tmp_path / "my-benchmark" / "results.sqlite") == trained_before_rerun  # resumed: nothing new
    assert "reinforce-noentropy" in rerun
    assert re.search(r"\d+ passed", kit) and "failed" not in kit
