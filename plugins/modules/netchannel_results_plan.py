#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Expand the experiments' plan for a run and report what is left of it (controller side)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: netchannel_results_plan
short_description: Expand the NetChannel experiments' plan of a run and report the points left
version_added: 0.1.0
author: NetChannel deployed team
description:
  - Expands a profile (C(smoke) or C(full)) into the ordered list of repetitions to run, each with its
    figure, variant (NetChannel, TCP, ...), point of the sweep, repetition number, the ncbench or
    load-generator settings and the host setup (module and NIC profile) the point needs.
  - Creates C(<results_dir>/<run_id>/run.json) on first use (the only change it makes). A run that
    exists must be resumed with the same profile, figures, seed and repetitions.
  - Repetitions whose point already has enough complete C(rep-N) directories (with the marker) are
    left out, so running the plan again resumes the run. Incomplete C(rep-N) directories are
    counted and left as they are.
  - Runs on the controller (delegated to localhost); the layout is described in
    docs/experiments.md.
options:
  results_dir:
    description: Directory holding one directory per run.
    type: path
    required: true
  run_id:
    description: Name of the run (letters, digits, C(.), C(_), C(-)); the same name resumes it.
    type: str
    required: true
  profile:
    description: C(smoke) (short points, small sweeps) or C(full) (the paper's 60 s points).
    type: str
    default: smoke
    choices: [smoke, full]
  figures:
    description: Figures to run (C(6ab), C(6c), C(6d), C(7), C(8a) to C(8d)); the profile's list by default.
    type: list
    elements: str
  reps:
    description: Repetitions per point; the profile's number by default.
    type: int
  seed:
    description: Shuffle the order of the repetitions with this seed; unset keeps the figures' order.
    type: int
attributes:
  check_mode:
    support: full
"""

EXAMPLES = r"""
- name: Plan the smoke run (resumes it when it exists)
  netchannel.deploy.netchannel_results_plan:
    results_dir: "{{ netchannel_experiments_results_dir }}"
    run_id: smoke-1
    profile: smoke
  delegate_to: localhost
  run_once: true
  register: __plan

- name: The full evaluation of two figures, in a shuffled order
  netchannel.deploy.netchannel_results_plan:
    results_dir: /srv/netchannel-results
    run_id: full-2026-12-01
    profile: full
    figures: [6ab, 6d]
    seed: 42
  delegate_to: localhost
"""

RETURN = r"""
run_dir:
  description: The run's directory.
  returned: always
  type: str
total:
  description: Repetitions in the whole plan.
  returned: always
  type: int
complete:
  description: Repetitions already complete.
  returned: always
  type: int
incomplete_dirs:
  description: C(rep-N) directories without the marker (left as they are; their reps run again).
  returned: always
  type: int
remaining:
  description: The repetitions still to run, in order, each with figure, variant, point, x, rep, tool, bench,
    background, setup and skip (why the experiments role cannot run it, for example a module setting the module
    does not have yet; empty when it runs).
  returned: always
  type: list
  elements: dict
skipped:
  description: Of the remaining repetitions, those with a non-empty skip.
  returned: always
  type: int
estimated_s:
  description: Estimated seconds for the remaining repetitions that will run (skipped ones are not counted; from
    the durations recorded so far, else the profile).
  returned: always
  type: float
msg:
  description: One line with the run, the repetitions done and left, and the estimated time left.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

try:
    from ansible_collections.netchannel.deploy.plugins.module_utils import netchannel_results as results
except ImportError:  # pragma: no cover - only when run outside the collection
    results = None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "results_dir": {"type": "path", "required": True},
            "run_id": {"type": "str", "required": True},
            "profile": {"type": "str", "default": "smoke", "choices": ["smoke", "full"]},
            "figures": {"type": "list", "elements": "str"},
            "reps": {"type": "int"},
            "seed": {"type": "int"},
        },
        supports_check_mode=True,
    )
    if results is None:
        module.fail_json(msg="netchannel_results module_utils not found: run this module from the collection")
    p = module.params
    try:
        plan = results.plan(
            p["results_dir"],
            p["run_id"],
            p["profile"],
            figures=p["figures"],
            seed=p["seed"],
            reps=p["reps"],
            check=module.check_mode,
        )
    except (results.ResultsError, OSError) as exc:
        module.fail_json(msg=f"netchannel_results_plan: {exc}")
    left = len(plan["remaining"])
    skipped = f" ({plan['skipped']} of them skipped: not run by this collection yet)" if plan["skipped"] else ""
    msg = (
        f"run {p['run_id']}: {plan['complete']} of {plan['total']} done, {left} left{skipped}, "
        f"about {results._fmt_s(plan['estimated_s'])}"
    )
    module.exit_json(changed=plan.pop("created"), msg=msg, **plan)


if __name__ == "__main__":
    main()
