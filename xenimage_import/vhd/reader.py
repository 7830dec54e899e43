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

"""Judge a VHD the way XenServer's dom0 side does.

The checks are those of ``vhd-util check`` (which XenServer and Nova's dom0
plugin run on every imported VHD), plus what Nova and ``vhd-util resize``
add: the leaf must not be hidden, and only creator ``tap`` can be resized.

The VHD is read strictly front to back, so the same code judges a file on
disk and a ``0.vhd`` streamed out of a tarball, with flat memory: only the
metadata and the last 512 bytes are kept.
"""

import array
import dataclasses
import time
import typing

from xenimage_import import exception
from xenimage_import import structs
from xenimage_import.vhd import layout as L

_SKIP_CHUNK = 1024 * 1024


@dataclasses.dataclass
class Problem(object):
    check: str
    message: str

    def __str__(self):
        return '%s: %s' % (self.check, self.message)


@dataclasses.dataclass
class VhdReport(object):
    """What the validator found; ``valid`` when ``problems`` is empty."""

    file_size: int
    problems: list = dataclasses.field(default_factory=list)
    creator: str = ''
    disk_type: str = ''
    virtual_size: int = 0
    blocks_total: int = 0
    blocks_allocated: int = 0
    # The records read, for callers that link VHDs into a chain; ``bat``
    # maps each used BAT entry's block to its sector.
    footer: typing.Any = None
    header: typing.Any = None
    bat: typing.Any = dataclasses.field(default=None, repr=False)

    @property
    def valid(self):
        return not self.problems

    def fail(self, check, message):
        self.problems.append(Problem(check, message))


def parse_footer(buf):
    """Footer record from 512 bytes, or None if the cookie is wrong."""
    if len(buf) < L.FOOTER_SIZE or not buf.startswith(L.FOOTER_COOKIE):
        return None
    return L.FOOTER.unpack(buf)


class _ForwardReader(object):
    """Random reads that only ever move forward over a stream."""

    def __init__(self, stream):
        self._stream = stream
        self.pos = 0

    def skip_to(self, offset):
        if offset < self.pos:
            raise ValueError('offset %d is behind %d' % (offset, self.pos))
        while self.pos < offset:
            chunk = self._stream.read(min(_SKIP_CHUNK, offset - self.pos))
            if not chunk:
                raise exception.TruncatedVhd(
                    'stream ended at byte %d' % self.pos)
            self.pos += len(chunk)

    def sum_to(self, offset):
        """Move to ``offset``; return the byte sum of what was passed."""
        total = 0
        while self.pos < offset:
            chunk = self._stream.read(min(_SKIP_CHUNK, offset - self.pos))
            if not chunk:
                raise exception.TruncatedVhd(
                    'stream ended at byte %d' % self.pos)
            total += sum(chunk)
            self.pos += len(chunk)
        return total

    def read_at(self, offset, size):
        self.skip_to(offset)
        parts = []
        while size:
            chunk = self._stream.read(size)
            if not chunk:
                raise exception.TruncatedVhd(
                    'stream ended at byte %d' % self.pos)
            parts.append(chunk)
            self.pos += len(chunk)
            size -= len(chunk)
        return b''.join(parts)


def _creator_name(app):
    return app.rstrip(b'\0').decode('ascii', 'replace')


# What a VHD is in the file it came in: a standalone image, or a layer of
# a snapshot chain (the leaf, or a parent: differencing or the base).
STANDALONE = 'standalone'
CHAIN_LEAF = 'leaf'
CHAIN_PARENT = 'parent'


def _check_footer(report, footer, raw, now, role=STANDALONE):
    fail = report.fail
    if not L.checksum_matches(L.FOOTER, raw, footer):
        fail('footer.checksum', 'checksum mismatch')
    if not footer.features & L.FEATURES_RESERVED:
        fail('footer.features', 'reserved feature bit 0x2 not set '
             '(features 0x%08x)' % footer.features)
    if footer.file_format_version != L.FILE_FORMAT_VERSION:
        fail('footer.version', 'file format version 0x%08x, expected '
             '0x%08x' % (footer.file_format_version, L.FILE_FORMAT_VERSION))
    if footer.timestamp + L.VHD_EPOCH > now + L.TIMESTAMP_SLACK:
        fail('footer.timestamp', 'timestamp is %d s in the future'
             % (footer.timestamp + L.VHD_EPOCH - now))
    # A chain's layers are re-written whoever made them: only their
    # meaning counts, not their creator.
    if role == STANDALONE:
        if footer.creator_application != L.CREATOR_TAP:
            fail('footer.creator', 'created by %r, not tap: XenServer '
                 'cannot resize it (vhd-util resize needs creator "tap")'
                 % _creator_name(footer.creator_application))
        elif footer.creator_version > L.TAP_CREATOR_VERSION:
            fail('footer.creator_version', 'tap creator version 0x%08x is '
                 'newer than 1.3' % footer.creator_version)
    if footer.current_size % L.SECTOR_SIZE:
        # tapdisk and vhd-util address the disk in whole sectors; the
        # part-sector would be read by some and not by others.
        fail('footer.current_size', 'disk size %d is not a whole number of '
             '512-byte sectors' % footer.current_size)
    chs = L.geometry_sectors(L.chs_geometry(footer.current_size))
    if L.geometry_sectors(footer.disk_geometry) > chs:
        fail('footer.geometry', 'geometry too large (%d/%d/%d for %d bytes)'
             % (footer.disk_geometry >> 16, (footer.disk_geometry >> 8) & 0xFF,
                footer.disk_geometry & 0xFF, footer.current_size))
    if footer.disk_type not in L.DISK_TYPES:
        fail('footer.disk_type', 'invalid disk type %d' % footer.disk_type)
    elif footer.disk_type == L.DISK_TYPE_FIXED or (
            role == STANDALONE and footer.disk_type != L.DISK_TYPE_DYNAMIC):
        fail('footer.disk_type', '%s VHD; XenServer images must be dynamic '
             'and stand alone' % L.DISK_TYPES[footer.disk_type])
    if footer.saved_state not in (0, 1):
        fail('footer.saved_state', 'invalid saved state %d'
             % footer.saved_state)
    if footer.hidden not in (0, 1):
        fail('footer.hidden', 'invalid hidden flag %d' % footer.hidden)
    elif footer.hidden and role != CHAIN_PARENT:
        fail('footer.hidden', 'the VHD is hidden; Nova refuses hidden leaves')
    if any(footer.reserved):
        fail('footer.reserved', 'reserved bytes are not zero')
    if not any(footer.unique_id):
        fail('footer.unique_id', 'unique id is all zero')
    # original_size may differ from current_size after a resize: vhd-util
    # accepts it, and so does this.


def _check_header(report, header, raw, footer, file_size):
    fail = report.fail
    if header.cookie != L.HEADER_COOKIE:
        fail('header.cookie', 'dynamic header cookie is %r' % header.cookie)
        return False
    if not L.checksum_matches(L.DYNAMIC_HEADER, raw, header):
        fail('header.checksum', 'checksum mismatch')
    if header.header_version != L.HEADER_VERSION:
        fail('header.version', 'header version 0x%08x' % header.header_version)
    if header.data_offset != L.HEADER_DATA_OFFSET:
        fail('header.data_offset', 'data offset 0x%x is not all ones'
             % header.data_offset)
    ok = True
    if header.max_table_entries > L.MAX_BAT_ENTRIES:
        fail('header.max_table_entries', '%d BAT entries is beyond the VHD '
             'size limit' % header.max_table_entries)
        ok = False
    if header.table_offset <= 0 or header.table_offset % L.SECTOR_SIZE:
        fail('header.table_offset', 'BAT offset %d is not a positive '
             'multiple of 512' % header.table_offset)
        ok = False
    elif (header.table_offset + header.max_table_entries * L.BAT_ENTRY_SIZE
          > file_size - L.FOOTER_SIZE):
        fail('header.table_offset', 'BAT (%d entries at %d) runs past the '
             'end of the file' % (header.max_table_entries,
                                  header.table_offset))
        ok = False
    bs = header.block_size
    if bs == 0 or bs & (bs - 1) or bs < L.SECTOR_SIZE:
        fail('header.block_size', 'block size %d is not a power of two' % bs)
        ok = False
    elif bs != L.BLOCK_SIZE:
        fail('header.block_size', 'block size %d; XenServer uses 2 MiB' % bs)
    if header.reserved1 or any(header.reserved2):
        fail('header.reserved', 'reserved bytes are not zero')
    parent = (any(header.parent_unique_id) or header.parent_timestamp
              or any(header.parent_unicode_name)
              or any(header.parent_locators))
    if parent and footer.disk_type != L.DISK_TYPE_DIFFERENCING:
        fail('header.parent', 'parent fields set on a disk that is not '
             'differencing')
    if footer.current_size > header.max_table_entries * bs:
        fail('header.max_table_entries', '%d entries of %d bytes cannot hold '
             '%d bytes' % (header.max_table_entries, bs, footer.current_size))
    return ok


def _check_bat(report, bat, header, metadata_end, file_size, footer):
    """Every allocated block inside the file, after the metadata, alone.

    ``bat`` holds the used entries (:class:`L.UsedBat`). Memory and
    time follow the entries in use and the file: one problem per kind of
    fault (with a count), and the overlap test keeps one slot per
    block-sized stretch of the file.
    """
    if footer.current_size // header.block_size > header.max_table_entries:
        report.fail('bat.max_entries', 'fewer BAT entries than blocks')
    span = L.round_up(header.block_size // L.SECTOR_SIZE // 8,
                      L.SECTOR_SIZE) + header.block_size
    span_sectors = span // L.SECTOR_SIZE
    data_end = file_size - L.FOOTER_SIZE
    faults = {}
    # One slot per block-sized stretch of the file: entries past its end
    # are faults before any slot is looked at.
    slots = array.array('I', [L.BAT_UNUSED]) * (
        data_end // span + 2 if data_end > 0 else 2)
    used = 0
    for index, entry in bat.items():
        offset = entry * L.SECTOR_SIZE
        if offset < metadata_end:
            fault = ('bat.entry', 'block %d at byte %d overlaps the metadata'
                     % (index, offset))
        elif offset + span > data_end:
            fault = ('bat.entry', 'block %d at byte %d runs past the end of '
                     'the file' % (index, offset))
        elif slots[entry // span_sectors] != L.BAT_UNUSED:
            fault = ('bat.overlap', 'block %d overlaps another block'
                     % index)
        else:
            slots[entry // span_sectors] = entry
            used += 1
            continue
        faults.setdefault(fault[0], [fault[1], 0])[1] += 1
    for slot, entry in enumerate(slots[:-1]):
        if entry == L.BAT_UNUSED:
            continue
        after = slots[slot + 1]
        if after != L.BAT_UNUSED and after - entry < span_sectors:
            faults.setdefault('bat.overlap', [
                'block at sector %d overlaps the next one' % entry, 0])[1] += 1
    for check, (message, count) in faults.items():
        report.fail(check, message + (' (and %d more)' % (count - 1)
                                      if count > 1 else ''))
    report.blocks_allocated = used


def _check_batmap(report, reader, header, bat, file_size):
    """Validate the tap batmap; returns the end of the metadata."""
    fail = report.fail
    offset = L.batmap_header_offset(header.table_offset,
                                    header.max_table_entries)
    if offset + L.BATMAP_HEADER.size > file_size - L.FOOTER_SIZE:
        fail('batmap.offset', 'no room for the batmap header after the BAT')
        return offset
    raw = reader.read_at(offset, L.BATMAP_HEADER.size)
    bh = L.BATMAP_HEADER.unpack(raw)
    if bh.cookie != L.BATMAP_COOKIE:
        fail('batmap.cookie', 'tap VHD without a batmap (cookie %r)'
             % bh.cookie)
        return offset
    if bh.batmap_version > L.BATMAP_VERSION:
        fail('batmap.version', 'batmap version 0x%08x is newer than 1.2'
             % bh.batmap_version)
    needed = L.batmap_sectors(header.max_table_entries)
    if bh.batmap_size < needed:
        fail('batmap.size', 'batmap of %d sectors, %d needed'
             % (bh.batmap_size, needed))
        return offset + L.SECTOR_SIZE
    if bh.batmap_size > L.MAX_BATMAP_SECTORS:
        # vhd-util reads the whole batmap into memory in dom0.
        fail('batmap.size', 'batmap of %d sectors is larger than any VHD '
             'needs (%d)' % (bh.batmap_size, L.MAX_BATMAP_SECTORS))
        return offset + L.SECTOR_SIZE
    if (bh.batmap_offset % L.SECTOR_SIZE
            or bh.batmap_offset < offset + L.BATMAP_HEADER.size
            or bh.batmap_offset + bh.batmap_size * L.SECTOR_SIZE
            > file_size - L.FOOTER_SIZE):
        fail('batmap.offset', 'batmap at byte %d (%d sectors) is misplaced'
             % (bh.batmap_offset, bh.batmap_size))
        return offset + L.SECTOR_SIZE
    # The checksum covers batmap_size sectors, which the header chooses:
    # summed as it streams, only the bits for the BAT are kept.
    wanted = structs.ceil_div(header.max_table_entries, 8)
    bits = reader.read_at(bh.batmap_offset, wanted)
    total = sum(bits) + reader.sum_to(
        bh.batmap_offset + bh.batmap_size * L.SECTOR_SIZE)
    if ~total & 0xFFFFFFFF != bh.checksum:
        fail('batmap.checksum', 'checksum mismatch')
    for index in L.set_bits(bits):
        if index < header.max_table_entries and index not in bat:
            fail('batmap.bits', 'block %d is marked full in the batmap but '
                 'has no BAT entry' % index)
            break
    return bh.batmap_offset + bh.batmap_size * L.SECTOR_SIZE


def validate_vhd(stream, file_size, now=None, role=STANDALONE):
    """Validate a VHD read front to back from ``stream``.

    :param file_size: the VHD's size in bytes (from stat or the tar header).
    :param role: ``STANDALONE`` (a tap image as XenServer takes it), or
        the place of a layer in a snapshot chain: layers may be
        differencing and made by any tool, parents may be hidden.
    :returns: a :class:`VhdReport`.
    :raises exception.TruncatedVhd: the stream is shorter than ``file_size``.
    """
    now = time.time() if now is None else now
    report = VhdReport(file_size=file_size)
    if file_size < L.FOOTER_SIZE:
        report.fail('file.size', 'only %d bytes: too small for a VHD'
                    % file_size)
        return report
    if file_size % L.SECTOR_SIZE:
        report.fail('file.size', 'size %d is not a multiple of 512'
                    % file_size)
    reader = _ForwardReader(stream)
    copy_raw = reader.read_at(0, L.FOOTER_SIZE)
    copy = parse_footer(copy_raw)
    if copy is None:
        report.fail('footer.copy', 'no footer copy at offset 0 (fixed VHDs '
                    'and non-VHD files have none)')
        return _finish_with_footer(report, reader, file_size, None, now,
                                   role)
    report.creator = _creator_name(copy.creator_application)
    report.disk_type = L.DISK_TYPES.get(copy.disk_type, str(copy.disk_type))
    report.virtual_size = copy.current_size
    if copy.data_offset != L.DYNAMIC_HEADER_OFFSET:
        report.fail('footer.data_offset', 'dynamic header at %d, expected %d'
                    % (copy.data_offset, L.DYNAMIC_HEADER_OFFSET))
        return _finish_with_footer(report, reader, file_size, copy_raw, now,
                                   role)
    if copy.data_offset + L.DYNAMIC_HEADER.size > file_size:
        report.fail('header.location', 'dynamic header past end of file')
        return report
    header_raw = reader.read_at(copy.data_offset, L.DYNAMIC_HEADER.size)
    header = report.header = L.DYNAMIC_HEADER.unpack(header_raw)
    if not _check_header(report, header, header_raw, copy, file_size):
        return _finish_with_footer(report, reader, file_size, copy_raw, now,
                                   role)
    report.blocks_total = header.max_table_entries
    if header.table_offset < reader.pos:
        report.fail('header.table_offset', 'BAT overlaps the header')
        return _finish_with_footer(report, reader, file_size, copy_raw, now,
                                   role)
    bat_raw = reader.read_at(header.table_offset,
                             header.max_table_entries * L.BAT_ENTRY_SIZE)
    bat = report.bat = L.UsedBat(bat_raw)
    del bat_raw
    metadata_end = reader.pos
    if copy.creator_application == L.CREATOR_TAP:
        metadata_end = _check_batmap(report, reader, header, bat, file_size)
    if header.block_size == L.BLOCK_SIZE:
        # Other block sizes were refused above; their spans are not known.
        _check_bat(report, bat, header, metadata_end, file_size, copy)
    return _finish_with_footer(report, reader, file_size, copy_raw, now,
                               role)


def _finish_with_footer(report, reader, file_size, copy_raw, now,
                        role=STANDALONE):
    end = file_size - L.FOOTER_SIZE
    if end < reader.pos:
        report.fail('footer.location', 'footer overlaps the metadata')
        return report
    footer_raw = reader.read_at(end, L.FOOTER_SIZE)
    footer = parse_footer(footer_raw)
    if footer is None:
        report.fail('footer.cookie', 'no VHD footer at the end of the file')
        return report
    if not report.creator:
        report.creator = _creator_name(footer.creator_application)
        report.disk_type = L.DISK_TYPES.get(footer.disk_type,
                                            str(footer.disk_type))
        report.virtual_size = footer.current_size
    report.footer = footer
    _check_footer(report, footer, footer_raw, now, role)
    if copy_raw is not None and copy_raw != footer_raw:
        report.fail('footer.copy', 'the footer copy at offset 0 differs from '
                    'the footer at the end')
    return report
