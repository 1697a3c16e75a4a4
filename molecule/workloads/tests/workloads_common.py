"""What the workloads tests share: the converge's values, its results tree and the plan it ran."""

import importlib.util
import os
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
CONVERGE = REPO / "molecule" / "workloads" / "converge.yml"
EXPERIMENTS = REPO / "playbooks" / "experiments.yml"
WANTED = next(
    play["vars"]
    for play in yaml.safe_load(CONVERGE.read_text())
    if str(play.get("ansible.builtin.import_playbook", "")).endswith("/site.yml")
)
RESULTS = Path(os.environ.get("NETCHANNEL_EXPERIMENTS_TEST_RESULTS") or "/tmp/netchannel-experiments-molecule")
RUN = RESULTS / WANTED["netchannel_experiments_run_id"]
FIGURES = WANTED["netchannel_experiments_figures"]

_spec = importlib.util.spec_from_file_location(
    "netchannel_results", REPO / "plugins" / "module_utils" / "netchannel_results.py"
)
results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(results)

# What the run had to measure: the library's plan of the smoke profile for these figures.
PLANNED = results.expand("smoke", FIGURES)


def resume_env() -> dict:
    """Keep the converge's results (its first play would otherwise remove them)."""
    return {
        "ANSIBLE_COLLECTIONS_PATH": os.environ.get("ANSIBLE_COLLECTIONS_PATH") or str(REPO / "collections"),
        "NETCHANNEL_EXPERIMENTS_TEST_RESULTS": str(RESULTS),
        "NETCHANNEL_EXPERIMENTS_TEST_RESUME": "1",
    }
