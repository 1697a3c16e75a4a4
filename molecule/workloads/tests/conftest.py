"""Fixtures of the workloads tests: the experiments playbook alone with the converge's values
(for runs that must stop inside the experiments role; the converge itself is all of site.yml)."""

import json

import pytest
from workloads_common import EXPERIMENTS, WANTED, resume_env


@pytest.fixture(name="experiments")
def fixture_experiments(ansible, tmp_path):
    """Run playbooks/experiments.yml alone with the converge's values, then `extra` (-e)."""

    def run(extra: str = ""):
        wanted = tmp_path / "converge-vars.json"
        wanted.write_text(json.dumps(WANTED))
        args = ["-e", f"@{wanted}"] + (["-e", extra] if extra else [])
        return ansible("ansible-playbook", str(EXPERIMENTS), *args, env=resume_env())

    return run
