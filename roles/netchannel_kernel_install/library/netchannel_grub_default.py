#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Make a kernel release GRUB's saved default (or its next boot only), by menu entry id."""

from __future__ import annotations

import re
import subprocess

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: netchannel_grub_default
short_description: Select a kernel in GRUB by menu entry id (saved default or next boot)
description:
  - Finds the menu entry that boots Linux I(release) (not its recovery entry) in I(grub_cfg), including
    inside the "Advanced options" submenu, and builds its id path (C(submenu-id>entry-id)).
  - With I(next_boot=false) makes it the saved default (C(grub-set-default)); with I(next_boot=true) selects
    it for the next boot only (C(grub-reboot)). Needs C(GRUB_DEFAULT=saved).
  - Changes nothing when C(grub-editenv list) already holds that id. Supports check mode.
options:
  release:
    description: Kernel release, as C(uname -r) prints it.
    type: str
    required: true
  next_boot:
    description: Select for the next boot only.
    type: bool
    default: false
  grub_cfg:
    description: Path of the generated GRUB configuration.
    type: path
    default: /boot/grub/grub.cfg
"""

ENTRY_RE = re.compile(r"^(\s*)(menuentry|submenu)\s+'((?:[^'\\]|\\.)*)'.*\$menuentry_id_option\s+'([^']+)'")


def entries(text: str) -> list[dict]:
    """Every menuentry with its title and full id path, in file order."""
    found: list[dict] = []
    submenu: str | None = None
    for line in text.splitlines():
        m = ENTRY_RE.match(line)
        if m:
            indent, kind, title, ident = m.groups()
            if kind == "submenu":
                submenu = ident
                continue
            path = f"{submenu}>{ident}" if submenu and indent else ident
            found.append({"title": title, "id": ident, "path": path})
        elif line.startswith("}"):
            submenu = None
    return found


def pick(found: list[dict], release: str) -> dict | None:
    suffix = f"Linux {release}"
    for entry in found:
        if entry["title"].endswith(suffix):
            return entry
    return None


def grubenv(module: AnsibleModule) -> dict:
    rc, out, err = module.run_command(["grub-editenv", "list"])
    if rc != 0:
        module.fail_json(msg=f"grub-editenv list failed: {err.strip()}")
    env = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        env[key] = value
    return env


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "release": {"type": "str", "required": True},
            "next_boot": {"type": "bool", "default": False},
            "grub_cfg": {"type": "path", "default": "/boot/grub/grub.cfg"},
        },
        supports_check_mode=True,
    )
    release, next_boot = module.params["release"], module.params["next_boot"]
    try:
        with open(module.params["grub_cfg"], encoding="utf-8", errors="replace") as fh:
            found = entries(fh.read())
    except OSError as exc:
        module.fail_json(msg=f"cannot read {module.params['grub_cfg']}: {exc}")
    entry = pick(found, release)
    if entry is None:
        titles = [e["title"] for e in found]
        module.fail_json(msg=f"no GRUB menu entry boots Linux {release}; entries: {titles}", entries=found)
    env = grubenv(module)
    key = "next_entry" if next_boot else "saved_entry"
    changed = env.get(key) != entry["path"]
    if changed and not module.check_mode:
        cmd = ["grub-reboot" if next_boot else "grub-set-default", entry["path"]]
        rc, _, err = module.run_command(cmd)
        if rc != 0:
            module.fail_json(msg=f"{' '.join(cmd)} failed: {err.strip()}")
    module.exit_json(changed=changed, entry=entry, previous=env.get(key), key=key, entries=found)


if __name__ == "__main__":
    try:
        main()
    except subprocess.SubprocessError as exc:  # pragma: no cover
        raise SystemExit(str(exc)) from exc
