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

"""What a command must undo if a signal ends it: work files, qemu-img.

Raising an exception from a signal handler can land inside a lock held by
the threaded gzip writer and hang the process. So on SIGTERM/SIGHUP the
commands do not unwind: they kill the process groups of running qemu-img
children, remove the work files in flight, and exit at once
(:func:`exit_on_signal`). Library code registers both here while they
exist; in Glance (which never installs the handler) this costs a set
insertion.
"""

import contextlib
import os
import signal
import sys

_PATHS = set()
_GROUPS = set()


def add_path(path):
    _PATHS.add(path)


def discard_path(path):
    _PATHS.discard(path)


def remove(path):
    """Remove a work file if it is still there, and forget it."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    discard_path(path)


def add_group(pgid):
    _GROUPS.add(pgid)


def discard_group(pgid):
    _GROUPS.discard(pgid)


def _exit_now(signum, frame):
    for pgid in list(_GROUPS):
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    for path in list(_PATHS):
        with contextlib.suppress(OSError):
            os.unlink(path)
    prog = os.path.basename(sys.argv[0]) or 'xenimage'
    os.write(2, ('%s: error: interrupted by signal %d\n'
                 % (prog, signum)).encode())
    os._exit(128 + signum)


def exit_on_signal(signums=(signal.SIGTERM, signal.SIGHUP)):
    """Clean up and exit with 128 + signal number on these signals."""
    for signum in signums:
        signal.signal(signum, _exit_now)
