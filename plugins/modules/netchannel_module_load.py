#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Load, reload or unload the NetChannel module, refusing to cut open sockets unless told to drain."""

from __future__ import annotations

DOCUMENTATION = r"""
module: netchannel_module_load
short_description: Load, reload or unload the NetChannel kernel module
version_added: 0.1.0
author: NetChannel deployed team
description:
  - With I(state=loaded), loads the module with C(modprobe) (its options come from C(/etc/modprobe.d)),
    and reloads it when the loaded module's host table (C(/sys/module/<name>/parameters/hosts)) differs
    from I(table) or I(reload) is set (a new build was installed).
  - Every open NetChannel socket holds a module reference. A reload or unload while sockets are open
    is refused with their count, unless I(allow_drain) is set; then it waits up to I(drain_timeout)
    seconds for them to close.
  - With I(state=absent), unloads the module (same rule for open sockets).
options:
  name:
    description: Kernel module name.
    type: str
    default: netchannel
  table:
    description: Host table the loaded module must have (required with I(state=loaded)).
    type: str
  state:
    description: Whether the module is loaded.
    type: str
    choices: [loaded, absent]
    default: loaded
  reload:
    description: Reload even when the table matches (the installed build changed).
    type: bool
    default: false
  allow_drain:
    description: Allow a reload or unload while sockets are open, after waiting for them to close.
    type: bool
    default: false
  drain_timeout:
    description: Seconds to wait for open sockets to close when I(allow_drain) is set.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
"""

EXAMPLES = r"""
- name: Load the module with this host's table
  netchannel.deploy.netchannel_module_load:
    table: local=198.18.0.1;peers=198.18.0.2;bulk=2;lat=1;port=9000;cpus=0-1

- name: Unload it, waiting up to 30 s for sockets to close
  netchannel.deploy.netchannel_module_load:
    state: absent
    allow_drain: true
    drain_timeout: 30
"""

RETURN = r"""
action:
  description: What was (or in check mode would be) done, C(none), C(load), C(reload) or C(unload).
  returned: always
  type: str
reason:
  description: Why.
  returned: always
  type: str
previous_table:
  description: Host table of the module loaded before, empty if it was not loaded.
  returned: always
  type: str
open_sockets:
  description: Open NetChannel sockets before the change (from the module's reference count, 2 per socket).
  returned: always
  type: int
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.netchannel.deploy.plugins.module_utils.netchannel_module import open_sockets


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "default": "netchannel"},
            "table": {"type": "str"},
            "state": {"type": "str", "choices": ["loaded", "absent"], "default": "loaded"},
            "reload": {"type": "bool", "default": False},
            "allow_drain": {"type": "bool", "default": False},
            "drain_timeout": {"type": "int", "default": 60},
        },
        required_if=[("state", "loaded", ["table"])],
        supports_check_mode=True,
    )
    p = module.params
    name = p["name"]
    sysmod = f"/sys/module/{name}"
    modprobe = module.get_bin_path("modprobe", required=True)

    def loaded() -> bool:
        return os.path.isdir(sysmod)

    def refcnt() -> int:
        text = _read(f"{sysmod}/refcnt")
        return open_sockets(int(text)) if text.isdigit() else 0

    was_loaded = loaded()
    previous = _read(f"{sysmod}/parameters/hosts") if was_loaded else ""
    previous = "" if previous == "(null)" else previous
    result = {"changed": False, "action": "none", "reason": "", "previous_table": previous, "open_sockets": 0}
    if was_loaded:
        result["open_sockets"] = refcnt()

    if p["state"] == "absent":
        if not was_loaded:
            result["reason"] = "not loaded"
            module.exit_json(**result)
        result.update(action="unload", reason="state is absent")
    elif not was_loaded:
        result.update(action="load", reason="not loaded")
    elif previous != p["table"]:
        result.update(action="reload", reason=f"loaded table '{previous}' differs from '{p['table']}'")
    elif p["reload"]:
        result.update(action="reload", reason="a new build was installed")
    else:
        result["reason"] = "loaded with this table"
        module.exit_json(**result)

    result["changed"] = True
    if result["action"] in ("reload", "unload") and result["open_sockets"] > 0:
        if not p["allow_drain"]:
            module.fail_json(
                msg=f"refusing to {result['action']} {name} ({result['reason']}): {result['open_sockets']} "
                "NetChannel socket(s) are open; close them, or set netchannel_module_allow_drain to wait "
                "for them to close",
                **result,
            )
        if not module.check_mode:
            deadline = time.monotonic() + p["drain_timeout"]
            while refcnt() > 0 and time.monotonic() < deadline:
                time.sleep(1)
            if refcnt() > 0:
                module.fail_json(
                    msg=f"{refcnt()} NetChannel socket(s) still open after draining for {p['drain_timeout']}s "
                    f"(netchannel_module_drain_timeout); {name} was not {result['action']}ed",
                    **result,
                )
    if module.check_mode:
        module.exit_json(**result)

    if result["action"] in ("reload", "unload"):
        rc, out, err = module.run_command([modprobe, "-r", name])
        if rc != 0:
            module.fail_json(msg=f"modprobe -r {name} failed: {(err or out).strip()}", **result)
    if result["action"] in ("load", "reload"):
        rc, out, err = module.run_command([modprobe, name])
        if rc != 0:
            _, dmesg, _ = module.run_command(["dmesg"])
            tail = "\n".join([line for line in dmesg.splitlines() if name in line][-5:])
            module.fail_json(msg=f"modprobe {name} failed: {(err or out).strip()}\nkernel log:\n{tail}", **result)
        now = _read(f"{sysmod}/parameters/hosts")
        if now != p["table"]:
            module.fail_json(
                msg=f"{name} loaded with table '{now}', expected '{p['table']}': check /etc/modprobe.d", **result
            )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
