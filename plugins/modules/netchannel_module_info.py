#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Read what the netchannel_module role needs from a host, and wait for the channel mesh."""

from __future__ import annotations

DOCUMENTATION = r"""
module: netchannel_module_info
short_description: Read the NetChannel module's state on a host, optionally wait for its channel mesh
version_added: 0.1.0
author: NetChannel deployed team
description:
  - Reads the running kernel release and whether its headers are installed, the number of CPUs,
    the IPv4 addresses of the data interface, whether the C(netchannel) module is loaded and with
    which host table (C(/sys/module/netchannel/parameters/hosts)), its source version and
    reference count (one per open NetChannel socket), the DKMS versions installed, and
    C(/proc/net/netchannel) parsed.
  - With I(wait_peers), polls C(/proc/net/netchannel) until every outbound channel to each of those
    addresses is C(up) and as many inbound channels from it are live; on timeout it fails with a
    per-peer table of channel states and last errors.
  - Sets the fact C(netchannel_module_facts). Changes nothing on the host.
options:
  interface:
    description: Data interface whose IPv4 addresses are read. Empty to skip.
    type: str
    default: ""
  name:
    description: Name of the kernel module.
    type: str
    default: netchannel
  wait_peers:
    description: Peer addresses (this host's own included) whose channels must be up.
    type: list
    elements: str
    default: []
  inbound:
    description:
      - Peer address to the number of channels it opens to this host (its own bulk + latency count);
        with it a peer is up only when that many of its channels have arrived here too.
    type: dict
    default: {}
  timeout:
    description: Seconds to wait for I(wait_peers).
    type: int
    default: 120
  kernel_id:
    description:
      - Compute C(kernel_id) (runs C(gcc -v) and reads about 2 MB of headers). Off, C(kernel_id) is empty; the
        module role asks for it only where it picks a kept build, not when it waits for channels.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
"""

EXAMPLES = r"""
- name: Read the host
  netchannel.deploy.netchannel_module_info:
    interface: ens2f0

- name: Wait for the channels to two peers and to this host itself
  netchannel.deploy.netchannel_module_info:
    wait_peers: [198.18.0.1, 198.18.0.2]
    timeout: 60
"""

RETURN = r"""
kernel:
  description: Running kernel release.
  returned: always
  type: str
headers:
  description: Whether C(/lib/modules/<kernel>/build) holds a kernel build tree.
  returned: always
  type: bool
cpu_count:
  description: Number of CPUs the kernel knows (possible CPUs).
  returned: always
  type: int
interface_exists:
  description: Whether I(interface) exists.
  returned: always
  type: bool
addresses:
  description: IPv4 addresses of I(interface), as C(address) and C(prefixlen).
  returned: always
  type: list
  elements: dict
loaded:
  description: Whether the module is loaded.
  returned: always
  type: bool
hosts_param:
  description: The host table the loaded module was given (C(hosts=)), empty if none or not loaded.
  returned: always
  type: str
srcversion:
  description: Source version of the loaded module.
  returned: always
  type: str
refcnt:
  description: Reference count of the loaded module, 0 if not loaded.
  returned: always
  type: int
open_sockets:
  description: Open NetChannel sockets, from the reference count (2 per socket, 1 per child not yet accepted).
  returned: always
  type: int
tools:
  description: Whether C(dkms), C(gcc) and C(make) are installed.
  returned: always
  type: dict
kernel_id:
  description:
    - Digest of the running kernel's C(.config), C(Module.symvers), release and the compiler (what a module
      build depends on besides its sources; see M(netchannel.deploy.netchannel_dkms)). Empty without headers,
      or unless I(kernel_id) is true.
  returned: always
  type: str
dkms_versions:
  description: Versions of the module registered with DKMS.
  returned: always
  type: list
  elements: str
proc:
  description: C(/proc/net/netchannel) parsed (config, peers with tx channels, rx channels, sockets, counters).
  returned: when the module is loaded
  type: dict
sysctls:
  description: Readable C(net.<name>.*) sysctls of the loaded module and their values.
  returned: always
  type: dict
mesh:
  description: Channel states toward I(wait_peers) (C(all_up), per-peer C(up), C(tx), C(rx)).
  returned: when I(wait_peers) is set
  type: dict
waited:
  description: Seconds spent waiting for the mesh.
  returned: always
  type: float
ansible_facts:
  description: C(netchannel_module_facts) with version, table, config, channels and counters.
  returned: always
  type: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.netchannel.deploy.plugins.module_utils.netchannel_module import (
    compiler_id,
    kernel_build_id,
    mesh_state,
    mesh_table,
    open_sockets,
    parse_proc,
)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _cpu_count() -> int:
    text = _read("/sys/devices/system/cpu/possible") or ""
    total = 0
    for part in text.strip().split(","):
        if "-" in part:
            lo, hi = part.split("-")
            total += int(hi) - int(lo) + 1
        elif part:
            total += 1
    return total or (os.cpu_count() or 1)


def _addresses(module: AnsibleModule, iface: str) -> tuple[bool, list[dict]]:
    if not iface:
        return False, []
    if not os.path.exists(f"/sys/class/net/{iface}") or "/" in iface:
        return False, []
    rc, out, _err = module.run_command(["ip", "-o", "-4", "addr", "show", "dev", iface])
    if rc != 0:
        return False, []
    found = []
    for line in out.splitlines():
        words = line.split()
        if "inet" in words:
            addr, _, plen = words[words.index("inet") + 1].partition("/")
            found.append({"address": addr, "prefixlen": int(plen or 32)})
    return True, found


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "interface": {"type": "str", "default": ""},
            "name": {"type": "str", "default": "netchannel"},
            "wait_peers": {"type": "list", "elements": "str", "default": []},
            "inbound": {"type": "dict", "default": {}},
            "timeout": {"type": "int", "default": 120},
            "kernel_id": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p = module.params
    name = p["name"]
    kernel = os.uname().release
    sysmod = f"/sys/module/{name}"
    exists, addrs = _addresses(module, p["interface"])
    dkms_dir = f"/var/lib/dkms/{name}"
    versions = sorted(
        v
        for v in (os.listdir(dkms_dir) if os.path.isdir(dkms_dir) else [])
        if os.path.isdir(f"{dkms_dir}/{v}") and not os.path.islink(f"{dkms_dir}/{v}")
    )
    result = {
        "changed": False,
        "kernel": kernel,
        "headers": os.path.isfile(f"/lib/modules/{kernel}/build/Makefile"),
        "kernel_id": "",
        "cpu_count": _cpu_count(),
        "interface_exists": exists,
        "addresses": addrs,
        "dkms_versions": versions,
        "tools": {tool: module.get_bin_path(tool) is not None for tool in ("dkms", "gcc", "make")},
        "waited": 0.0,
    }

    if result["headers"] and p["kernel_id"]:
        result["kernel_id"] = kernel_build_id(kernel, compiler_id(module))

    def snapshot() -> None:
        loaded = os.path.isdir(sysmod)
        result["loaded"] = loaded
        result["hosts_param"] = ((_read(f"{sysmod}/parameters/hosts") or "").strip()) if loaded else ""
        if result["hosts_param"] == "(null)":
            result["hosts_param"] = ""
        result["srcversion"] = ((_read(f"{sysmod}/srcversion") or "").strip()) if loaded else ""
        result["refcnt"] = int((_read(f"{sysmod}/refcnt") or "0").strip() or 0) if loaded else 0
        result["open_sockets"] = open_sockets(result["refcnt"])
        result["sysctls"] = {}
        sysdir = f"/proc/sys/net/{name}"
        if loaded and os.path.isdir(sysdir):
            for entry in sorted(os.listdir(sysdir)):
                value = _read(f"{sysdir}/{entry}")
                if value is not None and value.strip().lstrip("-").isdigit():
                    result["sysctls"][entry] = int(value.strip())
        text = _read(f"/proc/net/{name}") if loaded else None
        result.pop("proc", None)
        if text is not None:
            try:
                result["proc"] = parse_proc(text)
            except ValueError as exc:
                module.fail_json(msg=f"cannot parse /proc/net/{name}: {exc}", text=text, **result)

    start = time.monotonic()
    snapshot()
    if p["wait_peers"]:
        while True:
            if "proc" in result:
                result["mesh"] = mesh_state(result["proc"], p["wait_peers"], p["inbound"])
                if result["mesh"]["all_up"]:
                    break
            if time.monotonic() - start >= p["timeout"]:
                break
            time.sleep(1)
            snapshot()
        result["waited"] = round(time.monotonic() - start, 1)

    facts = {
        "version": versions[-1] if versions else "",
        "dkms_versions": versions,
        "kernel": kernel,
        "loaded": result["loaded"],
        "srcversion": result["srcversion"],
        "table": result["hosts_param"],
        "open_sockets": result["open_sockets"],
        "config": result.get("proc", {}).get("config"),
        "peers": result.get("proc", {}).get("peers", {}),
        "rx": result.get("proc", {}).get("rx", []),
        "counters": result.get("proc", {}).get("counters", {}),
        "sysctls": result["sysctls"],
        "all_up": result.get("mesh", {}).get("all_up"),
    }
    result["ansible_facts"] = {"netchannel_module_facts": facts}
    if p["wait_peers"]:
        if "proc" not in result:
            module.fail_json(
                msg=f"the {name} module is not loaded: no /proc/net/{name} after {p['timeout']}s", **result
            )
        if not result["mesh"]["all_up"]:
            table = mesh_table(os.uname().nodename, result["mesh"])
            module.fail_json(msg=f"channels not up after {p['timeout']}s\n{table}", table=table, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
