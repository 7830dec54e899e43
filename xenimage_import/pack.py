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

"""Pack a VHD byte stream as the tarball Nova's XenAPI driver downloads.

The VHD goes straight into a tar member, the tar stream straight into a
multi-threaded gzip writer that emits ONE gzip member, in the one tar
shape :mod:`xenimage_import.archive` accepts back. The VHD's metadata is
written last, into room reserved for it (:class:`TarballSink`), so the
data is read once.
Output lands in a temporary file beside the destination and is renamed
into place only once complete.
"""

import contextlib
import os
import struct

from isal import igzip_threaded
from isal import isal_zlib

from xenimage_import import archive
from xenimage_import import cleanup
from xenimage_import import structs
from xenimage_import.vhd import layout as L
from xenimage_import import workfiles


# Compression levels, measured on the benchmark's fs image (tools/benchmark,
# 2 threads): ISA-L levels 0-3 run at 600-900 MB/s with output 10-25%
# larger than gzip -6; zlib-ng levels 4-6 come within 2% of gzip -6's
# size at 4-5x its speed. Above 6, zlib-ng costs 3x the CPU for under 3%
# smaller output, so those levels are not offered. Each library releases
# the GIL, so the threads compress blocks in parallel.
MIN_LEVEL = 0
MAX_LEVEL = 6
DEFAULT_LEVEL = 1
SMALLEST_LEVEL = MAX_LEVEL
_ISAL_MAX_LEVEL = 3
# Uncompressed bytes per compression job: one VHD data block with its
# bitmap (and alignment gap) in front, so that jobs are equal and both
# threads get the same work; memory stays a few MiB.
JOB_SIZE = L.BLOCK_SIZE + 64 * 1024


def default_threads():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class GzipWriter(object):
    """One gzip member on ``fileobj``, compressed by threads.

    Each :meth:`write` is one compression job handed to the next thread
    as it is: nothing is buffered and a ``bytes`` object is not copied,
    so callers write whole blocks of at most :data:`JOB_SIZE` (larger
    writes are split, smaller ones cost a job each). The header carries
    no file name and mtime 0, so that equal input gives equal output.
    """

    def __init__(self, fileobj, level=DEFAULT_LEVEL, threads=None):
        if not MIN_LEVEL <= level <= MAX_LEVEL:
            raise ValueError('compression level must be %d to %d'
                             % (MIN_LEVEL, MAX_LEVEL))
        threads = max(1, threads or default_threads())
        if level <= _ISAL_MAX_LEVEL:
            library = igzip_threaded
        else:
            # Imported only for the levels it serves: start-up counts
            # for small images.
            from zlib_ng import gzip_ng_threaded as library
        # NOTE: the library's buffered front copies every write once more
        # and flushes a small write as a job of its own; writing to its raw
        # writer directly avoids both. It stays referenced: closing it
        # closes the raw writer.
        self._buffered = library.open(fileobj, 'wb', compresslevel=level,
                                      threads=threads, block_size=JOB_SIZE)
        self._raw = self._buffered.raw

    def write(self, data):
        return self._raw.write(data)

    def close(self):
        # NOTE: the raw writer, not the buffered front: isal before 1.8
        # ends the gzip member on flush() and starts another, and the
        # front's close() flushes first. Once the raw writer is closed the
        # front's close() does nothing.
        self._raw.close()


# A gzip header without name or mtime (RFC 1952): equal input, equal
# output. OS 255 = unknown.
GZIP_HEADER = struct.pack('<BBBBIBB', 0x1f, 0x8b, 8, 0, 0, 0, 255)
_GZIP_TRAILER = struct.Struct('<II')          # CRC-32, size mod 2**32
# A stored (uncompressed) deflate block holds at most 65535 bytes behind a
# 5-byte header: BFINAL=0/BTYPE=00 padded to a byte, LEN, NLEN.
_STORED_MAX = 0xFFFF
_STORED_HEADER = struct.Struct('<BHH')


def stored_size(length):
    """Bytes of ``length`` bytes encoded as stored deflate blocks."""
    return length + _STORED_HEADER.size * structs.ceil_div(length,
                                                           _STORED_MAX)


def stored_blocks(data):
    """``data`` as non-final stored deflate blocks, byte aligned."""
    parts = []
    for start in range(0, len(data), _STORED_MAX):
        chunk = data[start:start + _STORED_MAX]
        parts.append(_STORED_HEADER.pack(0, len(chunk), len(chunk) ^ 0xFFFF))
        parts.append(chunk)
    return b''.join(parts)


class _DeflateBody(object):
    """Keep only the deflate stream of a threaded gzip writer.

    Its 10-byte header is dropped and its 8-byte trailer held back for
    :class:`TarballSink` to combine with the head.
    """

    def __init__(self, out):
        self._out = out
        self._header = b''
        self.trailer = b''

    def write(self, data):
        view = memoryview(data).cast('B')
        size = len(view)
        if len(self._header) < len(GZIP_HEADER):
            need = len(GZIP_HEADER) - len(self._header)
            self._header += bytes(view[:need])
            view = view[need:]
            if len(self._header) == len(GZIP_HEADER) and \
                    self._header[3] != 0:
                raise ValueError('gzip writer emitted optional header fields')
        keep = _GZIP_TRAILER.size
        if len(view) >= keep:
            # NOTE: no concatenation: for incompressible data the deflate
            # stream is as large as the input.
            self._out.write(self.trailer)
            self._out.write(view[:-keep])
            self.trailer = bytes(view[-keep:])
        else:
            held = self.trailer + bytes(view)
            self._out.write(held[:-keep])
            self.trailer = held[-keep:]
        return size

    def flush(self):
        self._out.flush()


class TarballSink(object):
    """Write ``0.vhd`` as a one-member gzipped tar whose head comes last.

    The VHD's metadata (and so the tar header with the VHD's size) is only
    known once every block has been seen. The head is therefore stored
    uncompressed in deflate "stored" blocks, in room reserved at the start
    of the file and written last; the body streams through a threaded gzip
    writer right after it. The result is ONE gzip member: stored blocks
    followed by the writer's deflate blocks form one deflate stream, and
    the CRC of head and body is joined with ``crc32_combine``.

    :param out: a seekable binary file.
    :param head_size: bytes of tar header plus VHD metadata.
    """

    def __init__(self, out, head_size, level=DEFAULT_LEVEL, threads=None):
        self._out = out
        self.head_size = head_size
        self._start = out.tell()
        out.seek(self._start + len(GZIP_HEADER) + stored_size(head_size))
        self._body = _DeflateBody(out)
        self._gz = GzipWriter(self._body, level, threads)
        self.body_size = 0

    def write(self, data):
        self._gz.write(data)
        self.body_size += len(data)

    def write_block(self, prefix, data):
        """One VHD data block and what precedes it, as one job."""
        self.write(b''.join((prefix, data)))

    def finish(self, head):
        """Close the body and write ``head`` into its reserved room."""
        if len(head) != self.head_size:
            raise ValueError('head is %d bytes, %d reserved'
                             % (len(head), self.head_size))
        self._gz.close()
        body_crc, body_isize = _GZIP_TRAILER.unpack(self._body.trailer)
        if body_isize != self.body_size & 0xFFFFFFFF:
            raise ValueError('gzip writer lost data')
        crc = isal_zlib.crc32_combine(isal_zlib.crc32(head), body_crc,
                                      self.body_size)
        self._out.write(_GZIP_TRAILER.pack(
            crc, (self.head_size + self.body_size) & 0xFFFFFFFF))
        end = self._out.tell()
        self._out.seek(self._start)
        self._out.write(GZIP_HEADER + stored_blocks(head))
        self._out.seek(end)

    def abort(self):
        # The partial output is discarded; a close error must not hide the
        # real one.
        with contextlib.suppress(Exception):
            self._gz.close()


class BareSink(object):
    """Write a bare VHD whose head (metadata) comes last, into its room."""

    def __init__(self, out, head_size):
        self._out = out
        self.head_size = head_size
        self._start = out.tell()
        out.seek(self._start + head_size)

    def write(self, data):
        self._out.write(data)

    def write_block(self, prefix, data):
        self._out.write(prefix)
        self._out.write(data)

    def finish(self, head):
        if len(head) != self.head_size:
            raise ValueError('head is %d bytes, %d reserved'
                             % (len(head), self.head_size))
        end = self._out.tell()
        self._out.seek(self._start)
        self._out.write(head)
        self._out.seek(end)

    def abort(self):
        pass


def pack_vhd_file(vhd_path, destination, level=DEFAULT_LEVEL, threads=None,
                  work_prefix=None):
    """Pack an existing VHD (already a valid tap VHD) as it is."""
    size = os.path.getsize(vhd_path)
    with atomic_output(destination, prefix=work_prefix) as out, \
            open(vhd_path, 'rb') as vhd:
        sink = TarballSink(out, archive.TAR_BLOCK, level, threads)
        try:
            while True:
                chunk = vhd.read(JOB_SIZE)
                if not chunk:
                    break
                sink.write(chunk)
            sink.write(archive.tar_trailer(size))
            sink.finish(archive.tar_header(size))
        except BaseException:
            sink.abort()
            raise
    return size


@contextlib.contextmanager
def atomic_output(destination, prefix=None):
    """Yield a binary file that becomes ``destination`` only on success.

    The temporary file sits beside the destination, so the final rename
    is atomic, and is removed on any error, including KeyboardInterrupt.
    """
    directory = os.path.dirname(os.path.abspath(destination))
    prefix = prefix or workfiles.destination_prefix(destination)
    fd, tmp = workfiles.create(directory, prefix, workfiles.PARTIAL)
    try:
        with os.fdopen(fd, 'wb') as f:
            yield f
        os.chmod(tmp, 0o644)
        os.replace(tmp, destination)
    except BaseException:
        cleanup.remove(tmp)
        raise
    finally:
        cleanup.discard_path(tmp)
