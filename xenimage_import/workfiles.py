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

"""Work files: named in one place, made one way, swept by one rule.

A work file sits beside the output it leads to, so that the final rename
is atomic, and is named ``<prefix><random><suffix>``. The prefix says
whose it is:

* :func:`destination_prefix`: ``.<DEST name>.``, hidden beside a command
  line's DEST;
* :func:`image_prefix`: ``<image id>.<node tag>-`` in Glance's staging
  area. Glance's start-up cleanup removes staging files named
  ``<image_id>*`` of deleted images, and :func:`sweep_stale` recognises
  this node's own files of conversions that died.

The suffix says what it holds: :data:`PARTIAL` an output being written,
:data:`VHD` an extracted or transport VHD. Every work file is registered
with :mod:`cleanup`, so a signal removes it.
"""

import contextlib
import hashlib
import logging
import os
import re
import tempfile

from xenimage_import import cleanup
from xenimage_import import concurrency

LOG = logging.getLogger(__name__)

PARTIAL = '.part'
VHD = '.vhd'
SUFFIXES = (PARTIAL, VHD)
# Swept too: earlier releases decoded sources into '.raw' work files, which
# a conversion killed before an upgrade may have left.
_SWEPT_SUFFIXES = SUFFIXES + ('.raw',)
# Longest part of DEST's name kept in its prefix, so that prefix + random
# + suffix stays a legal name whatever the length of a legal DEST name.
_NAME_KEEP = 64

# <image uuid>.<node tag>-<random>.<suffix>: work files exist only while
# their image converts. The finished <image uuid>.tgz is not one: Glance
# consumes it after the conversion, and a new import replaces it
# atomically.
_WORK_FILE = re.compile(
    r'^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'
    r'\.([0-9a-f]{8})-[^.]+(?:%s)$'
    % '|'.join(re.escape(suffix) for suffix in _SWEPT_SUFFIXES))


def destination_prefix(destination):
    """The hidden prefix of work files beside ``destination``."""
    return '.%s.' % os.path.basename(destination)[:_NAME_KEEP]


def image_prefix(image_id, lock_path):
    """The prefix of an image's work files on this node."""
    return '%s.%s-' % (image_id, node_tag(lock_path))


def node_tag(lock_path):
    """This node's mark in its work files' names.

    The liveness locks are in the node's ``lock_path``, so only this node
    can tell whether its work files are alive; another node's files (a
    staging directory shared by mistake, NFS) are never its to sweep. Two
    glance-api on one host have different lock paths, so different tags.
    """
    # NOTE: os.uname() is gethostname()'s answer without importing socket,
    # which every command-line run would pay for.
    identity = '%s:%s' % (os.uname().nodename, os.path.realpath(lock_path))
    return hashlib.sha256(identity.encode()).hexdigest()[:8]


def create(directory, prefix, suffix):
    """Make a new, empty work file; return ``(fd, path)``.

    It is registered with :mod:`cleanup` until :func:`cleanup.remove`
    (or :func:`cleanup.discard_path` once it became an output).
    """
    if suffix not in SUFFIXES:
        raise ValueError('unknown work file suffix %r' % suffix)
    cleanup.add_prefix(directory, prefix, SUFFIXES)
    fd, path = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    cleanup.add_path(path)
    return fd, path


def reserve(directory, prefix, suffix):
    """A new work-file name, registered with :mod:`cleanup`, no file.

    For a work file another step creates by renaming its own output onto
    it: on ext4 (``auto_da_alloc``) a rename over an existing file starts
    writing the renamed file's data back at once, which cost a 1 GiB
    conversion 0.4 s. The name comes from :func:`create`, so it is as
    unpredictable; the file is removed at once.
    """
    fd, path = create(directory, prefix, suffix)
    os.close(fd)
    os.unlink(path)
    return path


def remove_all(directory, prefix):
    """Remove every work file named with ``prefix`` in ``directory``.

    For a conversion whose process has ended, however it ended: none of
    them can still be in use.
    """
    cleanup.remove_prefixed(directory, prefix, _SWEPT_SUFFIXES)


def sweep_stale(directory, lock_path):
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
                concurrency.is_converting(lock_path, match.group(1)):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, name))
            removed.append(name)
            LOG.warning('Removed %s, left by a conversion that did not '
                        'finish', name)
    return removed
