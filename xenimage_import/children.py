# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Every child process: resource limits, a group of its own, a deadline.

A child gets a CPU-time and an address-space limit (util-linux ``prlimit``,
or oslo.concurrency's wrapper where it is missing), runs in a process
group of its own registered with :mod:`cleanup` (a signal to this process
kills it), and is killed with its group when its wall-clock deadline
passes: a child blocked in ``open(2)`` on a FIFO uses no CPU, so only the
deadline ends it. Given a :class:`sandbox.Policy`, it is also confined to
its input and output, without network (:mod:`xenimage_import.sandbox`).
qemu-img (:mod:`xenimage_import.source.qemu`) and the Glance plugin's
conversion worker (:mod:`xenimage_import.glance.worker`) are started this
way.
"""

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import threading

from xenimage_import import cleanup
from xenimage_import import sandbox as sandbox_


@dataclasses.dataclass(frozen=True)
class Limits(object):
    cpu_time: int          # seconds of CPU
    address_space: int     # bytes
    wall_time: int         # seconds before the process group is killed


@dataclasses.dataclass(frozen=True)
class ChildContext(object):
    """What every child needs besides its arguments and limits.

    :param python_exec: the Python that runs Python children and applies
        the limits where util-linux's ``prlimit`` is missing
        (oslo.concurrency's wrapper). Inside Glance it is ``[wsgi]
        python_interpreter`` where the release has it: under uWSGI the
        current executable is not Python.
    """

    python_exec: str = sys.executable


# Set once per process by the adapter that knows (the Glance plugin);
# commands keep the default.
_context = ChildContext()
# The directory of the xenimage_import package.
_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def set_context(context):
    """Use ``context`` for every child started from now on."""
    global _context
    _context = context


def context():
    return _context


def limited(argv, limits):
    """``argv`` run under ``limits``.

    ``prlimit`` applies them without starting a Python interpreter;
    oslo.concurrency's wrapper (what Glance uses) is the fallback where it
    is missing. Both exec the command, so it stays the caller's child.
    ``--`` keeps a file name that starts with ``-`` from being read as an
    option by either.
    """
    rlimits = ['--as=%d' % limits.address_space,
               '--cpu=%d' % limits.cpu_time]
    if shutil.which('prlimit'):
        return ['prlimit'] + rlimits + ['--'] + list(argv)
    return ([_context.python_exec, '-m',
             'oslo_concurrency.prlimit'] + rlimits + ['--'] + list(argv))


def python_paths():
    """What a Python child runs and reads: this Python's own paths.

    Its prefixes, its path, and this package's own directory: an editable
    install (``pip install -e``, as devstack does) puts the package on no
    path entry but behind an import hook, and a confined child still
    imports some of it on first use (the helper it loads by name).
    """
    return tuple({sys.prefix, sys.base_prefix, sys.exec_prefix,
                  os.path.dirname(os.path.realpath(_context.python_exec)),
                  _PACKAGE} | {p for p in sys.path if p})


class Child(object):
    """A limited process in a process group of its own, with a deadline.

    Use as a context manager: leaving it (normally, on an exception or a
    signal turned into one) kills the whole group if it still runs.

    :param sandbox: a :class:`sandbox.Policy` confining the child to the
        paths it names (and the system's programs), without network.
    :raises OSError: the program cannot be started.
    """

    def __init__(self, argv, limits, env=None, sandbox=None, **popen):
        self.limits = limits
        self.timed_out = False
        command = limited(argv, limits)
        confine = None
        if sandbox is not None:
            if command[0] != 'prlimit':
                # oslo.concurrency's wrapper is Python: it runs and reads
                # its own.
                python = python_paths()
                sandbox = dataclasses.replace(
                    sandbox, read=sandbox.read + python,
                    execute=sandbox.execute + python)
            confine = sandbox_.prepare(sandbox)
        try:
            self.proc = subprocess.Popen(
                command, start_new_session=True, preexec_fn=confine,
                env=dict(os.environ, **(env or {})), **popen)
        finally:
            sandbox_.release(confine)
        cleanup.add_group(self.proc.pid)
        self._timer = threading.Timer(limits.wall_time, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self):
        self.timed_out = True
        self.kill()

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self):
        self._timer.cancel()
        if self.proc.poll() is None:
            self.kill()
        self.proc.wait()
        cleanup.discard_group(self.proc.pid)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
