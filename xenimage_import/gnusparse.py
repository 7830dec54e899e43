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

"""GNU sparse tar members, expanded as GNU tar extracts them.

A VHD written by qemu-img has holes, and the tools people pack it with
store such a file sparse: ``bsdtar -c`` (macOS's ``tar``) and ``tar -S
--format=posix`` by default as pax format 1.0, ``tar -S`` in GNU format
as an old-GNU ``S`` member. The member then holds only the data extents,
plus a map of where each one goes in a file of ``realsize`` bytes:

==========  ==============================================================
encoding    map and sizes
==========  ==============================================================
old GNU     typeflag ``S``; 4 ``(offset, numbytes)`` octal pairs in the
            header (:data:`OLDGNU_TAIL`), then extension blocks of 21
            (:data:`OLDGNU_EXTENSION`) while ``isextended`` is set; the
            file's size in ``realsize``
pax 0.1     ``GNU.sparse.map=off,len,...``, ``GNU.sparse.size``,
            ``GNU.sparse.numblocks``, ``GNU.sparse.name``
pax 1.0     ``GNU.sparse.major=1``, ``minor=0``, ``GNU.sparse.realsize``,
            ``GNU.sparse.name``; the map opens the member's data: the
            count, then each offset and length, in decimal, one per line,
            zero padded to a 512-byte block
==========  ==============================================================

In pax form the ustar name is a stand-in (``GNUSparseFile.N/0.vhd``) and
``GNU.sparse.name`` the real one. Pax 0.0 (repeated ``GNU.sparse.offset``
records) is refused: it is written only on request, and readers pair its
records differently.

Tar readers differ on odd maps. GNU tar reads each extent from a block
of its own, so an extent that is not whole blocks skips the rest of its
last block, where ``tarfile`` and libarchive read on; it sizes the file
by its last extent, where they take ``realsize``; it stops at the first
empty old-GNU entry and never reads the extension blocks after it,
``tarfile`` drops extension entries at offset 0 and takes ``int()``
syntax such as ``+5``. So only maps every reader expands alike are
accepted (:meth:`SparseMap.check`): decimal or octal digits, extents in
ascending order without overlap, whole 512-byte blocks but for the last
one holding data, a zero-length extent only last, the last extent
ending at ``realsize`` (a file ending in a hole ends with a zero-length
extent there, as GNU tar and bsdtar write it), and lengths adding up to
exactly the bytes stored. The map is held in memory (16 bytes an
extent), so its length is bounded before it is read
(:data:`MAX_EXTENTS`).

Only an upload that is re-written anyway reads sparse members
(:func:`xenimage_import.archive.read_chain`): an archive stored as it is
must be plain, since busybox tar writes a sparse member out unexpanded.
"""

import array
import re

from xenimage_import import exception
from xenimage_import import pax
from xenimage_import import structs
from xenimage_import import tarfields

BLOCK = tarfields.BLOCK
SPARSE_TYPE = b'S'                   # old GNU sparse member
# Extents one map may hold: a qemu-img VHD of a 1 TiB disk has 524,288
# data blocks, and each block is one extent, or a few where it holds
# runs of zeros; 2**21 extents cost 32 MiB of map.
MAX_EXTENTS = 2 * 1024 * 1024
# Where the ustar layout keeps its name prefix, the old GNU layout keeps
# times, its first sparse entries and the file's real size.
OLDGNU_TAIL_AT = 345
OLDGNU_TAIL = structs.Layout('OldGnuTail', [
    ('atime', '12s'),
    ('ctime', '12s'),
    ('offset', '12s'),               # multi-volume: offset of this part
    ('longnames', '4s'),
    ('unused', '1s'),
    ('sparse', '96s'),               # 4 entries of offset[12] numbytes[12]
    ('isextended', 'B'),
    ('realsize', '12s'),
    ('pad', '17s'),
], BLOCK - OLDGNU_TAIL_AT)
OLDGNU_EXTENSION = structs.Layout('OldGnuSparseExtension', [
    ('sparse', '504s'),              # 21 entries of offset[12] numbytes[12]
    ('isextended', 'B'),
    ('pad', '7s'),
], BLOCK)
_ENTRY = structs.Layout('OldGnuSparseEntry', [
    ('offset', '12s'),
    ('numbytes', '12s'),
], 24)

MAJOR = pax.SPARSE_PREFIX + b'major'
MINOR = pax.SPARSE_PREFIX + b'minor'
NAME = pax.SPARSE_PREFIX + b'name'
REALSIZE = pax.SPARSE_PREFIX + b'realsize'
SIZE = pax.SPARSE_PREFIX + b'size'
NUMBLOCKS = pax.SPARSE_PREFIX + b'numblocks'
MAP = pax.SPARSE_PREFIX + b'map'
_VERSION_1_0 = {MAJOR: b'1', MINOR: b'0'}
_KEYWORDS_1_0 = {MAJOR, MINOR, NAME, REALSIZE}
_KEYWORDS_0_1 = {SIZE, NUMBLOCKS, NAME, MAP}
_STAND_IN = re.compile(rb'(?:\./)?GNUSparseFile\.[0-9]+/([^/]+)\Z')
_MAX_DIGITS = 19
# Map numbers are kept as unsigned 64-bit integers (array 'Q').
_MAX_NUMBER = 10 ** _MAX_DIGITS - 1
_DECIMAL = re.compile(rb'[0-9]{1,%d}' % _MAX_DIGITS)
_READ_CHUNK = 1024 * 1024


def is_sparse(typeflag, records):
    """Whether a member with this typeflag and pax records is sparse."""
    return typeflag == SPARSE_TYPE or any(
        k.startswith(pax.SPARSE_PREFIX) for k in records)


class SparseMap(object):
    """Where a sparse member's stored bytes go in a file of ``realsize``.

    ``extents`` holds ``offset, length`` pairs back to back.
    """

    def __init__(self, realsize, extents):
        self.realsize = realsize
        self.extents = extents

    def __len__(self):
        return len(self.extents) // 2

    def check(self, stored):
        """Refuse a map readers could expand differently (module doc)."""
        end = 0
        count = len(self)
        unaligned = None
        for i in range(count):
            offset, length = self.extents[2 * i], self.extents[2 * i + 1]
            if offset < end:
                raise exception.ArchiveError(
                    'sparse map extent %d at %d overlaps or precedes the '
                    'one before it' % (i, offset))
            if not length and i != count - 1:
                raise exception.ArchiveError(
                    'sparse map extent %d is empty but not last' % i)
            if unaligned is not None and length:
                raise exception.ArchiveError(
                    'sparse map extent %d holds %d bytes, not whole '
                    'blocks, and is not the last' % unaligned)
            if length % BLOCK:
                unaligned = (i, length)
            end = offset + length
            if end > self.realsize:
                raise exception.ArchiveError(
                    'sparse map extent %d ends at %d, past the file\'s '
                    'size %d' % (i, end, self.realsize))
        if end != self.realsize:
            raise exception.ArchiveError(
                'sparse map ends at %d but the file is %d bytes, with no '
                'empty last extent to mark its end' % (end, self.realsize))
        placed = sum(self.extents[1::2])
        if placed != stored:
            raise exception.ArchiveError(
                'sparse map places %d bytes but the member stores %d'
                % (placed, stored))


def _decimal(raw, what):
    if not _DECIMAL.fullmatch(raw):
        raise exception.ArchiveError('%s is not a decimal number (%r)'
                                     % (what, raw[:24]))
    return int(raw)


def _check_count(count, stored):
    """Refuse a map longer than the member can hold, before it is read.

    Every extent but the last two (data of part of a block, the end
    marker) stores at least a block, so ``stored`` bytes hold at most
    ``stored / 512 + 2`` of them; :data:`MAX_EXTENTS` bounds the memory.
    """
    if count > stored // BLOCK + 2:
        raise exception.ArchiveError(
            'sparse map of %d extents for %d stored bytes' % (count, stored))
    if count > MAX_EXTENTS:
        raise exception.ArchiveError(
            'sparse map of %d extents (at most %d); archive the file '
            'without sparse handling' % (count, MAX_EXTENTS))


def pax_version(records):
    """``'1.0'`` or ``'0.1'`` from the pax records of a sparse member."""
    keywords = {k for k in records if k.startswith(pax.SPARSE_PREFIX)}
    if MAJOR in keywords or MINOR in keywords:
        if {k: records.get(k) for k in (MAJOR, MINOR)} != _VERSION_1_0:
            raise exception.ArchiveError(
                'GNU sparse format %s.%s is not one tar readers share'
                % (pax.shown(records.get(MAJOR, b'?')),
                   pax.shown(records.get(MINOR, b'?'))))
        version, known = '1.0', _KEYWORDS_1_0
    else:
        version, known = '0.1', _KEYWORDS_0_1
    if keywords != known:
        raise exception.ArchiveError(
            'GNU sparse %s member with records %s (expected %s)'
            % (version, _names(keywords), _names(known)))
    return version


def _names(keywords):
    return ', '.join(sorted(pax.shown(k) for k in keywords))


def real_name(ustar_name, records):
    """The member's name: ``GNU.sparse.name`` behind its stand-in.

    GNU tar and ``tarfile`` take ``GNU.sparse.name`` over ``path``; both
    must agree, and the ustar name must be the stand-in GNU tar or bsdtar
    writes for that same file.
    """
    name = records[NAME]
    if pax.PATH in records and records[pax.PATH] != name:
        raise exception.ArchiveError(
            'pax path %r differs from GNU.sparse.name %r'
            % (pax.shown(records[pax.PATH]), pax.shown(name)))
    match = _STAND_IN.match(ustar_name)
    if not match or match.group(1) != name.rpartition(b'/')[2]:
        raise exception.ArchiveError(
            'sparse member named %r in its header but %r in its pax '
            'records' % (pax.shown(ustar_name), pax.shown(name)))
    return name


def map_0_1(records, stored):
    """The :class:`SparseMap` of a pax 0.1 member (all in its records)."""
    realsize = _decimal(records[SIZE], 'GNU.sparse.size')
    count = _decimal(records[NUMBLOCKS], 'GNU.sparse.numblocks')
    _check_count(count, stored)
    extents = array.array('Q')
    fields = records[MAP].split(b',') if records[MAP] else []
    if len(fields) != 2 * count:
        raise exception.ArchiveError(
            'GNU.sparse.map holds %d numbers for %d extents'
            % (len(fields), count))
    extents.extend(_decimal(f, 'a GNU.sparse.map number') for f in fields)
    return SparseMap(realsize, extents)


def read_map_1_0(next_block, records, stored):
    """``(SparseMap, bytes read)``: the map opening a pax 1.0 member.

    ``next_block()`` returns the member's next 512 bytes. Lines are read
    one block at a time, so a map is never held as text; the rest of its
    last block must be zero.
    """
    realsize = _decimal(records[REALSIZE], 'GNU.sparse.realsize')
    reader = _Lines(next_block, stored)
    count = _decimal(reader.line(), 'the sparse map\'s count')
    _check_count(count, stored)
    extents = array.array('Q')
    for _ in range(2 * count):
        extents.append(_decimal(reader.line(), 'a sparse map number'))
    reader.finish_block()
    return SparseMap(realsize, extents), reader.used


class _Lines(object):
    """Newline-terminated numbers from whole 512-byte blocks of a member."""

    def __init__(self, next_block, limit):
        self._next_block = next_block
        self._limit = limit
        self._buf = b''
        self.used = 0

    def line(self):
        while b'\n' not in self._buf:
            if b'\0' in self._buf:
                raise exception.ArchiveError(
                    'the sparse map ends before its last number')
            if len(self._buf) > _MAX_DIGITS:
                raise exception.ArchiveError(
                    'a sparse map line is longer than a number')
            if self.used + BLOCK > self._limit:
                raise exception.ArchiveError(
                    'the sparse map runs past the member\'s data')
            self._buf += self._next_block()
            self.used += BLOCK
        line, _, self._buf = self._buf.partition(b'\n')
        return line

    def finish_block(self):
        if any(self._buf):
            raise exception.ArchiveError(
                'the sparse map\'s block has data after the map')


def read_oldgnu_map(block, next_block, stored):
    """The :class:`SparseMap` of the old GNU ``S`` member headed by ``block``.

    ``next_block()`` returns the next 512 bytes of the archive: the
    extension blocks that follow the header.
    """
    tail = OLDGNU_TAIL.unpack(block[OLDGNU_TAIL_AT:])
    for field in ('atime', 'ctime', 'offset', 'longnames', 'unused', 'pad'):
        if any(getattr(tail, field)):
            raise exception.ArchiveError(
                'sparse member header sets the GNU %s field' % field)
    realsize = tarfields.number(tail.realsize, 'realsize',
                                base256=True)
    extents = array.array('Q')
    more = _entries(tail.sparse, extents, tail.isextended)
    while more:
        # A block that is followed by another is full: 21 entries more.
        _check_count(len(extents) // 2, stored)
        ext = OLDGNU_EXTENSION.unpack(next_block())
        if any(ext.pad):
            raise exception.ArchiveError(
                'a sparse header extension has data in its padding')
        more = _entries(ext.sparse, extents, ext.isextended)
    _check_count(len(extents) // 2, stored)
    return SparseMap(realsize, extents)


def _entries(raw, extents, isextended):
    """Append a block's entries; whether an extension block follows.

    An all-zero entry ends the map, and GNU tar then reads no extension,
    so nothing may follow it, nor ``isextended`` be set.
    """
    if isextended not in (0, 1):
        raise exception.ArchiveError('sparse header isextended is %d'
                                     % isextended)
    for at in range(0, len(raw), _ENTRY.size):
        entry = _ENTRY.unpack(raw[at:])
        if not any(raw[at:at + _ENTRY.size]):
            if any(raw[at:]) or isextended:
                raise exception.ArchiveError(
                    'sparse header has entries after an empty one')
            return False
        for field in ('offset', 'numbytes'):
            value = tarfields.number(getattr(entry, field),
                                     'sparse ' + field, base256=True)
            if value > _MAX_NUMBER:
                raise exception.ArchiveError(
                    'sparse %s %d is out of range' % (field, value))
            extents.append(value)
    return bool(isextended)


class ExpandedReader(object):
    """A sparse member read as the file GNU tar extracts: holes as zeros.

    :param member: reads the member's stored extents, in map order.
    """

    sparse = True

    def __init__(self, member, sparse_map, name):
        self._member = member
        self._map = sparse_map
        self.name = name
        self.size = sparse_map.realsize
        self._pos = 0
        self._extent = 0

    def read(self, size=-1):
        if size is None or size < 0:
            size = _READ_CHUNK
        size = min(size, self.size - self._pos)
        if size <= 0:
            return b''
        extents = self._map.extents
        while self._extent < len(self._map) and \
                self._pos >= extents[2 * self._extent] + \
                extents[2 * self._extent + 1]:
            self._extent += 1
        if self._extent < len(self._map):
            start = extents[2 * self._extent]
            if self._pos >= start:
                end = start + extents[2 * self._extent + 1]
                data = self._member.read(min(size, end - self._pos))
                self._pos += len(data)
                return data
            size = min(size, start - self._pos)
        self._pos += size
        return bytes(size)

    def drain(self):
        """Skip the rest without expanding it."""
        self._member.drain()
        self._pos = self.size
