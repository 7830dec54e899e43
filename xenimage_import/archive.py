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

"""The one gzipped-tar shape this project writes, and the only one it reads.

Nova's dom0 plugin unpacks images with GNU ``tar -zx``; busybox tar and
Python's ``tarfile`` read them elsewhere. Those parsers disagree on
almost everything outside plain ustar: GNU sparse members, pax and GNU
long-name records, damaged headers (GNU tar skips ahead to the next one,
``tarfile`` stops), numbers with signs or underscores, trailing data.
Any of these lets one archive mean two different ``0.vhd`` files. So an
upload is read here by a parser of our own that accepts exactly what
:func:`tar_header` and :func:`tar_trailer` produce, and what GNU tar
writes for ``tar -czf x.tgz 0.vhd``:

* one gzip member, nothing after it;
* one 512-byte header, magic ``ustar`` (POSIX or GNU), a valid unsigned
  checksum, type regular file, name ``0.vhd`` or ``./0.vhd``, no
  link name, no prefix, every other GNU extension field zero;
* before it, at most a global and an extended pax header whose records
  cannot change what is extracted (:mod:`xenimage_import.pax`): what
  Python's ``tarfile``, ``tar --format=posix`` and bsdtar write;
* numbers in plain octal digits (base-256 for sizes of 8 GiB and more,
  as GNU tar writes them), never negative;
* the member's data, zero padding to 512 bytes, then only zero blocks
  (at least two, at most :data:`MAX_END_BYTES`) to the end.

A snapshot tarball (:func:`read_chain`, a VHD chain as Nova's dom0 plugin
packs it with ``tar -zc --directory=D .``) obeys the same header rules and
may differ only in this: a first directory entry ``./``, members named
``N.vhd``, ``snap.vhd``, ``image.vhd``, ``base.vhd`` or ``swap.vhd`` (each
once), their declared sizes bounded together before any is read.

Nothing here allocates more than one header: no length field is trusted.
doc/source/hostile-uploads.rst lists the rules with the attacks they stop.
"""

import re
import time

from isal import isal_zlib

from xenimage_import import exception
from xenimage_import import gnusparse
from xenimage_import import pax
from xenimage_import import structs
from xenimage_import import tarfields

TAR_BLOCK = tarfields.BLOCK
TAR_RECORD = 20 * TAR_BLOCK          # GNU tar's default blocking factor
VHD_MEMBER = '0.vhd'
MEMBER_NAMES = (b'0.vhd', b'./0.vhd')
ONE_VHD = 'the archive must hold only 0.vhd at its root'
# Snapshot tarballs (Nova's upload of a VHD chain): numbered layers, the
# old names, and a legacy swap disk, under an optional root entry ./.
CHAIN_MEMBER = re.compile(
    rb'(?:\./)?((?:0|[1-9][0-9]?|snap|image|base|swap)\.vhd)\Z')
ROOT_DIR_NAMES = (b'./', b'.')
# Nova's legacy swap disk rides along in old snapshots; it is ignored.
SWAP_MEMBER = 'swap.vhd'
DIRTYPE = b'5'
# A root entry, 31 layers (one past SM's depth limit, to say why) and swap.
MAX_CHAIN_MEMBERS = 33
# End-of-archive zero blocks accepted after the member: tar's two blocks
# plus padding to a record of up to 1 MiB (tar -b 2048).
MIN_END_BYTES = 2 * TAR_BLOCK
MAX_END_BYTES = 1024 * 1024 + 2 * TAR_BLOCK

TAR_HEADER = structs.Layout('TarHeader', [
    ('name', '100s'),
    ('mode', '8s'),
    ('uid', '8s'),
    ('gid', '8s'),
    ('size', '12s'),
    ('mtime', '12s'),
    ('checksum', '8s'),
    ('typeflag', '1s'),
    ('linkname', '100s'),
    ('magic', '6s'),
    ('version', '2s'),
    ('uname', '32s'),
    ('gname', '32s'),
    ('devmajor', '8s'),
    ('devminor', '8s'),
    # POSIX: the name prefix; GNU: atime, ctime, sparse map, realsize.
    ('prefix', '155s'),
    ('pad', '12s'),
], TAR_BLOCK)

MAGIC_GNU = (b'ustar ', b' \0')
MAGIC_POSIX = (b'ustar\0', b'00')
REGTYPE = b'0'
AREGTYPE = b'\0'                     # pre-POSIX regular file
# What other member types are, for refusals users can act on.
_TYPE_NAMES = {
    b'1': 'a hard link', b'2': 'a symlink', b'3': 'a character device',
    b'4': 'a block device', b'5': 'a directory', b'6': 'a fifo',
    b'7': 'a contiguous file', b'L': 'a GNU long name record',
    b'K': 'a GNU long link record', b'S': 'a GNU sparse file',
    b'M': 'a GNU multi-volume continuation', b'V': 'a GNU volume label',
    b'D': 'a GNU directory dump', b'N': 'a GNU old long name record',
}
_MODE_BITS = 0o777
GZIP_MAGIC = b'\x1f\x8b'
# The compressed streams tar writes (-z, -J, -j, --zstd), by their magic
# (RFC 1952, the xz and bzip2 formats, RFC 8878). Only gzip is read; the
# others are known so that a refusal can name them.
COMPRESSION_MAGIC = (
    ('gzip', re.compile(re.escape(GZIP_MAGIC))),
    ('xz', re.compile(rb'\xfd7zXZ\x00')),
    ('bzip2', re.compile(rb'BZh[1-9]\x31\x41\x59\x26\x53\x59')),
    ('zstd', re.compile(rb'\x28\xb5\x2f\xfd')),
)
UNREAD_COMPRESSION = tuple(name for name, _ in COMPRESSION_MAGIC
                           if name != 'gzip')
BARE_TAR = 'tar'
GZIP_WBITS = 16 + isal_zlib.MAX_WBITS
_READ_CHUNK = 1024 * 1024


def _number(header, field, base256=False):
    """A numeric field of ``header`` (:func:`tarfields.number`)."""
    return tarfields.number(getattr(header, field), field, base256)


def _text(header, field):
    """A NUL-terminated text field whose padding is all NUL."""
    raw = getattr(header, field)
    value, _, rest = raw.partition(b'\0')
    if rest.strip(b'\0'):
        raise exception.ArchiveError(
            'tar header field %s has data after its end'
            % field)
    return value


def _checksum(block):
    offset = TAR_HEADER.offsets['checksum']
    return sum(block[:offset]) + 8 * 0x20 + sum(block[offset + 8:])


def container(head):
    """What a file opening with ``head`` (its first block) holds, if known.

    A compression name of :data:`COMPRESSION_MAGIC`, :data:`BARE_TAR` for
    an uncompressed tarball, or None. A bare tarball is a ustar header
    whose checksum holds: a disk whose first sector happened to carry the
    magic and a right checksum is not a thing real tools make.
    """
    for name, magic in COMPRESSION_MAGIC:
        if magic.match(head):
            return name
    if len(head) < TAR_BLOCK:
        return None
    header = TAR_HEADER.unpack(head)
    if (header.magic, header.version) not in (MAGIC_GNU, MAGIC_POSIX):
        return None
    try:
        if _number(header, 'checksum') == _checksum(head[:TAR_BLOCK]):
            return BARE_TAR
    except exception.ArchiveError:
        pass
    return None


def open_stream(fileobj):
    """``(tar stream, gzipped)`` of a tarball read from ``fileobj``.

    Gunzipped (one member) or as it is; ``fileobj`` need not seek.
    """
    head = read_upto(fileobj, len(GZIP_MAGIC))
    stream = PrefixedReader(head, fileobj)
    if head == GZIP_MAGIC:
        return GzipMemberReader(stream), True
    return stream, False


class PrefixedReader(object):
    """``head``, already read from ``fileobj``, then the rest of it."""

    def __init__(self, head, fileobj):
        self._head = head
        self._file = fileobj

    def read(self, size=-1):
        if not self._head:
            return self._file.read(size)
        if size is None or size < 0:
            size = _READ_CHUNK
        data, self._head = self._head[:size], self._head[size:]
        return data


def typeflag(block):
    """The type of the member whose header is ``block``."""
    return block[TAR_HEADER.offsets['typeflag']:][:1]


def _parse_common(block, what):
    """The header in ``block`` after every check but its type and name."""
    if len(block) < TAR_BLOCK:
        raise exception.ArchiveError('the archive ends inside %s' % what)
    header = TAR_HEADER.unpack(block)
    if (header.magic, header.version) not in (MAGIC_GNU, MAGIC_POSIX):
        raise exception.ArchiveError('not a ustar archive (magic %r)'
                                     % (header.magic + header.version))
    if _number(header, 'checksum') != _checksum(block):
        raise exception.ArchiveError(
            'tar header checksum mismatch (damaged header)')
    mode = _number(header, 'mode')
    if mode & ~_MODE_BITS:
        raise exception.ArchiveError(
            'member has mode %o (setuid, setgid or sticky)' % mode)
    for field in ('uid', 'gid', 'mtime'):
        _number(header, field, base256=True)
    for field in ('devmajor', 'devminor'):
        if any(getattr(header, field)):
            _number(header, field)
    _text(header, 'uname')
    _text(header, 'gname')
    return header


def _check_plain(header):
    """No link, name prefix or GNU extension field (after the type)."""
    if any(header.linkname) or any(header.prefix) or any(header.pad):
        raise exception.ArchiveError('tar header carries link, prefix or GNU '
                                     'extension fields')


def _refuse_type(header, expected):
    raise exception.ArchiveError('the member is %s, not %s' % (
        _TYPE_NAMES.get(header.typeflag)
        or 'of unknown type %r' % header.typeflag, expected))


def _refuse_name(name, expected):
    shown = name.decode('ascii', 'replace')[:64]
    if name.startswith(b'/') or b'..' in name.split(b'/'):
        raise exception.ArchiveError('member %r points outside the archive'
                                     % shown)
    raise exception.ArchiveError('member %r: %s' % (shown, expected))


def parse_header(block, records=None):
    """The size of the one ``0.vhd`` member from its 512-byte header.

    :param records: the pax records that came before it, if any.
    :raises exception.ArchiveError: anything outside the accepted shape.
    """
    if len(block) == TAR_BLOCK and not any(block):
        raise exception.ArchiveError('the archive is empty')
    header = _parse_common(block, 'its first header')
    if header.typeflag not in (REGTYPE, AREGTYPE):
        _refuse_type(header, 'a regular file 0.vhd')
    _check_plain(header)
    name = _text(header, 'name')
    size = _number(header, 'size', base256=True)
    pax.check_overrides(records or {}, name, size)
    if name not in MEMBER_NAMES:
        _refuse_name(name, ONE_VHD)
    return size


def next_header(stream, what):
    """``(block, pax records)``: the next header, past any pax headers.

    The records are checked (:func:`pax.parse`) and bounded before they
    are read; a zero block (the end of the archive) comes back as is.
    """
    records = {}
    for _ in range(pax.MAX_HEADERS + 1):
        block = read_exactly(stream, TAR_BLOCK, what)
        if typeflag(block) not in pax.TYPES:
            return block, records
        header = _parse_common(block, 'a pax header')
        if any(header.linkname):
            raise exception.ArchiveError('a pax header carries a link name')
        size = _number(header, 'size', base256=True)
        if size > pax.MAX_RECORDS_BYTES:
            raise exception.ArchiveError(
                'a pax header of %d bytes (at most %d)'
                % (size, pax.MAX_RECORDS_BYTES))
        data = read_exactly(stream, size, 'a pax header')
        read_exactly(stream, -size % TAR_BLOCK, 'a pax header')
        for keyword, value in pax.parse(data, header.typeflag).items():
            if keyword in records:
                raise exception.ArchiveError(
                    'pax record %s is set twice for one member'
                    % keyword.decode('utf-8', 'replace')[:48])
            records[keyword] = value
    raise exception.ArchiveError('more than %d pax headers before a member'
                                 % pax.MAX_HEADERS)


def parse_chain_header(block, records=None):
    """``(name, size)`` of a member of a snapshot tarball.

    ``name`` is the VHD's name without ``./`` (``1.vhd``, ``snap.vhd``),
    or ``None`` for the root directory entry ``./`` that
    ``tar -c --directory=... .`` writes first.
    """
    header = _parse_common(block, 'a header')
    name = _text(header, 'name')
    root = (header.typeflag == DIRTYPE and name in ROOT_DIR_NAMES
            and not _number(header, 'size', base256=True))
    if not root and header.typeflag not in (REGTYPE, AREGTYPE):
        _refuse_type(header, 'a regular .vhd file')
    _check_plain(header)
    size = _number(header, 'size', base256=True)
    pax.check_overrides(records or {}, name, size)
    if root:
        return None, 0
    return _chain_name(name), size


def _chain_name(name):
    """``name`` without ``./``, if a snapshot tarball may hold it."""
    match = CHAIN_MEMBER.match(name)
    if not match:
        _refuse_name(name, ONE_VHD + ' (or a snapshot chain: 0.vhd, 1.vhd, '
                     '...)')
    return match.group(1).decode('ascii')


def _sparse_member(stream, block, records):
    """``(name, reader, stored bytes)`` of a GNU sparse member.

    The header obeys the plain member's rules but for what makes it
    sparse; its map (:mod:`xenimage_import.gnusparse`) is read here, and
    the reader returned expands the extents that follow.
    """
    header = _parse_common(block, 'a header')
    stored = _number(header, 'size', base256=True)

    def next_block():
        return read_exactly(stream, TAR_BLOCK, 'a sparse map')

    if header.typeflag == gnusparse.SPARSE_TYPE:
        # Its map lives in fields only the GNU layout has.
        if (header.magic, header.version) != MAGIC_GNU:
            raise exception.ArchiveError(
                'a GNU sparse member in a header that is not GNU\'s')
        if any(header.linkname):
            raise exception.ArchiveError('tar header carries a link name')
        name = _text(header, 'name')
        pax.check_overrides(records, name, stored)
        sparse_map = gnusparse.read_oldgnu_map(block, next_block, stored)
        map_bytes = 0
    else:
        if header.typeflag not in (REGTYPE, AREGTYPE):
            _refuse_type(header, 'a regular .vhd file')
        _check_plain(header)
        pax.check_size(records, stored)
        version = gnusparse.pax_version(records)
        name = gnusparse.real_name(_text(header, 'name'), records)
        if version == '1.0':
            sparse_map, map_bytes = gnusparse.read_map_1_0(
                next_block, records, stored)
        else:
            sparse_map, map_bytes = gnusparse.map_0_1(records, stored), 0
    name = _chain_name(name)
    sparse_map.check(stored - map_bytes)
    member = MemberReader(stream, stored - map_bytes, name)
    return name, gnusparse.ExpandedReader(member, sparse_map, name), stored


def check_end(stream, size):
    """Read the member's padding and the end of the archive from ``stream``.

    Only zero bytes may follow the member: a second member, or a damaged
    header that GNU tar would skip to find one, is refused.
    """
    pad = -size % TAR_BLOCK
    if any(read_exactly(stream, pad, 'the padding of 0.vhd')):
        raise exception.ArchiveError('0.vhd is padded with non-zero bytes')
    _check_zero_tail(stream, 0, '0.vhd')


def _check_zero_tail(stream, end, after):
    """Only whole zero blocks (``end`` bytes of them read) to the end."""
    while True:
        chunk = stream.read(min(_READ_CHUNK, MAX_END_BYTES + 1 - end))
        if not chunk:
            break
        if any(chunk):
            raise exception.ArchiveError(
                'data after %s (a second member or a damaged header)'
                % after)
        end += len(chunk)
        if end > MAX_END_BYTES:
            raise exception.ArchiveError('more than %d zero bytes after %s'
                                         % (MAX_END_BYTES, after))
    if end < MIN_END_BYTES or end % TAR_BLOCK:
        raise exception.ArchiveError(
            'the archive does not end with whole zero blocks after %s '
            '(%d bytes)' % (after, end))


def read_chain(stream, max_total, max_member=None):
    """Yield ``(name, member)`` for each VHD of a snapshot tarball, in order.

    ``member`` reads the VHD's ``member.size`` bytes from ``stream``; what
    the caller leaves unread is skipped. Names are unique; each VHD's size
    may not exceed ``max_member`` nor all of them together ``max_total``,
    checked before its data is read; only zero blocks may follow the last
    member. A GNU sparse member (``bsdtar``, ``tar -S``) is expanded as
    GNU tar extracts it: this is an archive that is re-written, never one
    stored as it is.
    """
    seen = set()
    total = members = 0
    last = None
    while True:
        block, records = next_header(stream, 'a header')
        if not any(block):
            if records:
                raise exception.ArchiveError('pax headers before no member')
            if not seen:
                raise exception.ArchiveError('the archive holds no VHD')
            _check_zero_tail(stream, TAR_BLOCK, last)
            return
        members += 1
        if members > MAX_CHAIN_MEMBERS:
            raise exception.ArchiveError('more than %d members'
                                         % MAX_CHAIN_MEMBERS)
        if gnusparse.is_sparse(typeflag(block), records):
            name, member, stored = _sparse_member(stream, block, records)
        else:
            name, stored = parse_chain_header(block, records)
            if name is None:
                if members != 1:
                    raise exception.ArchiveError(
                        'the root entry ./ comes after a file')
                continue
            member = MemberReader(stream, stored, name)
        if name in seen:
            raise exception.ArchiveError('%s appears twice' % name)
        seen.add(name)
        total += member.size
        _check_size(name, member.size, max_member)
        _check_size('the VHDs', total, max_total)
        yield name, member
        member.drain()
        if any(read_exactly(stream, -stored % TAR_BLOCK,
                            'the padding of %s' % name)):
            raise exception.ArchiveError('%s is padded with non-zero bytes'
                                         % name)
        last = name


def read_upto(stream, size):
    """``size`` bytes of ``stream``, fewer only where it ends."""
    data = b''
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def read_exactly(stream, size, what):
    data = read_upto(stream, size)
    if len(data) < size:
        raise exception.ArchiveError('the archive ends inside %s' % what)
    return data


def read_header(stream, max_size=None):
    """Read and parse the first header of the tar ``stream``.

    :param max_size: refuse a ``0.vhd`` declared larger than this before
        anything of it is read (the caller's expansion budget).
    """
    size = parse_header(*next_header(stream, 'its first header'))
    _check_size(VHD_MEMBER, size, max_size)
    return size


def _check_size(what, size, limit):
    """Refuse a declared size above the caller's expansion budget."""
    if limit is not None and size > limit:
        raise exception.ArchiveError(
            '%s would expand to %d bytes, beyond the limit of %d '
            '(max_virtual_size and max_expansion_ratio)'
            % (what, size, limit))


class MemberReader(object):
    """The ``size`` bytes of the member, read from the tar stream."""

    sparse = False

    def __init__(self, stream, size, name=VHD_MEMBER):
        self._stream = stream
        self.size = self.left = size
        self.name = name

    def read(self, size=-1):
        if size is None or size < 0 or size > self.left:
            size = self.left
        if not size:
            return b''
        data = self._stream.read(size)
        if not data:
            raise exception.ArchiveError('the archive ends inside %s'
                                         % self.name)
        self.left -= len(data)
        return data

    def drain(self):
        while self.read(_READ_CHUNK):
            pass


def _octal_field(value, width):
    """``value`` in octal with a NUL, or base-256 when it does not fit."""
    if value < 8 ** (width - 1):
        return b'%0*o\0' % (width - 1, value)
    return bytes([tarfields.BASE256]) + value.to_bytes(width - 1, 'big')


def tar_header(size, mtime=None):
    """The GNU tar header of a regular ``0.vhd`` of ``size`` bytes.

    Owned by root, mode 0644; sizes of 8 GiB and more in base-256, which
    GNU tar, busybox and ``tarfile`` all read without a pax record.
    """
    header = TAR_HEADER.make(
        name=VHD_MEMBER.encode(), mode=_octal_field(0o644, 8),
        uid=_octal_field(0, 8), gid=_octal_field(0, 8),
        size=_octal_field(size, 12),
        mtime=_octal_field(int(time.time() if mtime is None else mtime), 12),
        checksum=b' ' * 8, typeflag=REGTYPE, magic=MAGIC_GNU[0],
        version=MAGIC_GNU[1], uname=b'root', gname=b'root')
    block = TAR_HEADER.pack(header)
    return TAR_HEADER.pack(header._replace(
        checksum=b'%06o\0 ' % _checksum(block)))


def tar_trailer(size):
    """Member padding, the two zero blocks, and padding to a whole record."""
    pad = -size % TAR_BLOCK
    total = TAR_BLOCK + size + pad + 2 * TAR_BLOCK
    return bytes(pad + 2 * TAR_BLOCK + (-total % TAR_RECORD))


class GzipMemberReader(object):
    """Decompress exactly one gzip member, refusing anything after it.

    GNU gzip would go on into a second member; ``tarfile``'s ``r|gz``
    stops after the first. Data there is read by one consumer and not by
    another, so :meth: raises :class:`exception.Unreadable` when it finds any.
    """

    def __init__(self, fileobj):
        self._file = fileobj
        self._inflate = isal_zlib.decompressobj(GZIP_WBITS)

    def read(self, size=-1):
        if size is None or size < 0:
            size = _READ_CHUNK
        while not self._inflate.eof:
            data = self._inflate.unconsumed_tail or self._file.read(
                _READ_CHUNK)
            if not data:
                raise exception.Unreadable('gzip stream is truncated')
            try:
                out = self._inflate.decompress(data, size)
            except isal_zlib.error as e:
                raise exception.Unreadable('gzip stream is corrupt: %s' % e)
            if out:
                return out
        if self._inflate.unused_data or self._file.read(1):
            raise exception.ArchiveError(
                'data after the first gzip member (GNU gzip '
                'would read it, Python\'s tarfile would '
                'not)')
        return b''
