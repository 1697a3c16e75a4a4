"""nclab: manage the local QEMU lab that the NetChannel collection is tested on.

nclab up [--count N]     build/fetch the image, boot N VMs, write the inventory
nclab down               stop every VM, remove overlays, netns and inventory
nclab status             one line per VM, with its console log
nclab ssh HOST [CMD...]  ssh into a VM (or run CMD there)
nclab console HOST       attach to a VM's serial console (Ctrl-] leaves)
nclab image              build the guest image (or say it is cached)
nclab prune              remove cached images no recipe or running VM uses
  nclab inventory          make sure inventory/lab/hosts.yml exists (empty while down)
"""

from __future__ import annotations

import argparse
import os
import sys

from .config import LabConfig, validate_count
from .errors import LabError
from .image import Image, make_recipe, prune


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nclab", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start the lab (a no-op if it runs)")
    up.add_argument("--count", type=int, help="number of VMs (default 2, or NCLAB_COUNT)")
    sub.add_parser("down", help="stop the lab and remove its state")
    sub.add_parser("status", help="show the VMs")
    ssh = sub.add_parser("ssh", help="ssh into a VM")
    ssh.add_argument("host")
    ssh.add_argument("command", nargs=argparse.REMAINDER)
    con = sub.add_parser("console", help="attach to a VM's serial console")
    con.add_argument("host")
    sub.add_parser("image", help="build the guest image if it is not cached")
    sub.add_parser("prune", help="remove cached images that neither the current recipe nor a running VM uses")
    sub.add_parser("inventory", help="write the lab inventory (empty while the lab is down) if it is missing")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if os.geteuid() != 0 and args.cmd in ("up", "down", "image", "prune"):
            raise LabError("nclab needs root (network namespaces, tap devices, mmdebstrap)")
        cfg = LabConfig.from_env()
        if getattr(args, "count", None) is not None:
            cfg.count = validate_count(args.count, "--count")
        from .lab import Lab

        lab = Lab(cfg)
        if args.cmd == "up":
            lab.up()
        elif args.cmd == "down":
            lab.down()
        elif args.cmd == "inventory":
            lab.ensure_inventory()
        elif args.cmd == "status":
            rows = lab.status()
            if not rows:
                print("lab: not running")
            for r in rows:
                state = "running" if r["running"] else "STOPPED"
                print(
                    f"{r['name']:10} {state:8} pid={r['pid']} ssh=127.0.0.1:{r['port']} "
                    f"data={r.get('data_interface', '?')}/{r['data_ip']} accel={r['accel']} "
                    f"console={r['console']}"
                )
        elif args.cmd == "ssh":
            argv_ssh = lab.ssh_argv(args.host, args.command)
            os.execvp(argv_ssh[0], argv_ssh)  # noqa: S606 (ssh replaces nclab, as a login should)
        elif args.cmd == "console":
            lab.console(args.host)
        elif args.cmd == "image":
            Image(cfg, make_recipe(cfg)).ensure()
        elif args.cmd == "prune":
            removed = prune(cfg.cache_dir, keep={make_recipe(cfg).key})
            for old in removed:
                print(f"removed {old}")
            print(f"nclab: {len(removed)} unused image(s) removed from {cfg.cache_dir / 'images'}")
    except LabError as exc:
        print(f"nclab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nclab: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
