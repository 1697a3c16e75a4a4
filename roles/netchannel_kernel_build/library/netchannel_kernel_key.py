#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""The cache key of a kernel build: a hash of its inputs (strings and file contents)."""

from __future__ import annotations

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: netchannel_kernel_key
short_description: Hash the inputs of a kernel build into a cache key
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


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "parts": {"type": "list", "elements": "str", "default": []},
            "files": {"type": "list", "elements": "path", "default": []},
            "tree": {"type": "path"},
        },
        supports_check_mode=True,
    )
    h = hashlib.sha256(b"netchannel-kernel-key-v1\n")
    for part in module.params["parts"]:
        h.update(part.encode() + b"\n")
    for path in module.params["files"]:
        if not os.path.isfile(path):
            module.fail_json(msg=f"kernel build input {path} does not exist")
        with open(path, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    tree = module.params["tree"]
    if tree:
        if not os.path.isdir(tree):
            module.fail_json(msg=f"kernel source directory {tree} does not exist")
        h.update(tree_digest(tree).encode())
    module.exit_json(changed=False, key=h.hexdigest()[:16])


if __name__ == "__main__":
    main()
