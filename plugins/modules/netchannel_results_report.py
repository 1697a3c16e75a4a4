#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Build the CSVs, plots and report of an experiments run from its stored results (controller side)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: netchannel_results_report
short_description: Tabulate, plot and report a NetChannel experiments run from its stored results
version_added: 0.1.0
author: NetChannel deployed team
description:
  - Reads every complete repetition of a run (the C(rep-N) directories with the marker) and writes,
    under C(<results_dir>/<run_id>/report/), one CSV per figure (one row per repetition), one PNG per
    figure (NetChannel and TCP side by side, error bars from the repetitions) and C(report.md),
    which puts each measured NetChannel/TCP ratio next to the paper's claim and says whether it
    holds in this run.
  - Measures nothing, so it is also the replot-only mode. The report directory is derived data
    and a file is rewritten only when its content changes; the results themselves are never touched.
  - Needs matplotlib on the controller. Runs delegated to localhost.
options:
  results_dir:
    description: Directory holding one directory per run.
    type: path
    required: true
  run_id:
    description: The run to report on.
    type: str
    required: true
  environment:
    description:
      - C(lab) (software emulation; the report says that only trends count) or C(hardware).
    type: str
    default: lab
    choices: [lab, hardware]
attributes:
  check_mode:
    support: full
"""

EXAMPLES = r"""
- name: Report on the smoke run
  netchannel.deploy.netchannel_results_report:
    results_dir: "{{ netchannel_experiments_results_dir }}"
    run_id: smoke-1
  delegate_to: localhost
  run_once: true
  register: __report

- name: Replot a run measured on real servers
  netchannel.deploy.netchannel_results_report:
    results_dir: /srv/netchannel-results
    run_id: full-2026-12-01
    environment: hardware
  delegate_to: localhost
"""

RETURN = r"""
report:
  description: Path of report.md.
  returned: always
  type: str
files:
  description: Every file written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
figures:
  description: The figures with results.
  returned: always
  type: list
  elements: str
records:
  description: Complete repetitions reported on.
  returned: always
  type: int
changed_files:
  description: The files whose content changed (or would, in check mode); empty when the report is up to date.
  returned: always
  type: list
  elements: str
verdicts:
  description: Per claim, the measured ratio and whether it holds (null when not measured).
  returned: always
  type: list
  elements: dict
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
            "environment": {"type": "str", "default": "lab", "choices": ["lab", "hardware"]},
        },
        supports_check_mode=True,
    )
    if results is None:
        module.fail_json(msg="netchannel_results module_utils not found: run this module from the collection")
    p = module.params
    try:
        rdir = results.run_dir(p["results_dir"], p["run_id"])
        out = results.report(rdir, p["environment"], check=module.check_mode)
    except (results.ResultsError, OSError) as exc:
        module.fail_json(msg=f"netchannel_results_report: {exc}")
    changed_files = out.pop("changed")
    module.exit_json(changed=bool(changed_files), changed_files=changed_files, **out)


if __name__ == "__main__":
    main()
