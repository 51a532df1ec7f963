"""A development deployment's secrets, made once and kept in its keys folder.

A configured secret always wins; where none is configured and the deployment is a
development one (`ganxun up`, the tests), each secret is a random one written once under
`.state/keys/` (mode 600) and read by every process of the deployment after that. Used by
teaching's check-in codes and selection's cadre ids.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def kept_secret(path: Path) -> bytes:
    """The secret in `path`, made (32 random bytes, hex) if there is none yet."""
    if not path.exists():
        # written whole under another name, then linked in: two processes starting at once
        # agree on one secret (the second link fails and that process reads the first's)
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip().encode()
