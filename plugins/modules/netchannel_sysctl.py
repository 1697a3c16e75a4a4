#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Set net.netchannel.* sysctls of the loaded module, writing only those that differ."""

from __future__ import annotations

DOCUMENTATION = r"""
module: netchannel_sysctl
short_description: Set the loaded NetChannel module's net.netchannel.* sysctls live
version_added: 0.1.0
author: NetChannel deployed team
description:
  - Writes each of I(values) to C(/proc/sys/net/<name>/<key>) when the value there differs.
    The module must be loaded (its sysctls exist only then); persisting them across reloads and
    boots is the caller's job (the netchannel_module role writes C(/etc/sysctl.d/90-netchannel.conf)).
  - Fails naming the key and value the kernel refused.
options:
  values:
    description: Sysctl name (without C(net.<name>.)) to integer value.
    type: dict
    required: true
  name:
    description: Kernel module name (the sysctl directory).
    type: str
    default: netchannel
attributes:
  check_mode:
    support: full
"""

EXAMPLES = r"""
- name: Use 3 MB windows
  netchannel.deploy.netchannel_sysctl:
    values:
      default_window: 3000000
"""

RETURN = r"""
changed_values:
  description: Every key written (or that would be), with its old and new value.
  returned: always
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "values": {"type": "dict", "required": True},
            "name": {"type": "str", "default": "netchannel"},
        },
        supports_check_mode=True,
    )
    base = f"/proc/sys/net/{module.params['name']}"
    if not os.path.isdir(base):
        module.fail_json(msg=f"{base} does not exist: the {module.params['name']} module is not loaded")
    changed: dict = {}
    for key, value in sorted(module.params["values"].items()):
        path = f"{base}/{key}"
        if "/" in key or not os.path.isfile(path):
            module.fail_json(
                msg=f"net.{module.params['name']}.{key} does not exist (known: {sorted(os.listdir(base))})"
            )
        try:
            want = int(str(value), 10)
        except ValueError:
            module.fail_json(msg=f"net.{module.params['name']}.{key}={value!r} is not an integer")
        with open(path, encoding="utf-8") as fh:
            have = int(fh.read().strip())
        if have == want:
            continue
        changed[key] = {"old": have, "new": want}
        if module.check_mode:
            continue
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(f"{want}\n")
        except OSError as exc:
            module.fail_json(
                msg=f"the kernel refused net.{module.params['name']}.{key}={want}: {exc.strerror}",
                changed_values=changed,
            )
    module.exit_json(changed=bool(changed), changed_values=changed)


if __name__ == "__main__":
    main()
