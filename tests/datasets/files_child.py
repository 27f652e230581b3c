"""Runs one file dataset call in a process without root's power to bypass file permissions.

Tests run as root on this machine's CI, and root reads and writes files whatever their mode. The test starts
this script under ``setpriv`` with the ``dac_override`` and ``dac_read_search`` capabilities dropped, so an
unreadable file or a folder without write permission is what it is for any user. Prints the error's class and
message and exits 3 on a LakehouseError, 0 on success.
"""

from __future__ import annotations

import sys

import lakehouse
from lakehouse.errors import LakehouseError


def main(action: str, root: str, *args: str) -> int:
    lh = lakehouse.connect(root)
    try:
        if action == "add":
            lh.dataset(args[0]).add_files(args[1])
        elif action == "download":
            lh.download(args[0], args[1])
        else:
            raise SystemExit(f"unknown action {action!r}")
    except LakehouseError as e:
        sys.stdout.write(f"{type(e).__name__}: {e}\n")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
