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

"""Decode an inspected source image into its non-zero 2 MiB blocks.

Raw sources are read in place (:mod:`raw`). Every other format is decoded
by the real ``qemu-img``, window by window: ``qemu-img map`` lists where
data lives, and ``qemu-img convert`` writes each window holding data into
a small in-memory file (memfd) that is read back by block. qemu-img cannot
write raw to a pipe; a full-size raw work file would cost a disk write of
the whole image (and, on filesystems mounted with ``discard``, a discard
of it afterwards), while the windows keep memory bounded by
``2 * WINDOW`` whatever the image size. The next window is decoded while
the current one is being compressed; within a window only the blocks the
map says hold data are read.
"""

import array
import contextlib
import json
import os
import subprocess
import sys

from xenimage_import import exception
from xenimage_import.source import qemu
from xenimage_import.source import raw
from xenimage_import.vhd import layout as L

WINDOW = 64 * 1024 * 1024
_BLOCKS_PER_WINDOW = WINDOW // L.BLOCK_SIZE


def _image_opts(source, offset, size):
    """--image-opts for a window of the decoded disk (raw over format)."""
    # NOTE: option values escape commas by doubling them.
    path = source.path.replace(',', ',,')
    return ('driver=raw,offset=%d,size=%d,file.driver=%s,'
            'file.file.driver=file,file.file.filename=%s'
            % (offset, size, source.qemu_format, path))


def _data_blocks_map(source, python_exec):
    """Indexes of the blocks that hold data, from ``qemu-img map``.

    The map is streamed (one JSON object a line) so that a hostile image
    with millions of extents costs time, not memory beyond one integer per
    2 MiB block of data.
    """
    cmd = qemu.command(('map', '-f', source.qemu_format, '--output=json',
                        source.path), qemu.INSPECTION_LIMITS, python_exec)
    blocks = array.array('I')
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            line = line.strip().lstrip('[').rstrip(',]')
            if not line:
                continue
            extent = json.loads(line)
            if not extent.get('data') or extent.get('zero'):
                continue
            start = extent['start'] // L.BLOCK_SIZE
            end = -(-(extent['start'] + extent['length']) // L.BLOCK_SIZE)
            if blocks and blocks[-1] >= start:
                start = blocks[-1] + 1
            blocks.extend(range(start, end))
        err = proc.stderr.read()
    finally:
        proc.stdout.close()
        proc.stderr.close()
        rc = proc.wait()
    if rc:
        raise exception.ConversionFailed(
            'qemu-img could not map the %s image: %s'
            % (source.format, qemu.reason(err, [source.path])))
    return blocks


class _Window(object):
    """A memfd holding one decoded window, filled by a qemu-img process."""

    def __init__(self):
        self.fd = os.memfd_create('xenimage-window', os.MFD_CLOEXEC)
        self.path = '/proc/%d/fd/%d' % (os.getpid(), self.fd)
        self.index = None
        self.source = None
        self.proc = None

    def start(self, source, index, size):
        offset = index * WINDOW
        length = min(WINDOW, size - offset)
        # NOTE: the memfd's pages are reused from window to window (fresh
        # pages cost more than the data); qemu-img writes the zeros too.
        if os.fstat(self.fd).st_size != length:
            os.ftruncate(self.fd, length)
        self.index = index
        self.source = source
        self.proc = subprocess.Popen(
            ['qemu-img', 'convert', '-q', '-n',
             '--image-opts', _image_opts(source, offset, length),
             '-O', 'raw', self.path],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait(self):
        _out, err = self.proc.communicate()
        rc, self.proc = self.proc.returncode, None
        if rc:
            raise exception.ConversionFailed(
                'qemu-img could not decode the %s image: %s'
                % (self.source.format,
                   qemu.reason(err, [self.source.path, self.path])))

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc.stderr.close()
        os.close(self.fd)


class QemuImage(object):
    """A qemu-format source read as non-zero blocks, window by window."""

    def __init__(self, source, python_exec=sys.executable):
        self.source = source
        self.size = source.virtual_size
        self.python_exec = python_exec
        self._map = None
        self._windows = [_Window(), _Window()]

    def close(self):
        for window in self._windows:
            window.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def candidate_bytes(self):
        self._map = _data_blocks_map(self.source, self.python_exec)
        return len(self._map) * L.BLOCK_SIZE

    def data_blocks(self, progress=None):
        """Yield ``(index, data)`` for every non-zero block, in order.

        ``data`` is a buffer reused for the next block: consume it first.
        """
        if self._map is None:
            self.candidate_bytes()
        by_window = {}
        for block in self._map:
            by_window.setdefault(block // _BLOCKS_PER_WINDOW, []).append(
                block % _BLOCKS_PER_WINDOW)
        pending = sorted(by_window)
        if not pending:
            return
        current, ahead = self._windows
        current.start(self.source, pending.pop(0), self.size)
        while True:
            current.wait()
            if pending:
                ahead.start(self.source, pending.pop(0), self.size)
            first = current.index * _BLOCKS_PER_WINDOW
            with raw.RawImage.from_fd(current.fd) as window:
                for block, data in window.data_blocks(
                        progress, by_window[current.index]):
                    yield first + block, data
            if ahead.proc is None:
                return
            current, ahead = ahead, current


@contextlib.contextmanager
def open_image(source, python_exec=sys.executable):
    """The source as an object with ``size`` and ``data_blocks()``."""
    if source.qemu_format == 'raw':
        with raw.RawImage(source.path) as image:
            yield image
    else:
        with QemuImage(source, python_exec) as image:
            yield image
