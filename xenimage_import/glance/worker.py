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

"""The plugin's conversion, run in a process of its own.

Inside a glance-api worker the conversion would share the process with
the API: under uWSGI one GIL with the API's threads, and under Glance 20's
eventlet server one OS thread for everything, where monkey-patched
threads make the compression threads green ones that neither run in
parallel nor let the hub serve requests while they compress. So the
plugin runs the pipeline here instead, as a :class:`children.Child`
(limits, a process group, a deadline) with the files of Glance's own
configuration: the same pipeline as ``xenimage-convert``, in an
interpreter of its own, while the API process only waits for it.

The parent has read Glance's configuration already, so it sends the
request's settings with the job; the child reads the files itself only
for a helper with options of its own (``xenserver``). The built-in
helper's worker never imports oslo.config: its start-up is part of
every conversion (on Glance 20, oslo.config's dependencies load
``pkg_resources``: 0.1 s).

The parent writes one JSON job on the child's stdin; the child answers in
JSON lines on stdout: ``{"progress": [phase, done, total]}`` and
``{"log": [level, logger, message]}`` as it goes, and last ``{"outcome":
{...}}`` or ``{"refused": message}``. It exits if its
parent does (``PR_SET_PDEATHSIG``), removing its work files as on any
signal.
"""

import argparse
import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading

from oslo_utils import units

from xenimage_import import children
from xenimage_import import cleanup
from xenimage_import import exception
from xenimage_import import helpers
from xenimage_import import pipeline
from xenimage_import import progress as progress_
from xenimage_import import sandbox
from xenimage_import.source import decode
from xenimage_import.source import inspect
from xenimage_import.source import qemu
from xenimage_import import workfiles

LOG = logging.getLogger(__name__)

# Bounds on a worker, from what the upload can honestly hold: it reads at
# most min(max_virtual_size, upload size x max_expansion_ratio) bytes of
# disk, and even the xenserver helper over a slow link moves more than
# FLOOR_RATE; START covers interpreter start-up, inspection and the
# helper's fixed costs (XAPI login, VDI create and destroy).
FLOOR_RATE = 16 * units.Mi
START_SECONDS = 300
# Its address space: the pipeline keeps a few 2 MiB blocks per
# compression thread in flight and qemu-img children have their own
# limits; glibc reserves an arena per thread (MALLOC_ARENA_MAX bounds it).
ADDRESS_SPACE = 4 * units.Gi
_CHILD_ENV = {'MALLOC_ARENA_MAX': '2'}
_PR_SET_PDEATHSIG = 1


@dataclasses.dataclass(frozen=True)
class Job(object):
    """What the plugin asks of a worker; the rest is configuration.

    :param path: the staged upload.
    :param destination: the tarball to write beside it.
    :param claimed: the disk format the image record gives.
    :param work_prefix: the image's work-file prefix on this node.
    """

    path: str
    destination: str
    claimed: str
    work_prefix: str


def limits(job, policy):
    """The worker's :class:`children.Limits` for ``job``."""
    data = min(policy.max_virtual_size,
               os.path.getsize(job.path) * policy.max_expansion_ratio)
    wall = START_SECONDS + data // FLOOR_RATE
    return children.Limits(cpu_time=wall * (os.cpu_count() or 1),
                           address_space=ADDRESS_SPACE, wall_time=wall)


def _config_args(conf):
    """The files ``conf`` was read from, as the worker's arguments."""
    from oslo_config import cfg     # loaded in glance-api long before
    args = []
    try:
        files, directory = conf.config_file, conf.config_dir
    except cfg.NoSuchOptError:
        # Never parsed: defaults and overrides only (the unit tests).
        return args
    # (oslo.config before 8.4 keeps config_dir as a list)
    directories = directory if isinstance(directory, list) else [directory]
    for path in files or ():
        args += ['--config-file', path]
    for path in directories:
        if path:
            args += ['--config-dir', path]
    return args


def _settings_message(settings):
    """The request's ``settings`` but its ``conf``, as JSON for the worker."""
    message = dict(settings, policy=dataclasses.asdict(settings['policy']))
    del message['conf']
    return message


def _settings(message):
    """The settings :func:`_settings_message` sent, as a request takes them."""
    policy = {name: tuple(value) if isinstance(value, list) else value
              for name, value in message['policy'].items()}
    return dict(message, policy=inspect.Policy(**policy))


def convert(job, conf, progress=None):
    """Run ``job`` in a worker; return its :class:`pipeline.Outcome`.

    :param conf: Glance's configuration: the request's settings, its
        inspection policy bounding the worker, and the files a helper with
        options of its own reads again.
    :param progress: a ``progress(phase, done, total)`` callback (a
        :class:`progress.Progress`) that receives the worker's.
    :raises exception.XenImageError: refused or failed, one line.
    """
    from xenimage_import import conf as xconf   # as for _config_args
    settings = xconf.request_settings(conf)
    argv = [children.context().python_exec, '-m', __name__] + \
        _config_args(conf)
    bounds = limits(job, settings['policy'])
    answer = {}
    try:
        with children.Child(argv, bounds, env=_CHILD_ENV,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True) as child:
            child.proc.stdin.write(json.dumps(dict(
                dataclasses.asdict(job), parent=os.getpid(),
                settings=_settings_message(settings))))
            child.proc.stdin.close()
            for line in child.proc.stdout:
                answer.update(_relay(line, progress))
            child.proc.wait()
    except OSError as e:
        raise exception.ConversionFailed('cannot start the conversion '
                                         'worker: %s' % e.strerror)
    finally:
        workfiles.remove_all(os.path.dirname(job.destination),
                             job.work_prefix)
    if 'outcome' in answer:
        return pipeline.Outcome(**answer['outcome'])
    if child.timed_out:
        raise exception.ConversionFailed(
            'the conversion did not finish within %d s' % bounds.wall_time)
    if 'refused' in answer:
        raise exception.XenImageError(answer['refused'])
    raise exception.ConversionFailed(
        'the conversion worker ended without a result (exit status %s)'
        % child.proc.returncode)


def _relay(line, progress):
    """Act on one line from the worker; return what it concluded."""
    try:
        message = json.loads(line)
    except ValueError:
        LOG.warning('conversion worker: %s', line.rstrip()[:500])
        return {}
    if 'progress' in message:
        if progress is not None:
            progress(*message['progress'])
        return {}
    if 'log' in message:
        level, name, text = message['log']
        logging.getLogger(name).log(level, '%s', text)
        return {}
    return message


# -- The worker process -----------------------------------------------------

class _Writer(object):
    """JSON lines on stdout, whole, from any thread."""

    def __init__(self, stream):
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, **message):
        line = json.dumps(message) + '\n'
        with self._lock:
            self._stream.write(line)
            self._stream.flush()


class _LogRelay(logging.Handler):

    def __init__(self, write):
        super().__init__(logging.INFO)
        self._write = write

    def emit(self, record):
        text = record.getMessage()
        if record.exc_info:
            text += '\n' + logging.Formatter().formatException(
                record.exc_info)
        self._write(log=[record.levelno, record.name, text])


class _ProgressRelay(progress_.Progress):
    """The worker's progress, to the parent's :class:`progress.Progress`.

    Often enough for the parent's own interval, and the end always.
    """

    interval = 0.5
    show_final = True

    def __init__(self, write):
        super().__init__()
        self._write = write

    def show(self, phase, done, total, rate):
        self._write(progress=[phase, done, total])


def _follow_parent(parent):
    """Get SIGTERM when the parent dies; exit now if it already has."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        sys.exit(128 + signal.SIGTERM)


def _policy(job):
    """What the worker may touch once its configuration is read.

    Its upload, its own Python, and its staging directory (work files,
    the output), /dev/shm (decoded windows) and the temporary directory
    (spooled maps; chosen here, before it cannot be probed) to make files
    in; no network. Only the local helper's worker is confined: the
    xenserver helper's talks to XAPI and reads its certificates (its
    qemu-img children are confined all the same).
    """
    python = children.python_paths()
    return sandbox.Policy(
        read=(job.path,) + python, execute=python + qemu.programs(),
        make=(os.path.dirname(os.path.abspath(job.destination)),
              decode.SHM, tempfile.gettempdir()),
        write=qemu.DEVICES)


def _request(job, settings, progress):
    return pipeline.Request(
        path=job.path, destination=job.destination, claimed=job.claimed,
        work_prefix=job.work_prefix, progress=progress, keep_upload=True,
        **settings)


def _helper_conf(args):
    """Glance's configuration, read again for a helper's own options."""
    from xenimage_import import conf as xconf   # only for such helpers
    return xconf.load(args.config_file, args.config_dir)


def _outcome(outcome):
    data = dataclasses.asdict(outcome)
    data.pop('result')      # the commands' report; the plugin needs none
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(prog='xenimage_import.glance.worker')
    parser.add_argument('--config-file', action='append', default=[])
    parser.add_argument('--config-dir', action='append', default=[])
    args = parser.parse_args(argv)
    write = _Writer(sys.stdout)
    # NOTE: the signal mask is inherited through fork and exec, and a
    # server's threads (uWSGI's among them) block the signals their main
    # thread handles: unblocked, or SIGTERM would wait forever.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    cleanup.exit_on_signal()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(_LogRelay(write))
    message = json.loads(sys.stdin.read())
    _follow_parent(message.pop('parent'))
    settings = _settings(message.pop('settings'))
    job = Job(**message)
    try:
        if settings['helper'] == helpers.BUILT_IN:
            LOG.debug('worker confined by %s',
                      sandbox.confine_self(_policy(job)))
        else:
            settings['conf'] = _helper_conf(args)
        outcome = pipeline.run(_request(job, settings,
                                        _ProgressRelay(write)))
    except Exception as e:
        if not isinstance(e, (exception.XenImageError,) +
                          exception.configuration_errors()):
            LOG.exception('conversion failed')
        write(refused=pipeline.refuse(e))
        return 1
    write(outcome=_outcome(outcome))
    return 0


if __name__ == '__main__':
    sys.exit(main())
