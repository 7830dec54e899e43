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

"""Conversions on one node: a cap on how many run, and which are alive.

A conversion takes one of N slots, each a file lock in the node's lock
directory (so the cap holds across Glance worker processes) paired with a
thread lock (POSIX file locks do not exclude threads of one process).
Imports over the cap wait for a slot instead of failing.

While an image converts, a per-image lock marks its work files as alive.
A worker killed mid-conversion releases its locks with its death, so
:func:`sweep_stale_work_files` can tell its leftovers from live work; work
files carry the node's tag, so a sweep never judges another node's.
"""

import contextlib
import hashlib
import logging
import os
import re
import socket
import threading
import time

from oslo_concurrency import lockutils

LOG = logging.getLogger(__name__)

_PREFIX = 'xenimage_import'
# <image uuid>.<node tag>-<random>.<suffix>: work files exist only while
# their image converts. The finished <image uuid>.tgz is not one: Glance
# consumes it after the conversion, and a new import replaces it
# atomically.
_WORK_FILE = re.compile(r'^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-'
                        r'[0-9a-f]{12})\.([0-9a-f]{8})-[^.]+'
                        r'\.(?:raw|vhd|part)$')

# Lock files held by threads of this process: POSIX file locks do not
# exclude threads of one process, so this set does.
_held = set()
_held_guard = threading.Lock()


class _NodeLock(object):
    """A non-blocking lock that excludes other threads and processes."""

    def __init__(self, path):
        self.path = path
        self._file = lockutils.InterProcessLock(path)

    def try_acquire(self):
        with _held_guard:
            if self.path in _held:
                return False
            _held.add(self.path)
        if self._file.acquire(blocking=False):
            return True
        with _held_guard:
            _held.discard(self.path)
        return False

    def release(self):
        self._file.release()
        with _held_guard:
            _held.discard(self.path)


def _image_lock(lock_path, image_id):
    name = '%s-image-%s' % (_PREFIX, image_id)
    return _NodeLock(os.path.join(lock_path, name))


class ConversionSlots(object):
    """At most ``slots`` conversions at once on this node."""

    def __init__(self, lock_path, slots, poll_interval=0.5):
        self.lock_path = lock_path
        self.slots = max(1, slots)
        self.poll_interval = poll_interval

    @contextlib.contextmanager
    def convert(self, image_id):
        """Hold a slot and the image's liveness lock while converting."""
        image_lock = _image_lock(self.lock_path, image_id)
        while not image_lock.try_acquire():
            time.sleep(self.poll_interval)
        try:
            slot = self._wait_for_slot(image_id)
            try:
                yield
            finally:
                slot.release()
        finally:
            image_lock.release()

    def _wait_for_slot(self, image_id):
        waited = False
        while True:
            for n in range(self.slots):
                slot = _NodeLock(os.path.join(
                    self.lock_path, '%s-slot-%d' % (_PREFIX, n)))
                if slot.try_acquire():
                    if waited:
                        LOG.info('Image %s: conversion slot free, starting',
                                 image_id)
                    return slot
            if not waited:
                LOG.info('Image %(id)s: %(n)d conversions already running on '
                         'this node; waiting for a slot',
                         {'id': image_id, 'n': self.slots})
                waited = True
            time.sleep(self.poll_interval)


def is_converting(lock_path, image_id):
    """True while some thread or process on this node converts the image."""
    lock = _image_lock(lock_path, image_id)
    if lock.try_acquire():
        lock.release()
        return False
    return True


def node_tag(lock_path):
    """This node's mark in its work files' names.

    The liveness locks are in the node's ``lock_path``, so only this node
    can tell whether its work files are alive; another node's files (a
    staging directory shared by mistake, NFS) are never its to sweep. Two
    glance-api on one host have different lock paths, so different tags.
    """
    identity = '%s:%s' % (socket.gethostname(), os.path.realpath(lock_path))
    return hashlib.sha256(identity.encode()).hexdigest()[:8]


def work_prefix(image_id, lock_path):
    """Prefix of an image's work files on this node.

    Glance's start-up cleanup removes staging files named ``<image_id>*``
    of deleted images; these names follow that scheme too.
    """
    return '%s.%s-' % (image_id, node_tag(lock_path))


def sweep_stale_work_files(directory, lock_path):
    """Remove this node's work files of conversions that died."""
    removed = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return removed
    tag = node_tag(lock_path)
    for name in names:
        match = _WORK_FILE.match(name)
        if not match or match.group(2) != tag or \
                is_converting(lock_path, match.group(1)):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, name))
            removed.append(name)
            LOG.warning('Removed %s, left by a conversion that did not '
                        'finish', name)
    return removed
