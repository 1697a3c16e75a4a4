#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Store one repetition of an experiment: raw outputs, configuration, parsed record, marker (controller side)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: netchannel_results_record
short_description: Store one repetition of a NetChannel experiment in the results tree
version_added: 0.1.0
author: NetChannel deployed team
description:
  - Writes C(<results_dir>/<run_id>/<figure>/<variant>/<point>/rep-N/) for the next free N (an
    existing C(rep-N) is never written into, overwritten or deleted) with every host's raw outputs
    under C(raw/<host>/<name>), the configuration used in C(config.json), the parsed record in
    C(record.json) and, last, the marker C(COMPLETE). Every file is written to a temporary name
    and renamed.
  - Every output of kind C(ncbench) or C(nckv) is parsed; the I(primary) one gives the
    record's metrics. If one does not parse, the module fails naming the file and the field; the
    raw outputs and C(error.txt) stay in the C(rep-N) directory, which has no marker, so the
    repetition counts as not done and runs again into a fresh C(rep-N).
  - The run must have been planned (M(netchannel.deploy.netchannel_results_plan)).
  - In check mode the outputs are read and parsed, nothing is written.
  - Runs on the controller (delegated to localhost), on files fetched from the hosts.
options:
  results_dir:
    description: Directory holding one directory per run.
    type: path
    required: true
  run_id:
    description: The run (as planned).
    type: str
    required: true
  figure:
    description: Figure of the repetition (from the plan).
    type: str
    required: true
  variant:
    description: Variant of the repetition (from the plan), e.g. C(netchannel), C(tcp), C(tcp-prio).
    type: str
    required: true
  point:
    description: Point of the sweep (from the plan), e.g. C(channels-2).
    type: str
    required: true
  outputs:
    description:
      - Every host's raw outputs of the repetition.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description: Host the output comes from (a directory name under C(raw/)).
        type: str
        required: true
      name:
        description: File name under C(raw/<host>/).
        type: str
        required: true
      kind:
        description: How to parse it; C(text) is stored only.
        type: str
        default: text
        choices: [ncbench, nckv, text]
      src:
        description: Path of the file on the controller (e.g. where M(ansible.builtin.fetch) put it).
        type: path
      content:
        description: The output itself, instead of I(src).
        type: str
  primary:
    description: C(HOST/NAME) of the output that gives the metrics (the client's ncbench key=value text).
    type: str
    required: true
  config:
    description: The exact configuration used (kernel, sysctls, NIC settings, module table, tool versions).
    type: dict
    required: true
  params:
    description: The plan item's settings, kept in the record.
    type: dict
    default: {}
  duration_s:
    description: Wall time the repetition took, for the remaining-time estimate.
    type: float
attributes:
  check_mode:
    support: full
"""

EXAMPLES = r"""
- name: Store the repetition
  netchannel.deploy.netchannel_results_record:
    results_dir: "{{ netchannel_experiments_results_dir }}"
    run_id: smoke-1
    figure: "{{ item.figure }}"
    variant: "{{ item.variant }}"
    point: "{{ item.point }}"
    outputs:
      - {host: client, name: ncbench.txt, kind: ncbench, src: "{{ __fetched }}/client/ncbench.txt"}
      - {host: server, name: ncbench.txt, kind: ncbench, src: "{{ __fetched }}/server/ncbench.txt"}
      - {host: client, name: sysctl.txt, content: "{{ __sysctl.stdout }}"}
    primary: client/ncbench.txt
    config:
      kernel: "{{ ansible_facts.kernel }}"
      module: "{{ netchannel_module_facts }}"
      tools: {ncbench: 1.0.0}
    params: "{{ item }}"
    duration_s: 14.2
  delegate_to: localhost
"""

RETURN = r"""
rep_dir:
  description: The repetition's directory.
  returned: always
  type: str
rep:
  description: N of C(rep-N).
  returned: always
  type: int
progress:
  description:
    - One line, e.g. C(figure 6d tcp scenario-isolated rep 1 - point 7 of 15, elapsed 1m02s, about 3m10s left)
      (figure, point i of n, time taken by the complete repetitions, estimate for the rest).
  returned: when not in check mode
  type: str
metrics:
  description: The record's metrics (throughput_gbps, cores, throughput_per_core_gbps, latency_*_us, ...).
  returned: always
  type: dict
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
            "figure": {"type": "str", "required": True},
            "variant": {"type": "str", "required": True},
            "point": {"type": "str", "required": True},
            "outputs": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "host": {"type": "str", "required": True},
                    "name": {"type": "str", "required": True},
                    "kind": {"type": "str", "default": "text", "choices": ["ncbench", "nckv", "text"]},
                    "src": {"type": "path"},
                    "content": {"type": "str"},
                },
                "mutually_exclusive": [["src", "content"]],
                "required_one_of": [["src", "content"]],
            },
            "primary": {"type": "str", "required": True},
            "config": {"type": "dict", "required": True},
            "params": {"type": "dict", "default": {}},
            "duration_s": {"type": "float"},
        },
        supports_check_mode=True,
    )
    if results is None:
        module.fail_json(msg="netchannel_results module_utils not found: run this module from the collection")
    p = module.params
    try:
        got = results.record_rep(
            p["results_dir"],
            p["run_id"],
            figure=p["figure"],
            variant=p["variant"],
            point=p["point"],
            outputs=p["outputs"],
            primary=p["primary"],
            config=p["config"],
            params=p["params"],
            duration_s=p["duration_s"],
            check=module.check_mode,
        )
    except (results.ResultsError, OSError) as exc:
        module.fail_json(msg=f"netchannel_results_record: {exc}")
    if not module.check_mode:
        item = {"figure": p["figure"], "variant": p["variant"], "point": p["point"], "rep": got["rep"]}
        try:
            got["progress"] = results.run_progress(p["results_dir"], p["run_id"], item)
        except results.ResultsError as exc:
            module.warn(f"progress not computed: {exc}")
    module.exit_json(**got)


if __name__ == "__main__":
    main()
