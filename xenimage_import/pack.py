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
multi-threaded gzip writer that emits ONE gzip member (Python's
``tarfile`` in ``r|gz`` mode, used by Nova's ``vdi_remote_stream`` path,
stops after the first member). Output lands in a temporary file beside the
destination and is renamed into place only once complete.
"""

import contextlib
import os
import tarfile
import tempfile
import time

from isal import igzip_threaded
from zlib_ng import gzip_ng_threaded

VHD_MEMBER = '0.vhd'
TAR_BLOCK = tarfile.BLOCKSIZE
TAR_RECORD = tarfile.RECORDSIZE

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
# Uncompressed bytes per compression job: big enough to keep both cores
# busy, small enough that memory stays a few MiB.
_GZIP_BLOCK = 1024 * 1024


def default_threads():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def gzip_writer(fileobj, level=DEFAULT_LEVEL, threads=None):
    """A file-like writer producing one gzip member on ``fileobj``.

    The header carries no file name and mtime 0, so that equal input gives
    equal output.
    """
    if not MIN_LEVEL <= level <= MAX_LEVEL:
        raise ValueError('compression level must be %d to %d'
                         % (MIN_LEVEL, MAX_LEVEL))
    threads = max(1, threads or default_threads())
    if level <= _ISAL_MAX_LEVEL:
        return igzip_threaded.open(fileobj, 'wb', compresslevel=level,
                                   threads=threads, block_size=_GZIP_BLOCK)
    return gzip_ng_threaded.open(fileobj, 'wb', compresslevel=level,
                                 threads=threads, block_size=_GZIP_BLOCK)


def tar_header(size, name=VHD_MEMBER, mtime=None):
    """A GNU tar header for one regular file owned by 0/0, mode 0644.

    GNU format stores sizes above 8 GiB in base-256, which GNU tar and
    Python's tarfile both read, without an extra pax member.
    """
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = 'root'
    info.mtime = int(time.time() if mtime is None else mtime)
    info.type = tarfile.REGTYPE
    return info.tobuf(format=tarfile.GNU_FORMAT)


def tar_trailer(size):
    """Member padding, the two zero blocks, and padding to a whole record."""
    pad = -size % TAR_BLOCK
    total = TAR_BLOCK + size + pad + 2 * TAR_BLOCK
    return bytes(pad + 2 * TAR_BLOCK + (-total % TAR_RECORD))


class SizeMismatch(Exception):
    pass


def write_tar_member(out, size, chunks, progress=None):
    """Write a tar archive holding ``0.vhd`` made of ``chunks`` to ``out``."""
    out.write(tar_header(size))
    written = write_chunks(out, chunks, progress)
    if written != size:
        raise SizeMismatch('member declared %d bytes, wrote %d'
                           % (size, written))
    out.write(tar_trailer(size))


def write_chunks(out, chunks, progress=None):
    written = 0
    for chunk in chunks:
        out.write(chunk)
        written += len(chunk)
        if progress:
            progress(len(chunk))
    return written


def iter_file(path, chunk_size=2 * 1024 * 1024):
    with open(path, 'rb') as f:
        while True:
            chunk = f.read(chunk_size)
            if not chunk:
                return
            yield chunk


def write_tarball(out, size, chunks, level=DEFAULT_LEVEL, threads=None,
                  progress=None):
    """Gzip a one-member tar of ``chunks`` onto the binary file ``out``."""
    gz = gzip_writer(out, level, threads)
    try:
        write_tar_member(gz, size, chunks, progress)
    except BaseException:
        # The partial output is discarded; a close error must not hide the
        # real one.
        with contextlib.suppress(Exception):
            gz.close()
        raise
    gz.close()


def pack_vhd_file(vhd_path, destination, level=DEFAULT_LEVEL, threads=None,
                  work_prefix=None):
    """Pack an existing VHD (already a valid tap VHD) as it is."""
    size = os.path.getsize(vhd_path)
    with atomic_output(destination, prefix=work_prefix) as out:
        write_tarball(out, size, iter_file(vhd_path), level, threads)
    return size


@contextlib.contextmanager
def atomic_output(destination, prefix=None):
    """Yield a binary file that becomes ``destination`` only on success.

    The temporary file sits beside the destination, so the final rename
    is atomic, and is removed on any error, including KeyboardInterrupt.
    """
    directory = os.path.dirname(os.path.abspath(destination))
    prefix = prefix or '.%s.' % os.path.basename(destination)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix='.part')
    try:
        with os.fdopen(fd, 'wb') as f:
            yield f
        os.chmod(tmp, 0o644)
        os.replace(tmp, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
