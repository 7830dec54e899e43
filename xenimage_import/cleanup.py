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

"""What a process must undo if a signal ends it: files, children, remote.

Raising an exception from a signal handler can land inside a lock held by
the threaded gzip writer and hang the process. So on SIGTERM, SIGHUP and
SIGINT the commands and the plugin's worker do not unwind: they kill the
process groups of running children, remove the work files in flight, run
the registered undo actions (what lives elsewhere: a XenServer VDI, a
XAPI task, a session) in a thread for at most :data:`ACTION_SECONDS`, and
exit with 128 + the signal (:func:`exit_on_signal`). Library code
registers all three here while they exist; in Glance's own process (which
never installs the handler) this costs a set insertion.
"""

import contextlib
import os
import signal
import sys
import threading

_PATHS = set()
# (directory, prefix, suffixes): every file so named there is removed too.
_PREFIXES = set()
_GROUPS = set()
# key -> callable, newest last; run newest first.
_ACTIONS = {}
# How long the undo actions may take, together, before the exit.
ACTION_SECONDS = 15


def add_path(path):
    _PATHS.add(path)


def discard_path(path):
    _PATHS.discard(path)


def remove(path):
    """Remove a work file if it is still there, and forget it."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    discard_path(path)


def add_prefix(directory, prefix, suffixes):
    """Files named ``prefix...suffix`` in ``directory`` are work files.

    Registered before the first one is created: a signal between a file's
    creation and :func:`add_path` finds it all the same.
    """
    _PREFIXES.add((directory, prefix, tuple(suffixes)))


def remove_prefixed(directory, prefix, suffixes):
    """Remove every ``prefix...suffix`` file in ``directory``, and forget it.

    Best effort, file by file: it runs on the way out (a signal, a
    ``finally``), where an error would hide the one that matters.
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix) and name.endswith(tuple(suffixes)):
            path = os.path.join(directory, name)
            with contextlib.suppress(OSError):
                os.unlink(path)
            discard_path(path)


def add_group(pgid):
    _GROUPS.add(pgid)


def discard_group(pgid):
    _GROUPS.discard(pgid)


def add_action(key, action):
    """Run ``action()`` if a signal ends the process, until discarded.

    :func:`discard_action` (``key``) forgets it. For what the process
    cannot leave to a local sweep: an action must not use what the
    interrupted code was using (a connection in the middle of a request),
    and should give up within a few seconds.
    """
    _ACTIONS[key] = action


def discard_action(key):
    _ACTIONS.pop(key, None)


def _run_actions():
    actions = list(_ACTIONS.values())[::-1]

    def run():
        for action in actions:
            with contextlib.suppress(Exception):
                action()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(ACTION_SECONDS)


@contextlib.contextmanager
def signals_deferred():
    """A signal that arrives inside is acted on at the end, at once.

    For a call that makes something elsewhere and the registration of its
    undo: a signal in between would leave it unknown. Keep it short; the
    call inside must have a timeout.
    """
    _deferred['depth'] += 1
    try:
        yield
    finally:
        _deferred['depth'] -= 1
        signum = _deferred['pending']
        if not _deferred['depth'] and signum:
            _exit_now(signum, None)


_deferred = {'depth': 0, 'pending': None}


def _exit_now(signum, frame):
    if _deferred['depth']:
        _deferred['pending'] = signum
        return
    for signum_ in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        # A second signal while undoing ends the process at once.
        signal.signal(signum_, _exit_at_once)
    for pgid in list(_GROUPS):
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    for path in list(_PATHS):
        with contextlib.suppress(OSError):
            os.unlink(path)
    for registered in list(_PREFIXES):
        remove_prefixed(*registered)
    if _ACTIONS:
        _run_actions()
    prog = os.path.basename(sys.argv[0]) or 'xenimage'
    os.write(2, ('%s: error: interrupted by signal %d\n'
                 % (prog, signum)).encode())
    os._exit(128 + signum)


def _exit_at_once(signum, frame):
    os._exit(128 + signum)


def exit_on_signal(signums=(signal.SIGTERM, signal.SIGHUP, signal.SIGINT)):
    """Clean up and exit with 128 + signal number on these signals.

    Ctrl-C too: unwinding from it can hang in the gzip writer's locks as
    any raised exception can, and a XAPI call it interrupts leaves its
    connection unusable for the undo.
    """
    for signum in signums:
        signal.signal(signum, _exit_now)
