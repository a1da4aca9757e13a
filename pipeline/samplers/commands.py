"""Killing a command that ran past its time, without waiting on it for ever.

The samplers that run commands (``amps``, ``smart``, ``vms``) start them in a process
group of their own, without a shell.  Past its timeout a command's group is killed;
the child is then reaped, but only for :data:`REAP_WAIT` seconds: a process stuck in
the kernel (uninterruptible sleep, e.g. ``smartctl`` on a failing disk or ``df`` on a
dead network mount) does not die until its system call returns, and waiting for it
would hang the sampler's worker thread far past its budget.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from typing import Any

log = logging.getLogger(__name__)

#: seconds to wait for a killed command to be reaped
REAP_WAIT = 1.0


def kill(proc: subprocess.Popen[Any]) -> None:
    """Kill ``proc``'s process group, close its pipes, and reap it if it dies within
    :data:`REAP_WAIT` seconds (else it is left behind, logged)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    try:
        proc.wait(timeout=REAP_WAIT)
    except subprocess.TimeoutExpired:
        log.warning(
            "%s (pid %d) did not die when killed (stuck in the kernel?); left behind",
            proc.args[0] if isinstance(proc.args, list | tuple) else proc.args,
            proc.pid,
        )
