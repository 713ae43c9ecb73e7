"""`akhbar` with every write under one folder failing with ENOSPC while a flag file exists.

Usage: python -m tests.reliability.enospc FOLDER FLAG AKHBAR_ARGS...

The disk-full test's last resort, for machines where neither a tmpfs nor a loop
device may be mounted: the JSON sink's own writes (os.write) fail as on a full
disk. SQLite's writes are not reached, so the real file systems are preferred.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path


def main() -> None:
    folder, flag = str(Path(sys.argv[1]).resolve()), Path(sys.argv[2])
    real_write = os.write

    def write(fd: int, data: bytes) -> int:  # type: ignore[type-arg]
        if flag.exists() and os.readlink(f"/proc/self/fd/{fd}").startswith(folder):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    os.write = write  # type: ignore[assignment]
    sys.argv = ["akhbar", *sys.argv[3:]]
    from akhbar.cli import main as akhbar

    akhbar()


if __name__ == "__main__":
    main()
