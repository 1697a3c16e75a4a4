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
  - A build can be kept and reused. With I(save_binaries), a version this module built is also
    written as a DKMS binaries-only tarball (C(dkms mktarball --binaries-only)). With I(binaries), such
    a tarball is installed (C(dkms ldtarball), C(dkms install)) instead of compiling, but only when
    I(binaries_kernel_id) equals this host's I(kernel_id) (the kernel's C(.config), C(Module.symvers),
    release and the compiler); otherwise, or when loading it fails, the module is built as usual.
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
  binaries:
    description:
      - Path on the host of a binaries-only DKMS tarball of I(version) for I(kernel) to install instead
        of building. Empty or a missing file means build.
    type: str
    default: ""
  binaries_kernel_id:
    description: The I(kernel_id) of the host that built I(binaries); they are used only where it matches.
    type: str
    default: ""
  save_binaries:
    description: Path on the host to write a binaries-only tarball to after building I(version). Empty means none.
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
kernel_id:
  description:
    - Digest of what a build for I(kernel) depends on besides the module's sources (the kernel's C(.config)
      and C(Module.symvers), its release, the compiler, and DKMS's signing certificate where the kernel only
      loads signed modules). Empty without the kernel's headers, in check mode, and when nothing was done.
  returned: always
  type: str
from_binaries:
  description: Whether I(version) was installed from I(binaries) rather than built.
  returned: always
  type: bool
binaries_refused:
  description: Why I(binaries) was given but not used (empty when it was used or not given).
  returned: always
  type: str
saved:
  description: The path of the tarball written for I(save_binaries), empty when none was written.
  returned: always
  type: str
"""

import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.netchannel.deploy.plugins.module_utils.netchannel_module import (
    compiler_id,
    dkms_plan,
    kernel_build_id,
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


def install_binaries(module: AnsibleModule, run, dkms: str, result: dict) -> bool:
    """Install `version` from a binaries-only tarball built on a host with the same kernel id; True
    when that worked. Otherwise say why in binaries_refused, undo any half-load, and return False so
    that the caller builds as it would have."""
    name, version, kernel = module.params["name"], module.params["version"], result["kernel"]
    tarball, their_id = module.params["binaries"], module.params["binaries_kernel_id"]
    if not result["kernel_id"]:
        result["binaries_refused"] = f"no kernel headers for {kernel}, so no kernel id to match"
    elif their_id != result["kernel_id"]:
        result["binaries_refused"] = (
            f"built for kernel id {their_id or '(none given)'}, this host's {kernel} is {result['kernel_id']}"
        )
    elif not os.path.isfile(tarball):
        result["binaries_refused"] = f"{tarball} does not exist"
    if result["binaries_refused"]:
        return False

    def forget() -> None:
        # undo a half-load; DKMS refuses (exit 3) when the tarball never got the version registered
        module.run_command([dkms, "remove", "-m", name, "-v", version, "--all"])

    start = time.monotonic()
    steps = (["ldtarball", tarball], ["install", "-m", name, "-v", version, "-k", kernel])
    for args in steps:
        rc, out, err = module.run_command([dkms, *args])
        if rc != 0:
            result["binaries_refused"] = f"dkms {args[0]} failed (exit {rc}): {(err or out).strip()[-500:]}"
            forget()
            return False
    entries = parse_dkms_status(run("status", "-m", name, "-v", version, "-k", kernel))
    if dkms_plan(entries, name, version, kernel)["install"]:
        result["binaries_refused"] = f"dkms install from {tarball} left {name}/{version} not installed for {kernel}"
        forget()
        return False
    result["build_seconds"] = round(time.monotonic() - start, 1)
    return True


def save_binaries(module: AnsibleModule, dkms: str, result: dict, path: str) -> None:
    """Write the build just made as a binaries-only tarball (only its modules for this kernel)."""
    name, version, kernel = module.params["name"], module.params["version"], result["kernel"]
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)
    rc, out, err = module.run_command(
        [dkms, "mktarball", "-m", name, "-v", version, "-k", kernel, "--binaries-only", "--archive", path]
    )
    if rc != 0 or not os.path.isfile(path):
        module.warn(f"could not keep the build of {name}/{version}: dkms mktarball (exit {rc}): {(err or out).strip()}")
        return
    os.chmod(path, 0o600)
    result["saved"] = path


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "default": "netchannel"},
            "version": {"type": "str"},
            "kernel": {"type": "str", "default": ""},
            "binaries": {"type": "str", "default": ""},
            "binaries_kernel_id": {"type": "str", "default": ""},
            "save_binaries": {"type": "str", "default": ""},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        },
        required_if=[("state", "present", ["version"])],
        supports_check_mode=True,
    )
    p = module.params
    name, version = p["name"], p["version"]
    kernel = p["kernel"] or os.uname().release
    dkms = module.get_bin_path("dkms")
    result = {
        "changed": False,
        "kernel": kernel,
        "removed": [],
        "built": False,
        "build_seconds": 0.0,
        "kernel_id": "",
        "from_binaries": False,
        "binaries_refused": "",
        "saved": "",
    }
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
    result["kernel_id"] = kernel_build_id(kernel, compiler_id(module))
    if plan["add"] and plan["install"] and p["binaries"]:
        result["from_binaries"] = install_binaries(module, run, dkms, result)
    if result["from_binaries"]:
        module.exit_json(**result)
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
        if p["save_binaries"]:
            save_binaries(module, dkms, result, p["save_binaries"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
