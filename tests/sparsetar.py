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

"""Hand-made GNU sparse tar members, with any map, valid or not.

Real tools make the usual shapes (tests/functional/test_tar_readers.py
runs them); these builders write the three encodings they use, old GNU
``S``, pax 0.1 and pax 1.0, from a list of ``(offset, length)`` extents,
so that a test can give readers a map they might expand differently.
Headers come from Python's ``tarfile``, the sparse parts are written here
as GNU tar documents them; nothing is built with the code under test.
"""

import tarfile

BLOCK = 512
END = bytes(2 * BLOCK)


def extent_data(offset, length):
    """Recognisable bytes for the extent at ``offset``: never zero."""
    pattern = bytes(1 + (offset // BLOCK + i) % 251 for i in range(256))
    return (pattern * (length // len(pattern) + 1))[:length]


def expanded(extents, realsize):
    """The file GNU tar extracts: each extent's data at its offset."""
    disk = bytearray(realsize)
    for offset, length in extents:
        disk[offset:offset + length] = extent_data(offset, length)
    return bytes(disk)


def _pad(data):
    return data + bytes(-len(data) % BLOCK)


def _stored(extents):
    return b''.join(extent_data(o, n) for o, n in extents)


def _header(name, size, records=None, typeflag=tarfile.REGTYPE):
    info = tarfile.TarInfo(name)
    info.size = size
    info.type = typeflag
    info.mtime = 0
    if records is None:
        return info.tobuf(tarfile.GNU_FORMAT)
    info.pax_headers = {k: v for k, v in records.items()}
    return info.tobuf(tarfile.PAX_FORMAT)


def pax_1_0(extents, realsize, name='0.vhd',
            stand_in='GNUSparseFile.0/0.vhd', records=None, map_lines=None,
            map_tail=b''):
    """A pax 1.0 member (bsdtar's and ``tar -S --format=posix``'s).

    :param map_lines: the map's lines instead of the count and extents.
    :param map_tail: bytes after the map, in its last block.
    """
    if map_lines is None:
        map_lines = [b'%d' % len(extents)] + [
            b'%d' % v for extent in extents for v in extent]
    sparse_map = _pad(b''.join(line + b'\n' for line in map_lines)
                      + map_tail)
    data = sparse_map + _stored(extents)
    pax = {'GNU.sparse.major': '1', 'GNU.sparse.minor': '0',
           'GNU.sparse.name': name, 'GNU.sparse.realsize': str(realsize)}
    pax.update(records or {})
    return (_header(stand_in, len(data), {k: v for k, v in pax.items()
                                          if v is not None})
            + _pad(data) + END)


def pax_0_1(extents, realsize, name='0.vhd',
            stand_in='GNUSparseFile.0/0.vhd', records=None):
    """A pax 0.1 member (``tar -S --format=posix --sparse-version=0.1``)."""
    data = _stored(extents)
    pax = {'GNU.sparse.size': str(realsize),
           'GNU.sparse.numblocks': str(len(extents)),
           'GNU.sparse.name': name,
           'GNU.sparse.map': ','.join('%d,%d' % e for e in extents)}
    pax.update(records or {})
    return (_header(stand_in, len(data), {k: v for k, v in pax.items()
                                          if v is not None})
            + _pad(data) + END)


def entry(offset, length):
    return b'%011o\0%011o\0' % (offset, length)


def checksummed(block):
    block = bytearray(block)
    block[148:156] = b' ' * 8
    block[148:156] = b'%06o\0 ' % sum(block)
    return bytes(block)


def oldgnu(extents, realsize, name='0.vhd', entries=None,
           isextended=None):
    """An old GNU ``S`` member (``tar -S``'s default).

    Four entries fit in the header, 21 in each extension block.

    :param entries: raw 24-byte entries instead of the extents'.
    :param isextended: the flag of each block instead of the true ones.
    """
    if entries is None:
        entries = [entry(*e) for e in extents]
    groups = [entries[:4]] + [entries[i:i + 21]
                              for i in range(4, len(entries), 21)]
    flags = isextended or [int(i < len(groups) - 1)
                           for i in range(len(groups))]
    data = _stored(extents)
    header = bytearray(_header(name, len(data),
                               typeflag=tarfile.GNUTYPE_SPARSE)[:BLOCK])
    header[386:482] = b''.join(groups[0]).ljust(96, b'\0')
    header[482] = flags[0]
    header[483:495] = b'%011o\0' % realsize
    blocks = [checksummed(header)]
    for group, flag in zip(groups[1:], flags[1:]):
        blocks.append(b''.join(group).ljust(504, b'\0') + bytes([flag])
                      + bytes(7))
    return b''.join(blocks) + _pad(data) + END
