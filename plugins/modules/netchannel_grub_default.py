#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Make a kernel release GRUB's saved default (or its next boot only), by menu entry id."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: netchannel_grub_default
author: NetChannel deployed team
version_added: 0.1.0
short_description: Select a kernel in GRUB by menu entry id (saved default or next boot)
description:
  - Finds the menu entry that boots Linux I(release) (not its recovery entry) in I(grub_cfg), also inside
    submenus such as "Advanced options", and builds its id path (C(submenu-id>entry-id)). Titles may use
    single or double quotes and GRUB's quote escapes; an entry without C($menuentry_id_option) is named by
    its title.
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

EXAMPLES = r"""
---
- name: Boot 6.1.192-netchannel by default from now on
  netchannel.deploy.netchannel_grub_default:
    release: 6.1.192-netchannel

- name: Boot it once, on the next reboot only
  netchannel.deploy.netchannel_grub_default:
    release: 6.1.192-netchannel
    next_boot: true
"""

RETURN = r"""
---
entry:
  description: The chosen menu entry.
  returned: success
  type: dict
  sample:
    title: Debian GNU/Linux, with Linux 6.1.192-netchannel
    id: gnulinux-6.1.192-netchannel-advanced-0f1e
    path: gnulinux-advanced-0f1e>gnulinux-6.1.192-netchannel-advanced-0f1e
previous:
  description: The value of I(key) in the GRUB environment before this run (null when unset).
  returned: success
  type: str
  sample: gnulinux-advanced-0f1e>gnulinux-6.1.0-57-amd64-advanced-0f1e
key:
  description: The GRUB environment variable that holds the choice (C(saved_entry) or C(next_entry)).
  returned: success
  type: str
  sample: saved_entry
entries:
  description: Every menu entry found, in file order, with title, id and id path.
  returned: always
  type: list
  elements: dict
"""

import shlex

from ansible.module_utils.basic import AnsibleModule


def _words(line: str) -> list[str] | None:
    """The shell words of a grub.cfg line (GRUB quotes as sh does), None if it cannot be split."""
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=False)
        lexer.whitespace_split = True
        lexer.commenters = ""
        return list(lexer)
    except ValueError:
        return None


def entries(text: str) -> list[dict]:
    """Every menuentry with its title, id and full id path (submenus joined by '>'), in file order."""
    found: list[dict] = []
    stack: list[str | None] = []  # one item per open block: the submenu id, or None for other blocks
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head = line.split(None, 1)[0]
        if head in ("menuentry", "submenu"):
            words = _words(line) or []
            if len(words) < 2:
                continue
            title = words[1]
            ident = title
            if "$menuentry_id_option" in words:
                at = words.index("$menuentry_id_option")
                if at + 1 < len(words):
                    ident = words[at + 1]
            opens = line.endswith("{")
            if head == "submenu":
                if opens:
                    stack.append(ident)
                continue
            parents = [s for s in stack if s is not None]
            found.append({"title": title, "id": ident, "path": ">".join([*parents, ident])})
            if opens:
                stack.append(None)
        elif line == "}" or line.startswith("}"):
            if stack:
                stack.pop()
        elif line.endswith("{"):
            stack.append(None)  # if/function blocks
    return found


def pick(found: list[dict], release: str) -> dict | None:
    """The normal (not recovery) entry that boots Linux `release`."""
    suffix = f"Linux {release}"
    for entry in found:
        if entry["title"].endswith(suffix):
            return entry
    return None


def parse_env(out: str) -> dict:
    env = {}
    for line in out.splitlines():
        key, sep, value = line.partition("=")
        if sep:
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
    rc, out, err = module.run_command(["grub-editenv", "list"])
    if rc != 0:
        module.fail_json(msg=f"grub-editenv list failed: {err.strip()}")
    env = parse_env(out)
    key = "next_entry" if next_boot else "saved_entry"
    changed = env.get(key) != entry["path"]
    if changed and not module.check_mode:
        cmd = ["grub-reboot" if next_boot else "grub-set-default", entry["path"]]
        rc, _, err = module.run_command(cmd)
        if rc != 0:
            module.fail_json(msg=f"{' '.join(cmd)} failed: {err.strip()}")
    module.exit_json(changed=changed, entry=entry, previous=env.get(key), key=key, entries=found)


if __name__ == "__main__":
    main()
