#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Apply a patch series to a kernel tree, each patch checked by a dry run first."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: netchannel_kernel_patch
author: NetChannel deployed team
version_added: 0.1.0
short_description: Apply a quilt-style patch series to a source tree, dry run first
description:
  - Reads the series file (one patch name per line, C(#) comments), then for each patch runs
    C(patch -p1 --dry-run) and, only if that succeeds, applies it.
  - A patch that does not apply fails the task naming the patch, the file and the hunk.
  - A tree where every patch is already applied (dry run with C(-R) succeeds) is left alone.
options:
  src:
    description: The source tree.
    type: path
    required: true
  series:
    description: The series file; patches are looked up beside it. Optional when I(extra_patches) is given.
    type: path
  extra_patches:
    description: More patch files (absolute paths), applied after the series.
    type: list
    elements: path
    default: []
"""

EXAMPLES = r"""
---
- name: Apply our series to an unpacked kernel tree
  netchannel.deploy.netchannel_kernel_patch:
    src: /var/tmp/netchannel-kernel/work/abc/src
    series: /var/tmp/netchannel-kernel/work/inputs/series/series
    extra_patches: [/var/tmp/netchannel-kernel/work/inputs/extra/00-netchannel-5.6.patch]
"""

RETURN = r"""
---
applied:
  description: Patches applied by this run (in check mode, those whose dry run succeeded).
  returned: success
  type: list
  elements: str
  sample: [0001-uapi-in.h-add-IPPROTO_VIRTUAL_SOCK.patch]
already_applied:
  description: Patches found already applied (their reverse dry run succeeded), left alone.
  returned: success
  type: list
  elements: str
  sample: []
"""

import os
import re
import subprocess

from ansible.module_utils.basic import AnsibleModule

HUNK_RE = re.compile(r"Hunk #(\d+) FAILED at (\d+)")
FILE_RE = re.compile(r"^(?:checking|patching) file (.+)$")


def read_series(path: str) -> list[str]:
    names = []
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


def failures(output: str) -> list[str]:
    """'file F: hunk #N FAILED at L' for every failed hunk in patch's output."""
    found, current = [], None
    for line in output.splitlines():
        m = FILE_RE.match(line.strip())
        if m:
            current = m.group(1).strip("'")
            continue
        m = HUNK_RE.search(line)
        if m:
            found.append(f"file {current}: hunk #{m.group(1)} FAILED at line {m.group(2)}")
        elif "can't find file to patch" in line or "No file to patch" in line:
            found.append(f"a file the patch names does not exist ({line.strip()})")
        elif "Reversed (or previously applied) patch detected" in line:
            found.append(f"file {current}: already applied (reversed patch detected)")
    return found


def run_patch(src: str, patch: str, *flags: str) -> subprocess.CompletedProcess:
    with open(patch, "rb") as fh:
        return subprocess.run(
            ["patch", "-p1", "--forward", "--batch", *flags],
            cwd=src,
            stdin=fh,
            capture_output=True,
            text=True,
            check=False,
        )


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "src": {"type": "path", "required": True},
            "series": {"type": "path"},
            "extra_patches": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    src, series = module.params["src"], module.params["series"]
    if not os.path.isdir(src):
        module.fail_json(msg=f"kernel source tree {src} does not exist")
    if series and not os.path.isfile(series):
        module.fail_json(msg=f"patch series file {series} does not exist")
    patches = [os.path.join(os.path.dirname(series), n) for n in read_series(series)] if series else []
    patches += module.params["extra_patches"]
    missing = [p for p in patches if not os.path.isfile(p)]
    if missing:
        module.fail_json(msg=f"patch file(s) named by {series} or extra_patches do not exist: {', '.join(missing)}")
    applied, already = [], []
    for patch in patches:
        name = os.path.basename(patch)
        dry = run_patch(src, patch, "--dry-run")
        if dry.returncode != 0:
            rev = run_patch(src, patch, "--dry-run", "-R")
            if rev.returncode == 0:
                already.append(name)
                continue
            detail = "; ".join(failures(dry.stdout + dry.stderr)) or (dry.stdout + dry.stderr).strip()[-500:]
            module.fail_json(
                msg=f"patch {name} does not apply to {src}: {detail}",
                patch=patch,
                applied=applied,
                output=dry.stdout + dry.stderr,
            )
        if not module.check_mode:
            real = run_patch(src, patch)
            if real.returncode != 0:
                module.fail_json(
                    msg=f"patch {name} passed its dry run but failed to apply: {real.stdout[-500:]}",
                    patch=patch,
                    applied=applied,
                )
        applied.append(name)
    module.exit_json(changed=bool(applied), applied=applied, already_applied=already)


if __name__ == "__main__":
    main()
