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

"""Run the real qemu-img under limits and turn failures into one-line reasons.

Every qemu-img process is a :class:`children.Child`: CPU-time and
address-space limits and a wall-clock deadline (a file that makes
qemu-img block, such as a FIFO named inside an upload, is killed with its
whole process group when the deadline passes). Messages reach users
(Glance task messages), so no server path survives in them.
"""

import os
import shutil
import subprocess

from oslo_utils import units

from xenimage_import import children
from xenimage_import import exception
from xenimage_import import sandbox

# The address-space limit counts reservations, not use: glibc reserves a
# 64 MiB malloc arena for each thread that allocates, and qemu's I/O
# worker threads come and go with load, so an honest image could push
# qemu-img past 1 GiB at random ("qemu_thread_create: Resource
# temporarily unavailable", seen once in 300 checks of a 512-byte-cluster
# qcow2; VmPeak 378 MB with default arenas, 154 MB with two). Two arenas
# keep the limit about the data.
_CHILD_ENV = {'MALLOC_ARENA_MAX': '2'}

# Glance's QEMU_IMG_PROC_LIMITS for judging a hostile file (info, check,
# map). Decoding a 64 MiB window needs little CPU, but qemu-img convert's
# worker threads each reserve a malloc arena and a stack: 1 GiB of address
# space is too little for VHDX's 32 MiB blocks.
INSPECTION_LIMITS = children.Limits(cpu_time=30, address_space=1 * units.Gi,
                                    wall_time=60)
DECODE_LIMITS = children.Limits(cpu_time=60, address_space=4 * units.Gi,
                                wall_time=120)


# qemu-img opens /dev/null to probe for OFD locks.
DEVICES = ('/dev/null',)


def programs():
    """The programs a qemu-img child runs, wherever PATH finds them."""
    return tuple(os.path.realpath(found) for found in (
        shutil.which('qemu-img'), shutil.which('prlimit')) if found)


def reason(stderr, paths=()):
    """The last meaningful line of qemu-img's stderr, without paths."""
    lines = [ln.strip() for ln in (stderr or '').splitlines() if ln.strip()]
    line = exception.scrub_paths(lines[-1] if lines else '', paths)
    for prefix in ('qemu-img: ', 'Could not open the image: '):
        if line.startswith(prefix):
            line = line[len(prefix):]
    return line


def command(args, limits):
    """The argv that runs ``qemu-img *args`` under ``limits``."""
    return children.limited(['qemu-img'] + list(args), limits)


def _require_qemu_img():
    if shutil.which('qemu-img') is None:
        raise exception.ConversionFailed(
            'cannot run qemu-img: it is not installed on this server '
            '(Debian/Ubuntu package qemu-utils)')


class Child(children.Child):
    """A qemu-img process (:class:`children.Child`), confined.

    :param reads: the files it reads (the upload); ``writes``: the one it
        writes, if any. It may touch nothing else, and has no network.
    :param confine_writes: False where its output cannot be named (a
        memfd): it may then write files it could open anyway.
    """

    def __init__(self, args, limits, reads=(), writes=(),
                 confine_writes=True, **popen):
        _require_qemu_img()
        policy = sandbox.Policy(read=tuple(reads),
                                write=tuple(writes) + DEVICES,
                                execute=programs(),
                                confine_writes=confine_writes)
        try:
            super().__init__(['qemu-img'] + list(args), limits,
                             env=_CHILD_ENV, stdin=subprocess.DEVNULL,
                             text=True, sandbox=policy, **popen)
        except OSError as e:
            raise exception.ConversionFailed('cannot run qemu-img: %s'
                                             % e.strerror)

    def check(self, stderr, paths, error, error_class, ok=(0,)):
        """Raise ``error_class`` unless it ended well, within its deadline.

        Call once the process has ended; ``ok`` are the exit codes that are
        not failures, and the message starts with ``error``.
        """
        if self.timed_out:
            raise error_class('%s: qemu-img did not finish within %d s'
                              % (error, self.limits.wall_time))
        if self.proc.returncode not in ok:
            raise error_class('%s: %s' % (
                error, reason(stderr, paths) or 'qemu-img failed'))


def run(args, paths, error, limits=INSPECTION_LIMITS, check_exit_code=(0,),
        error_class=exception.InvalidImage):
    """Run ``qemu-img *args``; return (stdout, stderr).

    :param paths: file paths in ``args``: all it may read; scrubbed from
        error messages.
    :param error: message prefix for a failure, e.g. "cannot read the
        qcow2 image".
    :param check_exit_code: the exit codes that are not failures.
    :param error_class: what a failure raises: InvalidImage while judging
        an upload, ConversionFailed while decoding one already judged.
    """
    with Child(args, limits, reads=paths, stdout=subprocess.PIPE,
               stderr=subprocess.PIPE) as child:
        out, err = child.proc.communicate()
    child.check(err, paths, error, error_class, check_exit_code)
    return out, err
