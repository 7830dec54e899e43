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

"""Run the real qemu-img and turn its failures into one-line reasons.

Messages reach users (Glance task messages), so server paths are replaced
by "the image" and qemu-img's own prefixes are dropped.
"""

import shutil
import sys

from oslo_concurrency import processutils
from oslo_utils import units

from xenimage_import import exception

# Glance's QEMU_IMG_PROC_LIMITS: qemu-img info/check on a hostile file must
# not spin or balloon.
INSPECTION_LIMITS = processutils.ProcessLimits(cpu_time=30,
                                               address_space=1 * units.Gi)


def reason(stderr, paths=()):
    """The last meaningful line of qemu-img's stderr, without paths."""
    lines = [ln.strip() for ln in (stderr or '').splitlines() if ln.strip()]
    line = lines[-1] if lines else ''
    for path in paths:
        line = line.replace("'%s'" % path, 'the image')
        line = line.replace(path, 'the image')
    for prefix in ('qemu-img: ', 'Could not open the image: '):
        if line.startswith(prefix):
            line = line[len(prefix):]
    return line


def command(args, limits=None, python_exec=None):
    """The argv that runs ``qemu-img *args``, under ``limits`` if given.

    util-linux's ``prlimit`` applies the limits without starting a Python
    interpreter; oslo.concurrency's wrapper (what Glance uses) is the
    fallback where it is missing.
    """
    argv = ['qemu-img'] + list(args)
    if limits is None:
        return argv
    rlimits = ['--as=%d' % limits.address_space,
               '--cpu=%d' % limits.cpu_time]
    if shutil.which('prlimit'):
        return ['prlimit'] + rlimits + ['--'] + argv
    return ([python_exec or sys.executable, '-m',
             'oslo_concurrency.prlimit'] + rlimits + ['--'] + argv)


def run(args, paths, error, limits=None, python_exec=None,
        check_exit_code=True, error_class=exception.InvalidImage):
    """Run ``qemu-img *args``; return (stdout, stderr).

    :param paths: file paths in ``args``, scrubbed from error messages.
    :param error: message prefix for a failure, e.g. "cannot read the
        qcow2 image".
    :param error_class: what a failure raises: InvalidImage while judging
        an upload, ConversionFailed while decoding one already judged.
    """
    if shutil.which('qemu-img') is None:
        raise exception.ConversionFailed(
            'cannot run qemu-img: it is not installed on this server '
            '(Debian/Ubuntu package qemu-utils)')
    try:
        return processutils.execute(*command(args, limits, python_exec),
                                    check_exit_code=check_exit_code)
    except processutils.ProcessExecutionError as e:
        raise error_class('%s: %s' % (
            error, reason(e.stderr, paths) or 'qemu-img failed'))
    except OSError as e:
        raise exception.ConversionFailed('cannot run qemu-img: %s'
                                         % e.strerror)
