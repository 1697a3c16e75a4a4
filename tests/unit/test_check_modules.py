"""tools/check_modules.py finds what validate-modules would (it stands in for ansible-test sanity here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

GOOD = '''#!/usr/bin/python
from __future__ import annotations

DOCUMENTATION = r"""
module: {name}
author: x
short_description: s
description: [d]
options:
  path:
    description: p
    type: path
    required: true
  count:
    description: c
    type: int
    default: 3
"""
EXAMPLES = r"""
- name: use it
  netchannel.deploy.{name}:
    path: /x
"""
RETURN = r"""
{{}}
"""
from ansible.module_utils.basic import AnsibleModule


def main():
    AnsibleModule(argument_spec={{"path": {{"type": "path", "required": True}}, {extra}}}, supports_check_mode=True)
'''


def run(tmp_path: Path, name: str, extra: str, *, move_import: bool = False) -> subprocess.CompletedProcess:
    mods = tmp_path / "plugins" / "modules"
    mods.mkdir(parents=True, exist_ok=True)
    text = GOOD.format(name=name, extra=extra)
    if move_import:
        text = text.replace("from ansible.module_utils.basic import AnsibleModule\n", "")
        text = text.replace("from __future__ import annotations\n", "from __future__ import annotations\n\nimport os\n")
        text += "\nfrom ansible.module_utils.basic import AnsibleModule\n"
    (mods / f"{name}.py").write_text(text)
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "check_modules.py"), str(mods)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_consistent_module_passes(tmp_path):
    proc = run(tmp_path, "ok_mod", '"count": {"type": "int", "default": 3}')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 modules, 0 with findings" in proc.stdout


def test_default_mismatch_and_undocumented_option_are_found(tmp_path):
    proc = run(tmp_path, "bad_mod", '"count": {"type": "int", "default": 4}, "extra": {"type": "str"}')
    assert proc.returncode == 1
    assert "option count: documented default=3, argument_spec default=4" in proc.stdout
    assert "option extra is in argument_spec but not documented" in proc.stdout


def test_import_before_documentation_is_found(tmp_path):
    proc = run(tmp_path, "order_mod", '"count": {"type": "int", "default": 3}', move_import=True)
    assert proc.returncode == 1
    assert "DOCUMENTATION (line" in proc.stdout
    assert "comes after the first import" in proc.stdout


def test_escapes_out_of_the_collection_are_named(tmp_path):
    role = tmp_path / "roles" / "r" / "defaults"
    role.mkdir(parents=True)
    (role / "main.yml").write_text(
        'r_series: "{{ role_path }}/../../module_src/series"\nr_ok: "{{ role_path }}/files/x"\n'
    )
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "p.yml").write_text('- hosts: all\n  vars:\n    f: "{{ playbook_dir }}/../build/x"\n')
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "check_escapes.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "roles/r/defaults/main.yml:1:" in proc.stdout
    assert "playbooks/p.yml:3:" in proc.stdout
    assert "r_ok" not in proc.stdout
    assert subprocess.run([sys.executable, str(ROOT / "tools" / "check_escapes.py")], check=False).returncode == 0
