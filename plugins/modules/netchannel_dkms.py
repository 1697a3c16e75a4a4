#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Keep exactly one version of an out-of-tree module built and installed by DKMS."""

from __future__ import annotations

DOCUMENTATION = r"""
module: netchannel_dkms
short_description: Keep exactly one version of a DKMS module installed for the running kernel
version_added: 0.1.0
author: NetChannel deployed team
description:
  - With I(state=present), removes every other version of I(name) from DKMS (and its source tree in
    C(/usr/src)), adds I(version) from C(/usr/src/<name>-<version>) and builds and installs it for
    I(kernel). Nothing is done when that version is already installed for that kernel.
  - Fails with a clear message when the kernel has no headers, and with the end of DKMS's
    C(make.log) when the build fails.
  - With I(state=absent), removes every version of I(name) from DKMS and their source trees.
options:
  name:
    description: DKMS package name.
    type: str
    default: netchannel
  version:
    description: DKMS package version to keep (required with I(state=present)).
    type: str
  kernel:
    description: Kernel release to build for; the running kernel when empty.
    type: str
    default: ""
  state:
    description: Whether the module is installed.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
"""

EXAMPLES = r"""
- name: Build and install netchannel 0.1.0-g1234abcd for the running kernel
  netchannel.deploy.netchannel_dkms:
    name: netchannel
    version: 0.1.0-g1234abcd

- name: Remove every version
  netchannel.deploy.netchannel_dkms:
    name: netchannel
    state: absent
"""

RETURN = r"""
kernel:
  description: Kernel release the module is built for.
  returned: always
  type: str
removed:
  description: Versions removed.
  returned: always
  type: list
  elements: str
built:
  description: Whether I(version) was (or in check mode would be) built and installed.
  returned: always
  type: bool
build_seconds:
  description: Wall-clock seconds of C(dkms install).
  returned: always
  type: float
"""

import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.netchannel.deploy.plugins.module_utils.netchannel_module import (
    dkms_plan,
    parse_dkms_status,
)


def installed_fast(name: str, version: str, kernel: str) -> bool:
    """Whether `version` alone is installed for `kernel`, read from DKMS's tree (`dkms status` takes
    seconds under emulation): the only version directory, its kernel link and the installed .ko."""
    base = f"/var/lib/dkms/{name}"
    if not os.path.isdir(base):
        return False
    versions = [v for v in os.listdir(base) if os.path.isdir(f"{base}/{v}") and not os.path.islink(f"{base}/{v}")]
    arch = os.uname().machine
    link = f"{base}/kernel-{kernel}-{arch}"
    built = f"{base}/{version}/{kernel}/{arch}"
    kos = [f"/lib/modules/{kernel}/updates/dkms/{name}.ko{ext}" for ext in ("", ".xz", ".zst", ".gz")]
    return (
        versions == [version]
        and os.path.islink(link)
        and os.path.realpath(link) == os.path.realpath(built)
        and any(os.path.isfile(ko) for ko in kos)
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "default": "netchannel"},
            "version": {"type": "str"},
            "kernel": {"type": "str", "default": ""},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        },
        required_if=[("state", "present", ["version"])],
        supports_check_mode=True,
    )
    p = module.params
    name, version = p["name"], p["version"]
    kernel = p["kernel"] or os.uname().release
    dkms = module.get_bin_path("dkms")
    result = {"changed": False, "kernel": kernel, "removed": [], "built": False, "build_seconds": 0.0}
    if dkms is None:
        if p["state"] == "absent":
            module.exit_json(**result)
        module.fail_json(msg="dkms is not installed (package dkms)", **result)

    def run(*args: str) -> str:
        rc, out, err = module.run_command([dkms, *args])
        if rc != 0:
            module.fail_json(msg=f"dkms {' '.join(args)} failed (exit {rc}): {(err or out).strip()[-2000:]}", **result)
        return out

    if p["state"] == "present" and installed_fast(name, version, kernel):
        module.exit_json(**result)
    entries = parse_dkms_status(run("status", "-m", name))
    if p["state"] == "absent":
        versions = sorted({e["version"] for e in entries if e["name"] == name})
        trees = [f"/usr/src/{name}-{v}" for v in versions]
        if os.path.isdir("/usr/src"):
            trees += [
                f"/usr/src/{d}"
                for d in os.listdir("/usr/src")
                if d.startswith(f"{name}-") and os.path.isfile(f"/usr/src/{d}/dkms.conf")
            ]
        trees = sorted({t for t in trees if os.path.isdir(t)})
        result["removed"] = versions
        result["changed"] = bool(versions or trees)
        if not module.check_mode:
            for v in versions:
                run("remove", "-m", name, "-v", v, "--all")
            for tree in trees:
                shutil.rmtree(tree)
        module.exit_json(**result)

    plan = dkms_plan(entries, name, version, kernel)
    src = f"/usr/src/{name}-{version}"
    if not os.path.isfile(f"{src}/dkms.conf") and not module.check_mode:
        module.fail_json(msg=f"{src}/dkms.conf does not exist: copy the sources there first", **result)
    if plan["install"] and not os.path.isfile(f"/lib/modules/{kernel}/build/Makefile"):
        module.fail_json(
            msg=f"no kernel headers for the running kernel {kernel} (/lib/modules/{kernel}/build is missing): "
            f"install linux-headers-{kernel}, or boot a kernel that has them",
            **result,
        )
    result["removed"] = plan["remove"]
    result["built"] = plan["install"]
    result["changed"] = bool(plan["remove"] or plan["install"])
    if module.check_mode or not result["changed"]:
        module.exit_json(**result)
    for v in plan["remove"]:
        run("remove", "-m", name, "-v", v, "--all")
        old = f"/usr/src/{name}-{v}"
        if os.path.isdir(old):
            shutil.rmtree(old)
    if plan["add"]:
        run("add", "-m", name, "-v", version)
    if plan["install"]:
        start = time.monotonic()
        rc, out, err = module.run_command([dkms, "install", "-m", name, "-v", version, "-k", kernel])
        result["build_seconds"] = round(time.monotonic() - start, 1)
        if rc != 0:
            log = f"/var/lib/dkms/{name}/{version}/build/make.log"
            tail = ""
            if os.path.isfile(log):
                with open(log, encoding="utf-8", errors="replace") as fh:
                    tail = "".join(fh.readlines()[-30:])
            module.fail_json(
                msg=f"dkms install {name}/{version} for {kernel} failed (exit {rc}): {(err or out).strip()[-1500:]}"
                + (f"\n--- end of {log} ---\n{tail}" if tail else ""),
                **result,
            )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
