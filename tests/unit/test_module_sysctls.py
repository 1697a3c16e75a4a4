"""The module role knows every writable net.netchannel sysctl of the kernel module, with the
module's own range and default: a sysctl added to nc_main.c without the role learning it would
be refused by the role (out of SYSCTL_RANGES) or left at a stale value when a profile changes."""

import re
from pathlib import Path

import collection_utils  # tools/
import yaml

ROOT = Path(__file__).resolve().parents[2]
SYSCTL_RANGES = collection_utils.load("netchannel_module").SYSCTL_RANGES
SRC = ROOT / "module_src"
# include/net/tcp.h of the kernel (not in this tree): the limits TCP itself puts on keepalive.
KERNEL_CONSTANTS = {"MAX_TCP_KEEPIDLE": "32767", "MAX_TCP_KEEPCNT": "127"}


def _macros() -> dict[str, str]:
    out = dict(KERNEL_CONSTANTS)
    for header in (
        SRC / "include/uapi/linux/netchannel.h",
        SRC / "netchannel/nc_credit.h",
        SRC / "netchannel/nc_impl.h",
    ):
        for name, value in re.findall(r"^#define\s+(\w+)\s+(\S+)", header.read_text(), re.M):
            out[name] = value
    return out


def _value(expr: str, macros: dict[str, str]) -> int | str:
    expr = expr.strip()
    for _ in range(3):
        expr = re.sub(r"\b[A-Z_][A-Z0-9_]*\b", lambda m: macros.get(m.group(0), m.group(0)), expr)
    if expr.startswith('"'):
        return expr.strip('"')
    expr = re.sub(r"\b(0x[0-9a-fA-F]+|\d+)u\b", r"\1", expr)
    assert re.fullmatch(r"[0-9a-fx <*]+", expr), f"cannot evaluate {expr!r}"
    return int(eval(expr, {"__builtins__": {}}))  # noqa: S307 (digits, <<, * only: checked above)


LONG_VECTORS: list = []


def _module_sysctls() -> dict[str, dict]:
    """name -> {default, min, max} of every writable (0644) sysctl in nc_main.c."""
    text = (SRC / "netchannel/nc_main.c").read_text()
    macros = _macros()
    statics = {n: _value(v, macros) for n, v in re.findall(r"^static int (nc_\w+) = ([^;]+);", text, re.M)}
    statics.update(dict.fromkeys(re.findall(r"^static int (nc_\w+);", text, re.M), 0))
    init = re.search(r"nc_tun = \{(.*?)\n\};", text, re.S).group(1)
    defaults = {f: _value(v, macros) for f, v in re.findall(r"^\s*\.(\w+)\s*=\s*([^,\n]+),", init, re.M)}
    out = {}
    for entry in re.findall(r"\{\s*\n(\s*\.procname.*?)\n\s*\},", text, re.S):
        fields = dict(re.findall(r"\.(\w+)\s*=\s*([^,]+),", entry))
        if fields["mode"] != "0644":
            continue
        if fields["proc_handler"].strip() == "proc_doulongvec_minmax":
            # `mem` (min pressure max pages, as tcp_mem): defaults from the host's RAM, set by
            # the operator with sysctl; the role's profiles do not carry it (docs/module.md §10)
            LONG_VECTORS.append(_value(fields["procname"], macros))
            continue
        name = _value(fields["procname"], macros)
        field = fields["data"].split(".", 1)[1]
        out[name] = {
            "default": defaults[field],
            "min": statics[fields["extra1"].lstrip("&")],
            "max": statics[fields["extra2"].lstrip("&")],
        }
    return out


def test_the_module_table_is_read():
    LONG_VECTORS.clear()
    sysctls = _module_sysctls()
    assert sysctls["chan_wait_ms"] == {"default": 3000, "min": 0, "max": 3600000}
    assert "reset_channels" not in sysctls  # write-only trigger, not a setting
    assert "mem" not in sysctls
    assert LONG_VECTORS == ["mem"]  # the only sysctl the role leaves alone


def test_role_ranges_are_the_modules():
    module = {n: (v["min"], v["max"]) for n, v in _module_sysctls().items()}
    assert module == SYSCTL_RANGES


def test_role_defaults_are_the_modules():
    role_vars = yaml.safe_load((ROOT / "roles/netchannel_module/vars/main.yml").read_text())
    defaults = role_vars["__netchannel_module_sysctl_defaults"]
    assert defaults == {n: v["default"] for n, v in _module_sysctls().items()}
