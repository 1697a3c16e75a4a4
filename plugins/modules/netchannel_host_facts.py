#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Read what the NetChannel preflight checks need to know about a host, changing nothing."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: netchannel_host_facts
author: NetChannel deployed team
version_added: 0.1.0
short_description: Read the facts NetChannel's preflight checks need (OS, boot, Secure Boot, space, link)
description:
  - Reads, and never changes, what decides whether a host can take the NetChannel kernel and module
    the operating system and its version (C(/etc/os-release)), the architecture, the effective user id,
    how the host boots (EFI or BIOS) and whether GRUB is installed for it, the Secure Boot state (from the
    EFI variable, so no tool is needed), the free space of a list of paths, and the state of an interface.
options:
  paths:
    description: Paths whose file system's free space is reported (the nearest existing parent is used).
    type: list
    elements: path
    default: [/boot]
  interface:
    description: A network interface whose operational state and carrier are reported.
    type: str
"""

EXAMPLES = r"""
---
- name: Read the host's facts
  netchannel.deploy.netchannel_host_facts:
    paths: [/boot, /var/tmp]
    interface: ens2f0
  register: facts
"""

RETURN = r"""
---
os_id:
  description: C(ID) of C(/etc/os-release).
  returned: always
  type: str
  sample: debian
os_version:
  description: C(VERSION_ID) of C(/etc/os-release) (empty on testing/unstable).
  returned: always
  type: str
  sample: "12"
os_codename:
  description: C(VERSION_CODENAME) of C(/etc/os-release).
  returned: always
  type: str
  sample: bookworm
arch:
  description: The machine architecture (C(uname -m)).
  returned: always
  type: str
  sample: x86_64
uid:
  description: Effective user id the module ran as (0 with become).
  returned: always
  type: int
  sample: 0
boot_mode:
  description: C(efi) when the host booted through EFI, else C(bios).
  returned: always
  type: str
  sample: bios
grub:
  description: Whether GRUB is installed for the boot mode (its C(grub.cfg) and C(update-grub) exist).
  returned: always
  type: dict
  sample: {"installed": true, "cfg": "/boot/grub/grub.cfg", "update_grub": true}
secure_boot:
  description: C(enabled), C(disabled) or C(unsupported) (BIOS boot, or no SecureBoot variable).
  returned: always
  type: str
  sample: unsupported
free_mb:
  description: Free MiB of the file system of each path (for the superuser's view, as df shows it).
  returned: always
  type: dict
  sample: {"/boot": 812, "/var/tmp": 20480}
link:
  description: Operational state and carrier of I(interface), or C(exists=false).
  returned: when interface is given
  type: dict
  sample: {"exists": true, "operstate": "up", "carrier": true}
"""

import os
import platform
import shutil

from ansible.module_utils.basic import AnsibleModule

SECURE_BOOT_VAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


def parse_os_release(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def secure_boot_state(efi: bool, var: bytes | None) -> str:
    """efivarfs gives 4 attribute bytes, then the value: 1 means Secure Boot enforces."""
    if not efi or var is None or len(var) < 5:
        return "unsupported"
    return "enabled" if var[4] == 1 else "disabled"


def nearest_existing(path: str) -> str:
    while path and path != "/" and not os.path.exists(path):
        path = os.path.dirname(path)
    return path or "/"


def free_mb(path: str) -> int:
    st = os.statvfs(nearest_existing(path))
    return st.f_bavail * st.f_frsize // (1024 * 1024)


def read(path: str, mode: str = "r"):
    try:
        with open(path, mode) as fh:
            return fh.read()
    except OSError:
        return None


def link_state(interface: str) -> dict:
    base = f"/sys/class/net/{interface}"
    if not os.path.isdir(base):
        return {"exists": False, "operstate": "", "carrier": False}
    oper = (read(f"{base}/operstate") or "").strip()
    carrier = (read(f"{base}/carrier") or "0").strip() == "1"
    return {"exists": True, "operstate": oper, "carrier": carrier}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "path", "default": ["/boot"]},
            "interface": {"type": "str"},
        },
        supports_check_mode=True,
    )
    osr = parse_os_release(read("/etc/os-release") or "")
    efi = os.path.isdir("/sys/firmware/efi")
    cfg = "/boot/grub/grub.cfg"
    grub = {
        "installed": os.path.isfile(cfg) and shutil.which("update-grub") is not None,
        "cfg": cfg,
        "update_grub": shutil.which("update-grub") is not None,
    }
    result = {
        "changed": False,
        "os_id": osr.get("ID", ""),
        "os_version": osr.get("VERSION_ID", ""),
        "os_codename": osr.get("VERSION_CODENAME", ""),
        "arch": platform.machine(),
        "uid": os.geteuid(),
        "boot_mode": "efi" if efi else "bios",
        "grub": grub,
        "secure_boot": secure_boot_state(efi, read(SECURE_BOOT_VAR, "rb")),
        "free_mb": {p: free_mb(p) for p in module.params["paths"]},
    }
    if module.params["interface"]:
        result["link"] = link_state(module.params["interface"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
