#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Check that every option a set of config fragments asks for survived in a kernel .config."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: netchannel_kconfig_check
author: NetChannel deployed team
version_added: 0.1.0
short_description: Assert that config fragment options survived olddefconfig
description:
  - Parses each fragment (C(CONFIG_X=value) and C(# CONFIG_X is not set) lines) and compares what
    they ask for with the final C(.config). Fails naming every option that did not survive and its fragment.
  - As C(scripts/kconfig/merge_config.sh) applies them, a later fragment's word on an option overrides
    an earlier one's, so a fragment for one kernel line can unset what a general fragment sets.
options:
  config:
    description: The final .config.
    type: path
    required: true
  fragments:
    description: Fragment files, in the order they were merged.
    type: list
    elements: path
    required: true
"""

EXAMPLES = r"""
---
- name: Check that every option of the fragments survived
  netchannel.deploy.netchannel_kconfig_check:
    config: /var/tmp/netchannel-kernel/work/abc/src/.config
    fragments: [/var/tmp/netchannel-kernel/work/inputs/config/00-netchannel.config]
"""

RETURN = r"""
---
checked:
  description: How many options the fragments set together (each compared with the final config).
  returned: success
  type: int
  sample: 42
lost:
  description: One line per option that did not survive (only on failure).
  returned: failure
  type: list
  elements: str
  sample: ["CONFIG_NET_NS=y (from 00-lab.config) did not survive olddefconfig: now absent or not set"]
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

SET_RE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
UNSET_RE = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


def parse(path: str) -> dict[str, str | None]:
    """Option -> value, None meaning 'is not set'."""
    opts: dict[str, str | None] = {}
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            m = SET_RE.match(line)
            if m:
                opts[m.group(1)] = m.group(2)
                continue
            m = UNSET_RE.match(line)
            if m:
                opts[m.group(1)] = None
    return opts


def merged(fragments: list[str]) -> tuple[dict[str, str | None], dict[str, str]]:
    """What the fragments ask for together, as merge_config.sh applies them: a later fragment's
    word on an option overrides an earlier one's (a fragment for a newer kernel can unset what a
    general one sets). Also which fragment (file name) has the last word on each option."""
    wanted: dict[str, str | None] = {}
    source: dict[str, str] = {}
    for frag in fragments:
        for opt, value in parse(frag).items():
            wanted[opt] = value
            source[opt] = os.path.basename(frag)
    return wanted, source


def lost(final: dict[str, str | None], wanted: dict[str, str | None]) -> list[tuple[str, str, str]]:
    out = []
    for opt, value in wanted.items():
        have = final.get(opt)
        if value is None:
            if have not in (None, "n"):
                out.append((opt, "is not set", f"{opt}={have}"))
        elif have != value:
            out.append((opt, f"={value}", f"{opt}={have}" if have is not None else "absent or not set"))
    return out


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "config": {"type": "path", "required": True},
            "fragments": {"type": "list", "elements": "path", "required": True},
        },
        supports_check_mode=True,
    )
    config = module.params["config"]
    if not os.path.isfile(config):
        module.fail_json(msg=f"kernel config {config} does not exist")
    final = parse(config)
    problems = []
    for frag in module.params["fragments"]:
        if not os.path.isfile(frag):
            module.fail_json(msg=f"config fragment {frag} does not exist")
    wanted, source = merged(module.params["fragments"])
    for opt, want, have in lost(final, wanted):
        problems.append(
            f"{opt}{want if want.startswith('=') else ' ' + want} (from {source[opt]}) "
            f"did not survive olddefconfig: now {have}"
        )
    checked = len(wanted)
    if problems:
        module.fail_json(msg="required kernel options were dropped: " + "; ".join(problems), lost=problems)
    module.exit_json(changed=False, checked=checked)


if __name__ == "__main__":
    main()
