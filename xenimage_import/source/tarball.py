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

"""Take the VHD out of an uploaded XenServer image tarball, safely.

An upload labelled vhd/ovf that is not a valid tap tarball (typically a
qemu-made VHD packed by hand) is re-written: its ``0.vhd`` is extracted
here and then inspected like any other VHD. Nothing in the archive chooses
a path: the member is streamed into a work file whose name we pick, only
the one tar shape of :mod:`xenimage_import.archive` is accepted, and the
member's declared size is bounded by the size cap before decompression,
so a gzip bomb costs nothing.
"""

import os

from xenimage_import import archive
from xenimage_import import cleanup
from xenimage_import import exception
from xenimage_import.vhd import layout as L
from xenimage_import import workfiles

_CHUNK = 1024 * 1024
_ZERO_CHUNK = bytes(_CHUNK)


def _refuse(reason):
    raise exception.UnsafeImage('refusing image tarball: %s' % reason)


def member_limit(max_size):
    """Largest ``0.vhd`` that can hold a disk of ``max_size`` bytes.

    The disk plus its metadata: one bitmap sector (padded to 4 KiB) per
    2 MiB block, headers, BAT and batmap.
    """
    return max_size + (max_size // L.BLOCK_SIZE + 1) * (
        8 * L.SECTOR_SIZE) + 64 * 1024 * 1024


def extract_vhd(path, work_dir, work_prefix, max_size):
    """Extract ``0.vhd`` from the tarball ``path``; return the work file.

    The archive must have the one shape :mod:`xenimage_import.archive`
    accepts. The VHD may hold at most ``max_size`` bytes of disk
    (:func:`member_limit`): the tar header declares the member's size, so
    a bigger member is refused before anything is decompressed. The work
    file is sparse; the caller removes it. On error it is removed here.
    """
    limit = member_limit(max_size)
    fd, work_file = workfiles.create(work_dir, work_prefix, workfiles.VHD)
    try:
        with open(path, 'rb') as raw, os.fdopen(fd, 'wb') as out:
            try:
                gz = archive.GzipMemberReader(raw)
                size = archive.read_header(gz, limit)
                _copy_sparse(archive.MemberReader(gz, size), out, size)
                archive.check_end(gz, size)
            except exception.ArchiveError as e:
                _refuse(str(e))
    except BaseException:
        cleanup.remove(work_file)
        raise
    return work_file


def extract_chain(path, work_dir, work_prefix, layer_limit, total_limit):
    """Extract the VHDs of a snapshot tarball; return ``{name: work file}``.

    Each member is bounded by ``layer_limit`` disk bytes and all of them
    together by ``total_limit`` (:func:`member_limit` of each), checked on
    the headers before anything is decompressed. A legacy ``swap.vhd`` is
    read past, never written. On error every work file is removed.
    """
    found = {}
    try:
        with open(path, 'rb') as raw:
            try:
                stream, _ = archive.open_stream(raw)
                for name, member in archive.read_chain(
                        stream, member_limit(total_limit),
                        member_limit(layer_limit)):
                    if name == archive.SWAP_MEMBER:
                        member.drain()
                        continue
                    fd, work_file = workfiles.create(work_dir, work_prefix,
                                                     workfiles.VHD)
                    found[name] = work_file
                    with os.fdopen(fd, 'wb') as out:
                        _copy_sparse(member, out, member.size)
            except exception.ArchiveError as e:
                _refuse(str(e))
    except BaseException:
        for work_file in found.values():
            cleanup.remove(work_file)
        raise
    return found


def _copy_sparse(src, out, size):
    """Copy ``size`` bytes, leaving holes where whole chunks are zero."""
    done = 0
    while done < size:
        chunk = src.read(min(_CHUNK, size - done))
        if chunk == _ZERO_CHUNK[:len(chunk)]:
            out.seek(len(chunk), os.SEEK_CUR)
        else:
            out.write(chunk)
        done += len(chunk)
    out.truncate(size)
