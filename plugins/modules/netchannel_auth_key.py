#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Hand a host's NetChannel module the cluster key from its root-only key file."""

from __future__ import annotations

DOCUMENTATION = r"""
module: netchannel_auth_key
short_description: Give the loaded NetChannel module the cluster key, from a root-only file
version_added: 0.1.0
author: NetChannel deployed team
description:
  - Reads the cluster key file I(path) (the current key, then the previous one during a rotation;
    written by netchannel_cluster_key and copied by the netchannel_module role) and writes what
    I(stage) asks for to C(/proc/sys/net/<name>/auth_key), a write-only sysctl. Whether the module
    already has it is read from the public key ids in C(/proc/net/netchannel), so an unchanged key
    is not written again and the key is never read back.
  - Sets the module parameter C(auth_required) (no channel without the key) with I(state=present),
    clears it with I(state=absent).
  - With I(state=absent), turns authentication off (C(off)) when the module has a key.
  - Fails naming the file or the kernel's refusal, never the key.
options:
  path:
    description: The key file on the host (mode 0600, owned by root).
    type: path
    default: /etc/netchannel/auth.keys
  stage:
    description:
      - During a rotation, C(old_first) gives the module the previous key to use and the new one to
        accept, C(new_first) the new one to use and the previous to accept, C(final) the new one only.
        Without a previous key every stage gives the key alone.
    type: str
    choices: [old_first, new_first, final]
    default: final
  state:
    description: C(present) to give the module the key, C(absent) to turn authentication off.
    type: str
    choices: [present, absent]
    default: present
  boot_path:
    description:
      - Where the value given to the module is kept for the next boot (mode 0600, owned by root); the
        netchannel_module role's unit writes it to the sysctl right after loading the module. Removed
        with I(state=absent).
    type: path
    default: /etc/netchannel/auth.key
  name:
    description: Kernel module name.
    type: str
    default: netchannel
attributes:
  check_mode:
    support: full
"""

EXAMPLES = r"""
- name: Give the module the cluster key
  netchannel.deploy.netchannel_auth_key:
    path: /etc/netchannel/auth.keys
"""

RETURN = r"""
key_ids:
  description: Public ids of the keys the module has after this run, the one it uses first.
  returned: always
  type: list
  elements: str
before:
  description: Public ids the module had before.
  returned: always
  type: list
  elements: str
"""

import os
import stat

from ansible.module_utils.basic import AnsibleModule

try:
    from ansible_collections.netchannel.deploy.plugins.module_utils import netchannel_module as nm
except ImportError:  # pragma: no cover - only when run outside the collection
    nm = None


PROC = "/proc"
SYS = "/sys"


def loaded_ids(name: str) -> list[str] | None:
    """The key ids the loaded module shows ([] for none); None if it has no authentication at all."""
    with open(f"{PROC}/net/{name}", encoding="utf-8") as fh:
        return nm.parse_proc(fh.read())["auth"]


def keep_for_boot(path: str, value: str | None, check_mode: bool) -> bool:
    """The boot-time copy of what the module was given (None: remove it); whether it changed."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            have = fh.read()
    except FileNotFoundError:
        have = None
    want = None if value is None else value + "\n"
    if have == want:
        return False
    if check_mode:
        return True
    if want is None:
        os.unlink(path)
        return True
    nm.write_private(path, want, 0o755)
    return True


def set_required(name: str, on: bool, check_mode: bool) -> bool:
    """The module parameter auth_required; whether it changed."""
    path = f"{SYS}/module/{name}/parameters/auth_required"
    with open(path, encoding="ascii") as fh:
        if (fh.read().strip() == "Y") == on:
            return False
    if not check_mode:
        with open(path, "w", encoding="ascii") as fh:
            fh.write("1\n" if on else "0\n")
    return True


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/etc/netchannel/auth.keys"},
            "stage": {"type": "str", "choices": ["old_first", "new_first", "final"], "default": "final"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "boot_path": {"type": "path", "default": "/etc/netchannel/auth.key"},
            "name": {"type": "str", "default": "netchannel"},
        },
        supports_check_mode=True,
    )
    name, path = module.params["name"], module.params["path"]
    sysctl = f"{PROC}/sys/net/{name}/auth_key"
    try:
        before = loaded_ids(name)
    except FileNotFoundError:
        module.fail_json(msg=f"/proc/net/{name} does not exist: the {name} module is not loaded")
    except (OSError, ValueError) as exc:
        module.fail_json(msg=f"cannot read /proc/net/{name}: {exc}")
    if before is None:
        module.fail_json(
            msg=f"the loaded {name} module has no channel authentication (no 'auth' line in /proc/net/{name}): "
            "it is older than this collection; reload it with the role's build"
        )
    if module.params["state"] == "absent":
        value, want = "off", []
    else:
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                module.fail_json(msg=f"{path} is not a regular file")
            if st.st_uid != 0 or st.st_mode & 0o077:
                module.fail_json(
                    msg=f"{path} must be owned by root and mode 0600 (it is uid {st.st_uid}, mode "
                    f"{stat.S_IMODE(st.st_mode):04o}): the cluster key must not be readable by other users"
                )
            with open(path, encoding="ascii", errors="replace") as fh:
                keys = nm.auth_stage_keys(nm.parse_key_file(fh.read(), path), module.params["stage"])
        except FileNotFoundError:
            if module.check_mode:  # the copy before this task did not run
                module.exit_json(changed=True, key_ids=[], before=before)
            module.fail_json(msg=f"{path} does not exist: no cluster key on this host")
        except ValueError as exc:
            module.fail_json(msg=str(exc))
        except OSError as exc:
            module.fail_json(msg=f"cannot read {path}: {exc.strerror or exc}")
        value, want = ",".join(keys), [nm.auth_key_id(k) for k in keys]
    present = module.params["state"] == "present"
    try:
        changed = set_required(name, present, module.check_mode)
        changed |= keep_for_boot(module.params["boot_path"], value if present else None, module.check_mode)
    except OSError as exc:
        module.fail_json(msg=f"cannot set auth_required or keep the key for boot: {exc.strerror or exc}")
    if want == before:
        module.exit_json(changed=changed, key_ids=before, before=before)
    if not module.check_mode:
        try:
            fd = os.open(sysctl, os.O_WRONLY | os.O_TRUNC)  # as a shell redirection opens it
            try:
                os.write(fd, (value + "\n").encode())  # one write: the sysctl takes nothing else
            finally:
                os.close(fd)
        except OSError as exc:
            module.fail_json(
                msg=f"the kernel refused the cluster key from {path} at {sysctl}: {exc.strerror or exc} "
                f"(its reason is in the kernel log, 'netchannel: auth_key not set: ...'; a kernel without "
                "CONFIG_CRYPTO_HMAC and CONFIG_CRYPTO_SHA256 cannot authenticate)",
                before=before,
            )
    module.exit_json(changed=True, key_ids=want, before=before)


if __name__ == "__main__":
    main()
