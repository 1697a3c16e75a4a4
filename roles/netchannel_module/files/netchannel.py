#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""netchannel: run an unmodified program over NetChannel sockets (installed by netchannel.deploy).

  netchannel run [--ports P,..] [--addrs A,..] [--strict] [--debug] PROGRAM [ARGS...]
  netchannel status

`run` starts PROGRAM with the NetChannel LD_PRELOAD shim: its IPv4 TCP sockets become
NetChannel sockets (all of them, or only those that bind or connect to the given ports
or addresses). `status` prints /proc/net/netchannel.

A preloaded library reaches only the socket calls a program makes through the C library:
`run` refuses a statically linked program and a Go program (Go makes its own system calls),
whose sockets would stay TCP without a word; --unchecked runs them anyway.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHIM = Path(os.environ.get("NETCHANNEL_SHIM", HERE.parent / "lib" / "netchannel" / "nc_preload.so"))
PROC = Path(os.environ.get("NETCHANNEL_PROC", "/proc/net/netchannel"))


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="netchannel", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run PROGRAM over NetChannel")
    run.add_argument("--ports", help="only sockets that bind or connect to these ports (comma list)")
    run.add_argument("--addrs", help="only sockets that connect to these IPv4 addresses (comma list)")
    run.add_argument("--strict", action="store_true", help="fail instead of falling back to TCP")
    run.add_argument("--debug", action="store_true", help="the shim logs to stderr")
    run.add_argument("--unchecked", action="store_true", help="run a static or Go program too (its sockets stay TCP)")
    run.add_argument("program")
    run.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("status", help="print /proc/net/netchannel")
    return ap.parse_args(argv)


PT_INTERP = 3
ET_EXEC, ET_DYN = 2, 3


def _elf_facts(fh) -> tuple[list[int], list[bytes]] | None:
    """The program header types and the section names of the ELF file fh, or None if it is not
    ELF. Raises struct.error or ValueError when its headers are cut short."""
    head = fh.read(64)
    if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    wide, end = head[4] == 2, "<" if head[5] == 1 else ">"
    if struct.unpack_from(end + "H", head, 16)[0] not in (ET_EXEC, ET_DYN):
        return None  # an object file or a core dump: exec will say what it thinks of it
    file_size = os.fstat(fh.fileno()).st_size
    word = end + ("Q" if wide else "I")
    phoff, shoff = struct.unpack_from(word + word[1:], head, 32 if wide else 28)
    phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(end + "HHHHH", head, 54 if wide else 42)

    def read_at(offset: int, size: int) -> bytes:
        if offset + size > file_size:
            raise ValueError("ELF headers point past the end of the file")
        fh.seek(offset)
        got = fh.read(size)
        if len(got) != size:
            raise ValueError("ELF file cut short")
        return got

    table = read_at(phoff, phnum * phentsize) if phnum else b""
    types = [struct.unpack_from(end + "I", table, i * phentsize)[0] for i in range(phnum)]
    names: list[bytes] = []
    if shoff and shnum and shstrndx < shnum:
        sections = read_at(shoff, shnum * shentsize)
        # sh_offset and sh_size of the section-name table: at 24 and 32 (64-bit), 16 and 20 (32-bit)
        str_off, str_size = struct.unpack_from(word + word[1:], sections, shstrndx * shentsize + (24 if wide else 16))
        strings = read_at(str_off, min(str_size, 1 << 20))
        for i in range(shnum):
            at = struct.unpack_from(end + "I", sections, i * shentsize)[0]
            names.append(strings[at : strings.index(b"\0", at)])
    return types, names


def elf_bypass(path: str) -> str | None:
    """Why the shim cannot reach the ELF program at path ("statically linked", "a Go program"),
    or None: it is dynamically linked and uses the C library, or it is not ELF (a script: the
    shim follows its interpreter through the environment), or it cannot be read (exec will say)."""
    try:
        with open(path, "rb") as fh:
            facts = _elf_facts(fh)
    except (OSError, OverflowError, struct.error, ValueError):
        return None
    if facts is None:
        return None
    types, names = facts
    if b".note.go.buildid" in names or b".go.buildinfo" in names:
        return "a Go program (Go makes its own system calls, so the shim never sees its sockets)"
    if PT_INTERP not in types:
        return "statically linked (no dynamic loader, so LD_PRELOAD is never read)"
    return None


def fail(msg: str) -> int:
    print(f"netchannel: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    args = parse(argv)
    if not PROC.exists():
        return fail(f"the netchannel kernel module is not loaded ({PROC} is missing): modprobe netchannel")
    if args.cmd == "status":
        sys.stdout.write(PROC.read_text())
        return 0
    if not SHIM.is_file():
        return fail(f"{SHIM} is missing: reinstall with the netchannel.deploy.netchannel_module role")
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(p for p in (str(SHIM), env.get("LD_PRELOAD", "")) if p)
    for flag, var in ((args.ports, "NC_PRELOAD_PORTS"), (args.addrs, "NC_PRELOAD_ADDRS")):
        if flag:
            env[var] = flag
    if args.strict:
        env["NC_PRELOAD_STRICT"] = "1"
    if args.debug:
        env["NC_PRELOAD_DEBUG"] = "1"
    found = shutil.which(args.program, path=env.get("PATH")) if "/" not in args.program else args.program
    why = elf_bypass(found) if found and not args.unchecked else None
    if why:
        return fail(
            f"{found} is {why}: its TCP sockets would not move to NetChannel. "
            "Run it with --unchecked to start it anyway over TCP."
        )
    try:
        os.execvpe(args.program, [args.program, *args.args], env)  # noqa: S606 -- running PROGRAM is the point
    except OSError as exc:
        return fail(f"cannot run {args.program}: {exc.strerror}")
    return 127  # pragma: no cover -- exec does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
