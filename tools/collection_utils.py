"""Load one of the collection's module_utils files by name, for the repository's own tools.

The tools run from a checkout, where `ansible_collections.netchannel.deploy` may not be importable.
"""

import importlib.util
import sys
from pathlib import Path

_DIR = Path(__file__).resolve().parents[1] / "plugins" / "module_utils"


def load(name: str):
    """plugins/module_utils/<name>.py as module `name` (loaded once)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _DIR / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # dataclasses look their module up while the class is built
        spec.loader.exec_module(mod)
    return sys.modules[name]
