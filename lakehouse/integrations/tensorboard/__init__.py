"""TensorBoard log dirs into the lakehouse: ``import_logdir`` once, or ``follow_logdir`` while training writes.

Needs the ``tensorboard`` extra (``pip install 'lakehouse[tensorboard]'``): the ``tensorboard`` package's
compiled ``Event`` protos and tensor decoding (never TensorFlow) and ``google-crc32c`` for the record checksums.
"""

from __future__ import annotations

from lakehouse._optional import import_optional

# Before the modules that use them: a missing extra is one message naming it, not an ImportError deep inside.
import_optional("tensorboard", extra="tensorboard", purpose="reading TensorBoard event files")
import_optional("google_crc32c", extra="tensorboard", purpose="checking TensorBoard event records")

from lakehouse.integrations.tensorboard.follow import follow_logdir  # noqa: E402
from lakehouse.integrations.tensorboard.importer import (  # noqa: E402
    TensorBoardReport,
    check_logdir,
    import_logdir,
)

__all__ = ["TensorBoardReport", "check_logdir", "follow_logdir", "import_logdir"]
