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

"""A XenServer VHD chain, read as the one disk its leaf shows.

Nova's XenAPI driver uploads a snapshot as the chain it sits in the SR:
``0.vhd`` the leaf, ``1.vhd`` its parent, ... the base last (older
images: ``snap.vhd`` -> ``image.vhd`` -> ``base.vhd``). Every layer but
the base is a differencing disk: a sector whose bit is set in its block's
bitmap is read from that layer, any other from the parent; the base is a
dynamic disk whose clear sectors read as zeros.

The chain is checked as XenServer checks one before trusting it
(doc/source/reference/tap-vhd.rst, "Snapshot chains"), then read block by
block: for each 2 MiB block, each sector from the nearest layer that has
it. Memory is the layers' used BAT entries (8 bytes each) plus two
blocks; time follows the blocks stored. What a header declares (a 2 TiB
disk, a BAT of a million entries) costs nothing while it holds nothing.
"""

import dataclasses
import heapq
import os
import re
import typing
import uuid

from xenimage_import import exception
from xenimage_import.vhd import layout as L
from xenimage_import.vhd import reader

# SM refuses chains deeper than this (vhdutil.MAX_CHAIN_SIZE).
MAX_DEPTH = 30
# Old snapshot names, leaf first, as os-xenapi renumbers them.
OLD_STYLE_NAMES = ('snap.vhd', 'image.vhd', 'base.vhd')
_NUMBERED = re.compile(r'(0|[1-9][0-9]*)\.vhd\Z')
_BITMAP_BYTES = L.SECTORS_PER_BLOCK // 8
_FULL_BITMAP = b'\xff' * _BITMAP_BYTES


def _refuse(message):
    raise exception.InvalidImage('refusing VHD chain: %s' % message)


def order(names):
    """The layer names of a snapshot tarball, leaf first.

    :raises exception.InvalidImage: names that are not one chain.
    """
    names = set(names)
    old = [n for n in OLD_STYLE_NAMES if n in names]
    numbered = sorted((int(m.group(1)), n) for n in names
                      for m in [_NUMBERED.match(n)] if m)
    if old and numbered:
        _refuse('it mixes numbered and old-style (%s) names'
                % ', '.join(old))
    if old:
        return old
    if len(numbered) != len(names):
        _refuse('unexpected members %s' % ', '.join(sorted(names)))
    for expected, (number, name) in enumerate(numbered):
        if number != expected:
            _refuse('%d.vhd is missing: the layers must be numbered from '
                    '0.vhd without gaps' % expected)
    if len(numbered) > MAX_DEPTH:
        _refuse('%d layers; XenServer takes chains of at most %d'
                % (len(numbered), MAX_DEPTH))
    return [name for _, name in numbered]


def disk_type(path):
    """The disk type in the footer at the end of the VHD at ``path``."""
    with open(path, 'rb') as f:
        size = os.fstat(f.fileno()).st_size
        if size < L.FOOTER_SIZE:
            return None
        f.seek(size - L.FOOTER_SIZE)
        footer = reader.parse_footer(f.read(L.FOOTER_SIZE))
    return footer.disk_type if footer else None


@dataclasses.dataclass
class Layer(object):
    """One VHD of the chain: its records and block tables."""

    name: str
    path: str
    footer: object
    header: object
    bat: typing.Any          # the used entries, a layout.UsedBat
    batmap: bytes            # tap "block fully allocated" bits, or b''

    @property
    def size(self):
        return self.footer.current_size

    def has_block(self, block):
        return block * L.BLOCK_SIZE < self.size and block in self.bat

    def blocks(self):
        """The blocks this layer holds inside its disk, in order."""
        limit = L.round_up(self.size, L.BLOCK_SIZE) // L.BLOCK_SIZE
        for block in self.bat.blocks:
            if block >= limit:
                return
            yield block

    def marked_full(self, block):
        byte = block // 8
        return (byte < len(self.batmap)
                and self.batmap[byte] & (0x80 >> (block % 8)))


def read_layer(name, path, role):
    """Validate the VHD at ``path`` as a layer and read its tables."""
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        report = reader.validate_vhd(f, size, role=role)
        if not report.valid:
            _refuse('%s: %s' % (name, report.problems[0]))
        fd = f.fileno()
        footer, header, bat = report.footer, report.header, report.bat
        batmap = b''
        if footer.creator_application == L.CREATOR_TAP:
            # validate_vhd checked the batmap of every tap VHD.
            bh = L.BATMAP_HEADER.unpack(os.pread(
                fd, L.BATMAP_HEADER.size, L.batmap_header_offset(
                    header.table_offset, header.max_table_entries)))
            batmap = os.pread(fd, bh.batmap_size * L.SECTOR_SIZE,
                              bh.batmap_offset)
    return Layer(name, path, footer, header, bat, batmap)


def _uuid(raw):
    return str(uuid.UUID(bytes=raw))


def check_links(layers):
    """Refuse anything but one chain, leaf first, as XenServer links it."""
    leaf, base = layers[0], layers[-1]
    if leaf.footer.hidden:
        _refuse('the leaf %s is hidden' % leaf.name)
    seen = {}
    for layer in layers:
        other = seen.setdefault(layer.footer.unique_id, layer.name)
        if other != layer.name:
            _refuse('%s and %s are the same disk (UUID %s): the chain '
                    'loops' % (other, layer.name,
                               _uuid(layer.footer.unique_id)))
    for child, parent in zip(layers, layers[1:]):
        if child.footer.disk_type != L.DISK_TYPE_DIFFERENCING:
            _refuse('%s is a %s disk, yet %s follows it: only the base may '
                    'stand alone' % (child.name, L.DISK_TYPES.get(
                        child.footer.disk_type), parent.name))
        if child.header.parent_unique_id != parent.footer.unique_id:
            _refuse('%s names parent %s, but %s is %s' % (
                child.name, _uuid(child.header.parent_unique_id),
                parent.name, _uuid(parent.footer.unique_id)))
        if parent.size > child.size:
            # SM grows a leaf past its parents (VDI.resize); nothing
            # shrinks a disk, so a parent larger than its child is forged.
            _refuse('%s (%d bytes) is larger than its child %s (%d bytes)'
                    % (parent.name, parent.size, child.name, child.size))
    if base.footer.disk_type != L.DISK_TYPE_DYNAMIC:
        _refuse('%s is a differencing disk whose parent is not in the '
                'tarball' % base.name)


def open_chain(members, names):
    """Validate the layers ``{name: path}``; return them leaf first.

    :param names: the layer names leaf first, as :func:`order` gives them.
    """
    layers = [read_layer(name, members[name],
                         reader.CHAIN_LEAF if i == 0 else reader.CHAIN_PARENT)
              for i, name in enumerate(names)]
    check_links(layers)
    return layers


def _sector_runs(bitmap):
    """``(first sector, count)`` of each run of set bits, MSB first."""
    start = None
    for byte_index, byte in enumerate(bitmap):
        if byte in (0, 0xFF) and (start is None) == (byte == 0):
            continue            # a whole byte continuing the current state
        for bit in range(8):
            sector = byte_index * 8 + bit
            if byte & (0x80 >> bit):
                if start is None:
                    start = sector
            elif start is not None:
                yield start, sector - start
                start = None
    if start is not None:
        yield start, len(bitmap) * 8 - start


class ChainImage(object):
    """The flattened disk of a checked chain, as non-zero 2 MiB blocks."""

    def __init__(self, layers):
        self.layers = layers
        self.size = layers[0].size
        self._fds = []
        self._count = sum(1 for _ in self._held())

    def _held(self):
        """Each block some layer holds, once, in order."""
        last = None
        for block in heapq.merge(*(layer.blocks() for layer in self.layers)):
            if block != last:
                yield block
                last = block

    def __enter__(self):
        for layer in self.layers:
            self._fds.append(os.open(layer.path, os.O_RDONLY))
        return self

    def __exit__(self, *exc):
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    def _owners(self, block):
        """Indexes of the layers holding ``block``, leaf first."""
        return [i for i, layer in enumerate(self.layers)
                if layer.has_block(block)]

    def candidate_bytes(self):
        return self._count * L.BLOCK_SIZE

    def _read(self, index, block):
        """(bitmap, data) of ``block`` in layer ``index``, checked."""
        layer = self.layers[index]
        offset = layer.bat.sector(block) * L.SECTOR_SIZE
        bitmap = os.pread(self._fds[index], _BITMAP_BYTES, offset)
        data = os.pread(self._fds[index], L.BLOCK_SIZE,
                        offset + L.SECTOR_SIZE)
        if len(bitmap) != _BITMAP_BYTES or len(data) != L.BLOCK_SIZE:
            _refuse('%s: block %d is cut short' % (layer.name, block))
        if layer.marked_full(block) and bitmap != _FULL_BITMAP:
            # tapdisk trusts the batmap and reads every sector here.
            _refuse('%s: block %d is marked full in the batmap but its '
                    'bitmap is not' % (layer.name, block))
        if index == len(self.layers) - 1 and not _clear_sectors_are_zero(
                bitmap, data):
            # NOTE: qemu ignores a dynamic disk's bitmap, tapdisk does
            # not: a clear sector holding data would read differently.
            _refuse('%s: block %d holds data in sectors its bitmap marks '
                    'empty' % (layer.name, block))
        return bitmap, data

    def data_blocks(self, progress=None):
        """Yield ``(index, data)`` for every non-zero block, in order."""
        for block in self._held():
            owners = self._owners(block)
            bitmap, data = self._read(owners[0], block)
            if bitmap != _FULL_BITMAP:
                data = self._merge(block, owners, (bitmap, data))
            if progress:
                progress(L.BLOCK_SIZE)
            if data != L.ZERO_BLOCK:
                yield block, data

    def _merge(self, block, owners, nearest):
        """The block as the leaf reads it.

        Each sector from the nearest layer whose bitmap has it; zero where
        none has.
        """
        merged = bytearray(L.BLOCK_SIZE)
        # Base first, one layer's block in memory at a time.
        for index in reversed(owners):
            bitmap, data = (nearest if index == owners[0]
                            else self._read(index, block))
            for first, count in _sector_runs(bitmap):
                start = first * L.SECTOR_SIZE
                end = start + count * L.SECTOR_SIZE
                merged[start:end] = data[start:end]
        return bytes(merged)


def _clear_sectors_are_zero(bitmap, data):
    covered = 0
    for first, count in _sector_runs(bitmap):
        if any(data[covered * L.SECTOR_SIZE:first * L.SECTOR_SIZE]):
            return False
        covered = first + count
    return not any(data[covered * L.SECTOR_SIZE:])
