#!/usr/bin/env python3
"""Validate the collection's modules the way ansible-test's validate-modules does, offline.

`ansible-test sanity` cannot run here: it bootstraps pip for each test's virtual
environment from a download host outside the package registries this project may
reach. This checker covers the part that matters for our modules:

- DOCUMENTATION, EXAMPLES and RETURN exist, parse as YAML, and DOCUMENTATION has
  module (equal to the file name), short_description, description, author, options;
- the documentation block comes before the first import;
- the module's real argument_spec (captured by running main() against a stand-in
  AnsibleModule) matches the documented options: names, type, elements, required,
  default, choices, and supports_check_mode is declared;
- every EXAMPLES task calls the module by its full name netchannel.deploy.<module>.

Usage: check_modules.py [DIR]   (default: plugins/modules); exit 1 on any finding.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
FQCN = "netchannel.deploy"


class Captured(Exception):
    def __init__(self, argument_spec: dict, kwargs: dict):
        super().__init__("captured")
        self.argument_spec = argument_spec
        self.kwargs = kwargs


class StandIn:
    def __init__(self, argument_spec=None, **kwargs):
        raise Captured(argument_spec or {}, kwargs)


def capture_spec(path: Path) -> tuple[dict, dict]:
    spec = importlib.util.spec_from_file_location(f"_nc_check_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.AnsibleModule = StandIn
    try:
        mod.main()
    except Captured as got:
        return got.argument_spec, got.kwargs
    raise RuntimeError("main() returned without creating an AnsibleModule")


def doc_order_problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    first_import = None
    doc_lines = {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            first_import = first_import or node.lineno
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
                    doc_lines[target.id] = node.lineno
    out = [f"{name} is missing" for name in ("DOCUMENTATION", "EXAMPLES", "RETURN") if name not in doc_lines]
    if first_import is not None:
        out += [f"{name} (line {ln}) comes after the first import (line {first_import})"
                for name, ln in doc_lines.items() if ln > first_import]  # fmt: skip
    return out


def compare(name: str, documented: dict, actual: dict) -> list[str]:
    out = []
    for opt in sorted(set(documented) | set(actual)):
        if opt not in actual:
            out.append(f"option {opt} is documented but not in argument_spec")
            continue
        if opt not in documented:
            out.append(f"option {opt} is in argument_spec but not documented")
            continue
        doc, arg = documented[opt], actual[opt]
        for field, dflt in (
            ("type", "str"),
            ("elements", None),
            ("required", False),
            ("default", None),
            ("choices", None),
        ):
            d, a = doc.get(field, dflt), arg.get(field, dflt)
            if field == "type" and a == "path" and d == "path":
                continue
            if d != a:
                out.append(f"option {opt}: documented {field}={d!r}, argument_spec {field}={a!r}")
        if not doc.get("description"):
            out.append(f"option {opt} has no description")
    return out


def _collection_on_path() -> None:
    """Let modules import their module_utils (ansible_collections.netchannel.deploy.plugins.module_utils.*)
    from this checkout, as Ansible's collection loader would from the installed collection."""
    import types

    for name, path in (
        ("ansible_collections", None),
        ("ansible_collections.netchannel", None),
        (f"ansible_collections.{FQCN}", ROOT),
    ):
        if name not in sys.modules:
            pkg = types.ModuleType(name)
            pkg.__path__ = [str(path)] if path else []
            sys.modules[name] = pkg


def check(path: Path) -> list[str]:
    _collection_on_path()
    problems = doc_order_problems(path)
    spec = importlib.util.spec_from_file_location(f"_nc_doc_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    try:
        doc = yaml.safe_load(mod.DOCUMENTATION)
        examples = yaml.safe_load(mod.EXAMPLES)
        yaml.safe_load(mod.RETURN)
    except (AttributeError, yaml.YAMLError) as exc:
        return [*problems, f"documentation does not parse: {exc}"]
    for field in ("module", "short_description", "description", "author", "options"):
        if field not in doc:
            problems.append(f"DOCUMENTATION has no {field}")
    if doc.get("module") != path.stem:
        problems.append(f"DOCUMENTATION module={doc.get('module')!r} is not the file name {path.stem!r}")
    argument_spec, kwargs = capture_spec(path)
    problems += compare(path.stem, doc.get("options") or {}, argument_spec)
    if "supports_check_mode" not in kwargs:
        problems.append("AnsibleModule() does not declare supports_check_mode")
    for task in examples or []:
        if f"{FQCN}.{path.stem}" not in task:
            problems.append(f"example {task.get('name')!r} does not call {FQCN}.{path.stem}")
    return problems


def main() -> int:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "plugins" / "modules"
    modules = sorted(p for p in directory.glob("*.py") if p.name != "__init__.py")
    if not modules:
        print(f"check_modules: no modules in {directory}", file=sys.stderr)
        return 1
    bad = 0
    for path in modules:
        problems = check(path)
        for p in problems:
            print(f"{path.relative_to(directory.parent.parent)}: {p}")
        bad += bool(problems)
    print(f"check_modules: {len(modules)} modules, {bad} with findings")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
