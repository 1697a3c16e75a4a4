#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Keep a NetChannel cluster's key in a file only its owner can read (on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: netchannel_cluster_key
short_description: Create, take or rotate a NetChannel cluster key in a private file
version_added: 0.1.0
author: NetChannel deployed team
description:
  - Keeps the cluster key that authenticates NetChannel channels in I(path), mode 0600 in a directory
    of mode 0700. The current key is on the first line, the previous one on the second while a
    rotation is under way. Meant to run once per cluster on the controller (C(delegate_to=localhost),
    C(run_once=true)); the netchannel_module role copies the file to the hosts.
  - Without a file it creates one with a fresh random key, or with I(key). A I(key) that differs from
    the current one, or I(rotate), starts a rotation (the old key is kept as the previous one until
    I(finish)); a rotation under way is resumed, not started again.
  - Returns only the keys' public ids (what C(/proc/net/netchannel) shows), never a key.
  - Refuses a file that other users can read or write, naming it.
options:
  path:
    description: The key file.
    type: path
    required: true
  key:
    description: >-
      The user's own cluster key (64 hex digits, for example from a vault); empty to use or create
      the file's.
    type: str
    default: ""
    no_log: true
  rotate:
    description: Start a rotation to a fresh key (ignored while one is under way or with I(key)).
    type: bool
    default: false
  finish:
    description: End a rotation (drop the previous key), once every host uses the new one.
    type: bool
    default: false
  host_ids:
    description:
      - Key ids the cluster's hosts hold now (from C(/proc/net/netchannel)). Without a file, and
        without I(key), a new key is made only when this is empty; otherwise the module fails
        rather than split the cluster between two keys.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
"""

EXAMPLES = r"""
- name: Find or create the cluster key
  netchannel.deploy.netchannel_cluster_key:
    path: ~/.config/netchannel/netchannel.key
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
key_ids:
  description: Public ids of the keys in the file after this run, current first.
  returned: always
  type: list
  elements: str
rotating:
  description: Whether a previous key is still in the file (a rotation is under way).
  returned: always
  type: bool
exists:
  description: Whether the file exists after this run (false only in check mode before its creation).
  returned: always
  type: bool
"""

import os
import secrets
import stat

from ansible.module_utils.basic import AnsibleModule

try:
    from ansible_collections.netchannel.deploy.plugins.module_utils import netchannel_module as nm
except ImportError:  # pragma: no cover - only when run outside the collection
    nm = None


def read_keys(path: str) -> list[str] | None:
    """The file's keys, None if there is no file; ValueError (naming the file) if it is unsafe or bad."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path} is not a regular file")
    if st.st_mode & 0o077:
        raise ValueError(
            f"{path} is open to other users (mode {stat.S_IMODE(st.st_mode):04o}), so the key in it may have "
            "leaked: make it 0600 and rotate the key (netchannel_module_auth_rotate=true)"
        )
    with open(path, encoding="ascii", errors="replace") as fh:
        return nm.parse_key_file(fh.read(), path)


def write_keys(path: str, keys: list[str]) -> None:
    """Write atomically, never readable by others, not even for a moment."""
    nm.write_private(path, "".join(k + "\n" for k in keys), 0o700)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "key": {"type": "str", "default": "", "no_log": True},
            "rotate": {"type": "bool", "default": False},
            "finish": {"type": "bool", "default": False},
            "host_ids": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    user_key = (module.params["key"] or "").strip().lower()
    if user_key:
        try:
            nm.parse_key_file(user_key, "netchannel_module_auth_key")
        except ValueError as exc:
            module.fail_json(msg=str(exc))
    try:
        existing = read_keys(path)
    except (ValueError, OSError) as exc:
        module.fail_json(msg=str(exc))
    held = sorted(set(module.params["host_ids"] or []))
    if existing is None and not user_key and held:
        module.fail_json(
            msg=f"{path} does not exist, yet the hosts hold cluster key id(s) {', '.join(held)}: copy that "
            "cluster's key file here from the controller that made it, or give its key as "
            "netchannel_module_auth_key; a new key here would split the cluster (to start over, run once "
            "with netchannel_module_auth=false)"
        )
    keys = nm.plan_cluster_keys(
        existing, user_key, module.params["rotate"], module.params["finish"], lambda: secrets.token_hex(32)
    )
    changed = keys != existing
    if changed and not module.check_mode:
        try:
            write_keys(path, keys)
        except OSError as exc:
            module.fail_json(msg=f"cannot write the cluster key to {path}: {exc.strerror or exc}")
    module.exit_json(
        changed=changed,
        key_ids=[nm.auth_key_id(k) for k in keys],
        rotating=len(keys) > 1,
        exists=existing is not None or not module.check_mode,
    )


if __name__ == "__main__":
    main()
