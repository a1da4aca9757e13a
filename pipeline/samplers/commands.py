"""Running a command for a sampler, and killing it past its time without waiting on it
for ever.

The samplers that run commands (``amps``, ``smart``, ``vms``, ``ports``' ping) start
them with :func:`run`: an argument list, never a shell, in a process group of their
own, stdin closed.  Past its timeout a command's group is killed;
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Finished:
    returncode: int
    stdout: bytes
    stderr: bytes


class CommandFailed(Exception):
    """The command could not be started, or ran past its timeout (``timed_out``; it was
    killed).  Its text says which, naming the program."""

    def __init__(self, why: str, *, timed_out: bool = False) -> None:
        super().__init__(why)
        self.timed_out = timed_out


def run(argv: Sequence[str], timeout: float, *, env: Mapping[str, str] | None = None) -> Finished:
    """``argv`` run to its end within ``timeout`` seconds, its output captured; raises
    :class:`CommandFailed`."""
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=None if env is None else dict(env),
            start_new_session=True,  # its own process group, killed whole on timeout
        )
    except FileNotFoundError:
        raise CommandFailed(f"Command not found: {argv[0]}") from None
    except OSError as exc:
        raise CommandFailed(f"Cannot run {argv[0]}: {exc.strerror or exc}") from None
    try:
        out, err = proc.communicate(timeout=max(timeout, 0.0))
    except subprocess.TimeoutExpired:
        # not communicate() again: a child that left the group may hold the pipes
        kill(proc)
        raise CommandFailed(
            f"Command timed out after {timeout:g} s: {argv[0]}", timed_out=True
        ) from None
    return Finished(proc.returncode, out, err)
