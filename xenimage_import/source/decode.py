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

Raw sources are read in place (:mod:`raw`), and so are images whose data
qemu-img maps as stored bytes of the file (:mod:`mapped`: uncompressed
qcow2, VMDK, VHD, VDI). Every other image (compressed extents, VHDX) is
decoded by the real ``qemu-img``, window by window: the map inspection made
(:mod:`xenimage_import.source.budget`) lists where data lives, and
``qemu-img convert`` writes each window holding data into
a small in-memory file that is read back by block: a named file in a
private directory on ``/dev/shm`` (tmpfs), so that the confined qemu-img
may write that file and nothing else (:mod:`xenimage_import.sandbox`), or
where ``/dev/shm`` is missing or small an unnamed memfd, which Landlock
cannot name (that qemu-img's writes then go unconfined). qemu-img cannot
write raw to a pipe; a full-size raw work file would cost a disk write of
the whole image (and, on filesystems mounted with ``discard``, a discard
of it afterwards), while the windows keep memory bounded by
``2 * WINDOW`` whatever the image size. The next window is decoded while
the current one is being compressed; within a window only the blocks the
map says hold data are read.
"""

import contextlib
import os
import subprocess
import tempfile

from xenimage_import import cleanup
from xenimage_import import exception
from xenimage_import.source import blocks
from xenimage_import.source import mapped
from xenimage_import.source import qemu
from xenimage_import.source import raw
from xenimage_import.vhd import chain
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


# A tmpfs for the windows, with room for both and more.
SHM = '/dev/shm'
_SHM_ROOM = 4 * WINDOW


def _shm_directory():
    """A private directory for windows on /dev/shm, or None."""
    try:
        st = os.statvfs(SHM)
        if st.f_bavail * st.f_frsize < _SHM_ROOM:
            return None
        return tempfile.mkdtemp(prefix='xenimage-windows-', dir=SHM)
    except OSError:
        return None


class _Window(object):
    """One decoded window, written by a confined qemu-img process."""

    def __init__(self, directory, name):
        if directory:
            self.path = os.path.join(directory, name)
            cleanup.add_path(self.path)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT
                              | os.O_CLOEXEC, 0o600)
            self.writes = (self.path,)
        else:
            self.fd = os.memfd_create('xenimage-window', os.MFD_CLOEXEC)
            self.path = '/proc/%d/fd/%d' % (os.getpid(), self.fd)
            self.writes = ()            # Landlock cannot name a memfd
        self.index = None
        self.source = None
        self.child = None

    def start(self, source, index, size):
        offset = index * WINDOW
        length = min(WINDOW, size - offset)
        # NOTE: the memfd's pages are reused from window to window (fresh
        # pages cost more than the data); qemu-img writes the zeros too.
        if os.fstat(self.fd).st_size != length:
            os.ftruncate(self.fd, length)
        self.index = index
        self.source = source
        self.child = qemu.Child(
            ('convert', '-q', '-n', '--image-opts',
             _image_opts(source, offset, length), '-O', 'raw', self.path),
            qemu.DECODE_LIMITS, reads=[source.path], writes=self.writes,
            confine_writes=bool(self.writes),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self):
        child, self.child = self.child, None
        with child:
            _out, err = child.proc.communicate()
        child.check(err, [self.source.path, self.path],
                    'qemu-img could not decode the %s image'
                    % self.source.format, exception.ConversionFailed)

    def close(self):
        if self.child is not None:
            self.child.close()
            self.child = None
        os.close(self.fd)
        if self.writes:
            cleanup.remove(self.path)


class QemuImage(blocks.BlockSource):
    """A qemu-format source read as non-zero blocks, window by window."""

    def __init__(self, source):
        self.source = source
        self.size = source.virtual_size
        self._directory = _shm_directory()
        if self._directory:
            cleanup.add_action(self._directory, self._remove_directory)
        self._windows = [_Window(self._directory, 'a'),
                         _Window(self._directory, 'b')]

    def _remove_directory(self):
        with contextlib.suppress(OSError):
            os.rmdir(self._directory)

    def close(self):
        for window in self._windows:
            window.close()
        if self._directory:
            self._remove_directory()
            cleanup.discard_action(self._directory)

    def candidate_bytes(self):
        return len(self.source.data_blocks) * L.BLOCK_SIZE

    def data_blocks(self, progress=None):
        """Yield ``(index, data)`` for every non-zero block, in order.

        ``data`` is a buffer reused for the next block: consume it first.
        """
        by_window = {}
        for block in self.source.data_blocks:
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
            if ahead.child is None:
                return
            current, ahead = ahead, current


@contextlib.contextmanager
def open_image(source):
    """The source as an object with ``size`` and ``data_blocks()``."""
    if source.chain:
        with chain.ChainImage(source.chain) as image:
            yield image
    elif source.qemu_format == 'raw':
        with raw.RawImage(source.path) as image:
            yield image
    elif source.in_place:
        with mapped.MappedImage(source) as image:
            yield image
    else:
        with QemuImage(source) as image:
            yield image
