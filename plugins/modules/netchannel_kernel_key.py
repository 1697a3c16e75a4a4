#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""The cache key of a kernel build: a hash of its inputs (strings and file contents)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: netchannel_kernel_key
author: NetChannel deployed team
version_added: 0.1.0
short_description: Hash the inputs of a kernel build into a cache key
description:
  - Hashes strings (source identity, config base, local version, recipe version) and the contents of
    files (patches, fragments, base config) into a short key. The same inputs give the same key on any
    host and in any order of runs; any changed byte gives a different key.
  - File names do not enter the key, only their contents and their order.
options:
  parts:
    description: Strings that identify the build (source identity, config base, local version, ...).
    type: list
    elements: str
    default: []
  files:
    description: Files whose contents are inputs (patches, series, fragments, base config).
    type: list
    elements: path
    default: []
  tree:
    description: A directory whose file list (path, size, mtime) identifies a source tree.
    type: path
"""

EXAMPLES = r"""
---
- name: Hash the staged inputs of a build
  netchannel.deploy.netchannel_kernel_key:
    parts: ["source=debian_package:linux-source-6.1", "base=tinyconfig"]
    files: [/var/tmp/netchannel-kernel/work/inputs/series/0001-uapi.patch]
  register: key
"""

RETURN = r"""
---
key:
  description: The first 16 hex digits of the SHA-256 over the parts and the files' contents.
  returned: success
  type: str
  sample: 3f9a0c1b2d4e5f60
"""

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule


def tree_digest(root: str) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            h.update(f"{os.path.relpath(path, root)}\0{st.st_size}\0{int(st.st_mtime)}\n".encode())
    return h.hexdigest()


class KeyError_(Exception):
    """An input of the key is missing."""


def compute_key(parts: list[str], files: list[str], tree: str | None) -> str:
    h = hashlib.sha256(b"netchannel-kernel-key-v1\n")
    for part in parts:
        h.update(part.encode() + b"\n")
    for path in files:
        if not os.path.isfile(path):
            raise KeyError_(f"kernel build input {path} does not exist")
        with open(path, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    if tree:
        if not os.path.isdir(tree):
            raise KeyError_(f"kernel source directory {tree} does not exist")
        h.update(tree_digest(tree).encode())
    return h.hexdigest()[:16]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "parts": {"type": "list", "elements": "str", "default": []},
            "files": {"type": "list", "elements": "path", "default": []},
            "tree": {"type": "path"},
        },
        supports_check_mode=True,
    )
    try:
        key = compute_key(module.params["parts"], module.params["files"], module.params["tree"])
    except KeyError_ as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, key=key)


if __name__ == "__main__":
    main()
