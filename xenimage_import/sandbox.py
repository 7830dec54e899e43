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

"""Confine a child to its input, its output and no network.

qemu-img parses what an upload says; should a crafted image ever turn it,
it must find nothing to read but its input, nothing to write but its
output, and no network. Two kernel features, each used where the
platform allows and detected once per process:

* Landlock (Linux 5.13 on): the child may execute and read the system's
  programs and libraries (``/usr``, ``/lib*``, ``/bin``, ``/sbin``,
  ``/etc/ld.so.cache``), read its input and write its output, and
  nothing else; from ABI 4 (Linux 6.7) no TCP bind or connect.
* A network namespace of its own (``unshare(CLONE_NEWNET)``, in a user
  namespace when not root): no interface but a loopback that is down.

Either missing is logged once and the child runs with its resource
limits only (doc/source/hostile-uploads.rst, "Children").
The confinement is applied between fork and exec, from a function that
only makes system calls prepared beforehand.
"""

import ctypes
import dataclasses
import logging
import os
import threading
import typing

LOG = logging.getLogger(__name__)

# Linux system call numbers (the same on x86_64 and aarch64).
_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000

# Filesystem rights, by the ABI that brought them.
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
_FS_ABI1 = (1 << 13) - 1              # execute ... make_sym
_FS_REFER = 1 << 13                   # ABI 2
_FS_TRUNCATE = 1 << 14                # ABI 3
_FS_IOCTL_DEV = 1 << 15               # ABI 5
_NET_TCP = (1 << 0) | (1 << 1)        # bind, connect: ABI 4
READ = FS_READ_FILE | FS_READ_DIR
READ_EXEC = READ | FS_EXECUTE
WRITE = FS_WRITE_FILE | _FS_TRUNCATE
# Work directories: files and directories made, written, removed.
MAKE = READ | WRITE | FS_MAKE_REG | FS_MAKE_DIR | FS_REMOVE_FILE | \
    FS_REMOVE_DIR

# What running a program needs, read-only.
SYSTEM_PATHS = ('/usr', '/lib', '/lib64', '/lib32', '/bin', '/sbin',
                '/etc/ld.so.cache')


class _RulesetAttr(ctypes.Structure):
    _fields_ = [('handled_access_fs', ctypes.c_uint64),
                ('handled_access_net', ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [('allowed_access', ctypes.c_uint64),
                ('parent_fd', ctypes.c_int32)]


@dataclasses.dataclass(frozen=True)
class Policy(object):
    """What one child may touch besides the system's programs."""

    read: typing.Tuple[str, ...] = ()
    write: typing.Tuple[str, ...] = ()
    # Directories it makes and removes files in (a worker's work files).
    make: typing.Tuple[str, ...] = ()
    # Programs beyond the system's (a Python outside /usr).
    execute: typing.Tuple[str, ...] = ()
    # False: writing files the child may open anyway is not guarded (its
    # output is a memfd, which no rule can name); creating, removing and
    # reading still are.
    confine_writes: bool = True


@dataclasses.dataclass(frozen=True)
class Support(object):
    landlock_abi: int
    netns: int                 # unshare flags that work, or 0

    def describe(self):
        parts = []
        if self.landlock_abi:
            parts.append('Landlock ABI %d (files%s)' % (
                self.landlock_abi, ', TCP' if self.landlock_abi >= 4
                else ''))
        if self.netns:
            parts.append('a network namespace')
        return ' and '.join(parts) or 'nothing'


_libc = ctypes.CDLL(None, use_errno=True)
_support = None
_support_lock = threading.Lock()


def _landlock_abi():
    abi = _libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                        ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(abi, 0)


def _netns_flags():
    """The unshare flags that give a child its own network, or 0."""
    for flags in (_CLONE_NEWNET, _CLONE_NEWUSER | _CLONE_NEWNET):
        pid = os.fork()
        if pid == 0:
            os._exit(0 if _libc.unshare(flags) == 0 else 1)
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            return flags
    return 0


def support():
    """What this platform offers, detected once and logged once."""
    global _support
    with _support_lock:
        if _support is None:
            _support = Support(_landlock_abi(), _netns_flags())
            if _support.landlock_abi and _support.netns:
                LOG.info('children are confined by %s',
                         _support.describe())
            else:
                LOG.warning('children are confined by %s only: %s; they '
                            'run with resource limits (see the hostile '
                            'uploads documentation)', _support.describe(),
                            'no Landlock' if not _support.landlock_abi
                            else 'no network namespace')
        return _support


def _handled(abi):
    rights = _FS_ABI1
    if abi >= 2:
        rights |= _FS_REFER
    if abi >= 3:
        rights |= _FS_TRUNCATE
    if abi >= 5:
        rights |= _FS_IOCTL_DEV
    return rights


def _ruleset(abi, policy):
    """A Landlock ruleset for ``policy``, built here; its descriptor.

    A path that is absent (``/lib32``), or that Landlock need not guard
    (a memfd named by ``/proc/<pid>/fd/<n>``: files of internal
    filesystems stay reachable), adds no rule.
    """
    handled = _handled(abi)
    if not policy.confine_writes:
        handled &= ~WRITE
    attr = _RulesetAttr(handled, _NET_TCP if abi >= 4 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 4 else 8
    ruleset = _libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr),
                            ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), 'cannot create a Landlock ruleset')
    wanted = [(p, READ_EXEC) for p in SYSTEM_PATHS + policy.execute] + \
        [(p, READ) for p in policy.read] + \
        [(p, READ | WRITE) for p in policy.write] + \
        [(p, MAKE) for p in policy.make]
    for path, access in wanted:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if not os.path.isdir(path):
                access &= FS_EXECUTE | FS_READ_FILE | WRITE
            rule = _PathBeneathAttr(access & handled, fd)
            if _libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH,
                             ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                LOG.debug('no Landlock rule for %s: %s', path,
                          os.strerror(ctypes.get_errno()))
        finally:
            os.close(fd)
    return ruleset


def prepare(policy):
    """The function to run in the child before exec, or None.

    The ruleset is built here, in the parent: between fork and exec the
    child only makes three system calls. The caller closes the ruleset
    with :func:`release` once the child is started.
    """
    found = support()
    if not (found.landlock_abi or found.netns):
        return None
    ruleset = _ruleset(found.landlock_abi, policy) \
        if found.landlock_abi else -1
    netns = found.netns

    def confine():
        if netns and _libc.unshare(netns) != 0:
            os._exit(126)
        if ruleset >= 0 and (
                _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                or _libc.syscall(_SYS_RESTRICT_SELF, ruleset,
                                 ctypes.c_uint32(0)) != 0):
            os._exit(126)

    confine.ruleset = ruleset
    return confine


def confine_self(policy):
    """Confine this process from now on (call it single-threaded).

    For a process its parent cannot confine: the Glance plugin's worker
    (a server may run Python in sub-interpreters, where nothing may run
    between fork and exec). A forked probe tries it first, since a
    failing confinement ends the process that tries. Returns what was
    applied, for the log.
    """
    confine = prepare(policy)
    if confine is None:
        return 'nothing'
    try:
        probe = os.fork()
        if probe == 0:
            confine()
            os._exit(0)
        _, status = os.waitpid(probe, 0)
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            return 'nothing (the confinement failed in a probe)'
        confine()
    finally:
        release(confine)
    return support().describe()


def release(confine):
    """Close the ruleset :func:`prepare` built."""
    ruleset = getattr(confine, 'ruleset', -1)
    if ruleset >= 0:
        os.close(ruleset)
