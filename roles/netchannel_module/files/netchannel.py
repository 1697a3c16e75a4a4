#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""netchannel: run an unmodified program over NetChannel sockets (installed by netchannel.deploy).

  netchannel run [--ports P,..] [--addrs A,..] [--strict] [--debug] PROGRAM [ARGS...]
  netchannel status

`run` starts PROGRAM with the NetChannel LD_PRELOAD shim: its IPv4 TCP sockets become
NetChannel sockets (all of them, or only those that bind or connect to the given ports
or addresses). `status` prints /proc/net/netchannel.
"""

from __future__ import annotations

import argparse
import os
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
    run.add_argument("program")
    run.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("status", help="print /proc/net/netchannel")
    return ap.parse_args(argv)


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
    try:
        os.execvpe(args.program, [args.program, *args.args], env)  # noqa: S606 -- running PROGRAM is the point
    except OSError as exc:
        return fail(f"cannot run {args.program}: {exc.strerror}")
    return 127  # pragma: no cover -- exec does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
