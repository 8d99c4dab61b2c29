"""Named points of the store's write path where a test can kill the writing process.

The reliability tests (``tests/reliability/test_kill.py``) run an ingest in a subprocess with
``GEO_SERVICE_FAULT_AT=<phase>``; when the write reaches that phase the process sends itself
SIGKILL, exactly as ``kill -9`` would, at a known point rather than after a guessed sleep. Unset
(always, outside those tests) a fault point costs one environment look-up.
"""

from __future__ import annotations

import os
import signal

#: The variable naming the phase at which the process kills itself.
FAULT_ENV = "GEO_SERVICE_FAULT_AT"

#: The phases of a write, in order (the store is the version before until ``current-replaced``).
PHASES: tuple[str, ...] = (
    "staging-created",  # an empty staging directory exists beside the published version
    "partitions-written",  # every partition and held file of the new version is staged
    "rejects-written",  # the ingest's rejects file is in <store>/rejects/
    "manifest-staged",  # the new manifest is in the staging directory
    "manifest-sealed",  # the file checksums are in the staged manifest
    "version-renamed",  # staging renamed to versions/vNNNNNN; CURRENT still names the old one
    "current-replaced",  # CURRENT names the new version; older versions not yet pruned
    "published",  # the write has finished
)

#: The phases of publishing a store at a URL (:mod:`geo_service.store.remote_write`), which
#: follow the local write's in its working copy.
REMOTE_PHASES: tuple[str, ...] = (
    "remote-files-written",  # the new version's objects are uploaded; CURRENT names the old one
    "remote-current-replaced",  # CURRENT at the URL names the new version; lock not yet removed
)


def fault_point(phase: str) -> None:
    """Kill this process with SIGKILL if ``GEO_SERVICE_FAULT_AT`` names ``phase``."""
    if os.environ.get(FAULT_ENV) == phase:
        os.kill(os.getpid(), signal.SIGKILL)
