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
:func:`xenimage_import.workfiles.sweep_stale` can tell its leftovers from
live work; work files carry the node's tag, so a sweep never judges
another node's.
"""

import contextlib
import logging
import os
import threading
import time

LOG = logging.getLogger(__name__)

_PREFIX = 'xenimage_import'
# Lock files held by threads of this process: POSIX file locks do not
# exclude threads of one process, so this set does.
_held = set()
_held_guard = threading.Lock()


class _NodeLock(object):
    """A non-blocking lock that excludes other threads and processes."""

    def __init__(self, path):
        # NOTE: imported here: oslo.concurrency (and the oslo.config it
        # registers options in) is for the Glance plugin's locks; the
        # commands never take them, and start faster without.
        from oslo_concurrency import lockutils
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
