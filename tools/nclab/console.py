"""`nclab console HOST`: the VM's serial console, interactively (Ctrl-] leaves)."""

from __future__ import annotations

import os
import select
import socket
import sys
import termios
import tty
from pathlib import Path

from .errors import LabError

ESCAPE = b"\x1d"  # Ctrl-]


def attach(sock_path: Path, name: str) -> None:
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.connect(str(sock_path))
    except OSError as exc:
        raise LabError(
            f"cannot attach to the serial console of {name} ({sock_path}): {exc}",
            hint="is the lab up? `nclab status` names each console log too",
        ) from None
    interactive = sys.stdin.isatty()
    old = termios.tcgetattr(sys.stdin) if interactive else None
    print(f"[console of {name}; Ctrl-] to leave]", file=sys.stderr)
    try:
        if interactive:
            tty.setraw(sys.stdin)
        sock.sendall(b"\r")
        while True:
            ready, _, _ = select.select([sock, sys.stdin], [], [])
            if sock in ready:
                data = sock.recv(4096)
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
            if sys.stdin in ready:
                data = os.read(sys.stdin.fileno(), 1024)
                if not data or ESCAPE in data:
                    break
                sock.sendall(data)
    finally:
        if old is not None:
            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, old)
        sock.close()
        print("\n[left the console]", file=sys.stderr)
