#!/usr/bin/env python3
"""Remove old NetChannel kernel builds: the build host's cache and work trees, and the controller's copies.

Keeps the newest KEEP builds (default 4: the lab kernel, the debug kernel and room for
a rebuild), by the time each was built. The kernel role prunes its build cache the same
way after each build; this also covers the controller's artifacts directory.

  prune_kernels.py [--keep N] [--cache DIR] [--work DIR] [--artifacts DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path


def prune_dir(root: Path, keep: int, skip: tuple[str, ...] = ()) -> list[Path]:
    if not root.is_dir():
        return []
    entries = sorted((p for p in root.iterdir() if p.is_dir() and p.name not in skip), key=lambda p: p.stat().st_mtime)
    old = entries[:-keep] if keep > 0 else entries
    for p in old:
        shutil.rmtree(p, ignore_errors=True)
    return old


def busy_trees(work: Path, max_age_s: float = 86400.0) -> tuple[str, ...]:
    """Build trees whose build.log changed within max_age_s: a build may still be running there."""
    if not work.is_dir():
        return ()
    now = time.time()
    return tuple(
        p.name
        for p in work.iterdir()
        if (p / "build.log").exists() and now - (p / "build.log").stat().st_mtime < max_age_s
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", type=int, default=4)
    ap.add_argument("--cache", type=Path, default=Path("/var/tmp/netchannel-kernel/cache"))
    ap.add_argument("--work", type=Path, default=Path("/var/tmp/netchannel-kernel/work"))
    ap.add_argument("--artifacts", type=Path, default=Path.home() / ".cache" / "netchannel" / "kernel")
    args = ap.parse_args(argv)
    if args.keep < 1:
        print(f"prune_kernels: --keep {args.keep} must be at least 1", file=sys.stderr)
        return 2
    removed = prune_dir(args.cache, args.keep) + prune_dir(args.artifacts, args.keep)
    # Build trees exist only while a build runs or after one failed; keep the staged inputs,
    # and any tree whose build log changed in the last day (a build may be running).
    removed += prune_dir(args.work, 0, skip=("inputs", "git", *busy_trees(args.work)))
    for p in removed:
        print(f"removed {p}")
    print(f"prune_kernels: {len(removed)} old kernel build(s) or tree(s) removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
