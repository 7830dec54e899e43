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

"""Decode an inspected source image into a raw image read by blocks.

Raw sources are read in place. Everything else is decoded by the real
``qemu-img convert`` into a sparse raw work file: qemu-img cannot write raw
to a pipe, and its sparse output (zeros become holes) lets the block reader
skip unallocated data with SEEK_DATA. This file is the only intermediate
one, and it is removed on every path.
"""

import contextlib
import os
import tempfile

from oslo_log import log as logging

from xenimage_import import exception
from xenimage_import.source import qemu
from xenimage_import.source import raw

LOG = logging.getLogger(__name__)


def _qemu_img_to_raw(source, target):
    # NOTE: the format is always forced (-f): qemu-img must never probe a
    # hostile file, and inspection has already vetted it as that format.
    qemu.run(('convert', '-q', '-f', source.qemu_format, '-O', 'raw',
              source.path, target), [source.path, target],
             'qemu-img could not decode the %s image' % source.format,
             error_class=exception.ConversionFailed)


@contextlib.contextmanager
def open_raw(source, work_dir, work_prefix):
    """Yield a :class:`raw.RawImage` with the content of ``source``.

    :param work_dir: where the decoded work file goes (the same
        filesystem as the output, e.g. Glance's staging directory).
    :param work_prefix: its name prefix, e.g. ``<image_id>.`` so that
        Glance's start-up cleanup recognises it.
    """
    if source.qemu_format == 'raw':
        with raw.RawImage(source.path) as image:
            yield image
        return
    fd, work_file = tempfile.mkstemp(dir=work_dir, prefix=work_prefix,
                                     suffix='.raw')
    os.close(fd)
    try:
        LOG.debug('decoding %s (%s) into %s', source.path, source.format,
                  work_file)
        _qemu_img_to_raw(source, work_file)
        with raw.RawImage(work_file) as image:
            if image.size != source.virtual_size:
                raise exception.ConversionFailed(
                    'qemu-img produced %d bytes for a %d-byte image'
                    % (image.size, source.virtual_size))
            yield image
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(work_file)
