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

"""Snapshot chains for tests: differencing VHDs, tarballs and an oracle.

qemu-img cannot write differencing VHDs, so layers are written here from
the project's VHD layouts (the tap writer's plan places the structures),
with per-block sector bitmaps as tapdisk leaves them after partial writes.
What a chain means is computed twice, independently of the code under
test: :func:`expected_disk` from the layers' own description, and
:func:`libvhdi_disk` by libyal's libvhdi reading the files.
"""

import dataclasses
import os
import random
import subprocess
import uuid

from xenimage_import.vhd import layout as L
from xenimage_import.vhd import writer

SECTORS = L.SECTORS_PER_BLOCK
FULL = b'\xff' * (SECTORS // 8)


def bitmap_of(sectors):
    """A block bitmap with the bits of ``sectors`` set (MSB first)."""
    bits = bytearray(SECTORS // 8)
    for sector in sectors:
        bits[sector // 8] |= 0x80 >> (sector % 8)
    return bytes(bits)


@dataclasses.dataclass
class Layer(object):
    """One VHD of a chain: its size and, per block, (bitmap, 2 MiB data)."""

    size: int
    blocks: dict
    unique_id: bytes = dataclasses.field(
        default_factory=lambda: uuid.uuid4().bytes)
    # Set by link(): the parent's unique id (None: the base, dynamic).
    parent_id: bytes = None
    hidden: int = 0
    batmap_full: tuple = ()      # blocks to mark full whatever the bitmap

    def to_bytes(self):
        plan = writer.TapVhdPlan(self.size, sorted(self.blocks))
        diff = self.parent_id is not None
        footer = L.FOOTER.unpack(plan.footer(writer.vhd_timestamp(),
                                             self.unique_id))
        footer = L.pack_with_checksum(L.FOOTER, footer._replace(
            disk_type=L.DISK_TYPE_DIFFERENCING if diff
            else L.DISK_TYPE_DYNAMIC, hidden=self.hidden))
        header = L.DYNAMIC_HEADER.unpack(plan.dynamic_header())
        if diff:
            header = header._replace(
                parent_unique_id=self.parent_id,
                parent_timestamp=writer.vhd_timestamp(),
                parent_unicode_name='parent.vhd'.encode('utf-16-be'))
        header = L.pack_with_checksum(L.DYNAMIC_HEADER, header)
        # The batmap marks blocks whose bitmap is full, as tapdisk does.
        batmap = bytearray(plan.batmap_sectors * L.SECTOR_SIZE)
        for block, (bitmap, _) in self.blocks.items():
            if bitmap == FULL or block in self.batmap_full:
                batmap[block // 8] |= 0x80 >> (block % 8)
        head = b''.join([footer, header, plan.bat(),
                         plan.batmap_header(bytes(batmap)), bytes(batmap)])
        pieces = [head.ljust(plan.metadata_size, b'\0')]
        order = writer.TapVhdPlan(self.size)
        for block in plan.blocks:
            bitmap, data = self.blocks[block]
            # add() returns the gap and a full bitmap: keep the gap only.
            pieces.append(order.add(block)[:-L.SECTOR_SIZE] + bitmap)
            pieces.append(data)
        pieces.append(footer)
        return b''.join(pieces)


def link(layers):
    """Make ``layers`` (leaf first) one chain: each child names its parent.

    Parents are hidden, as SM leaves them.
    """
    for child, parent in zip(layers, layers[1:]):
        child.parent_id = parent.unique_id
        parent.hidden = 1
    return layers


def random_blocks(rng, size, count, partial=False, grain=1):
    """``count`` blocks of random data; partial ones set random runs.

    :param grain: runs start and end on multiples of this many sectors
        (8 for 4 KiB guest writes).
    """
    blocks = {}
    blocks_in_disk = range(size // L.BLOCK_SIZE)
    for block in rng.sample(blocks_in_disk, min(count, len(blocks_in_disk))):
        data = bytearray(rng.randbytes(L.BLOCK_SIZE))
        if partial:
            sectors = set()
            for _ in range(rng.randint(1, 6)):
                first = rng.randrange(SECTORS // grain) * grain
                length = rng.randint(1, 300 // grain) * grain
                sectors.update(range(first, min(SECTORS, first + length)))
            # Sectors outside the bitmap hold junk a reader must ignore.
            blocks[block] = (bitmap_of(sectors), bytes(data))
        else:
            blocks[block] = (FULL, bytes(data))
    return blocks


def sample_chain(depth, size=16 * 1024 * 1024, seed=1, grain=1):
    """A chain of ``depth`` layers over a base of full blocks."""
    rng = random.Random(seed)
    layers = [Layer(size, random_blocks(rng, size, 3, partial=True,
                                        grain=grain))
              for _ in range(depth - 1)]
    layers.append(Layer(size, random_blocks(rng, size, 5)))
    return link(layers)


def empty_chain(depth, size=L.MAX_VHD_SIZE):
    """``depth`` layers each declaring ``size`` and holding nothing."""
    return link([Layer(size, {}) for _ in range(depth)])


def expected_disk(layers):
    """The leaf's view of the chain, from the layers' description."""
    size = layers[0].size
    disk = bytearray(size)
    for layer in reversed(layers):
        for block, (bitmap, data) in layer.blocks.items():
            base = block * L.BLOCK_SIZE
            for sector in range(SECTORS):
                if bitmap[sector // 8] & (0x80 >> (sector % 8)):
                    at = sector * L.SECTOR_SIZE
                    if base + at < size:
                        disk[base + at:base + at + L.SECTOR_SIZE] = \
                            data[at:at + L.SECTOR_SIZE]
    return bytes(disk)


def write_tarball(directory, layers, names=None, extra=None, out=None):
    """The chain as Nova uploads it: ``tar -zc --directory=D .``.

    :param names: member names, leaf first (default 0.vhd, 1.vhd, ...).
    :param extra: ``{name: bytes}`` of further members (``swap.vhd``).
    """
    stage = os.path.join(directory, 'stage-%s' % uuid.uuid4().hex[:8])
    os.mkdir(stage)
    names = names or ['%d.vhd' % i for i in range(len(layers))]
    members = dict(zip(names, (layer.to_bytes() for layer in layers)))
    members.update(extra or {})
    for name, data in members.items():
        with open(os.path.join(stage, name), 'wb') as f:
            f.write(data)
    out = out or os.path.join(directory, 'chain-%d.tgz' % len(layers))
    subprocess.run(['tar', '-zcf', out, '--directory=%s' % stage, '.'],
                   check=True)
    return out


def write_layers(directory, layers):
    """Each layer as its own file, leaf first; returns the paths."""
    paths = []
    for i, layer in enumerate(layers):
        path = os.path.join(directory, 'layer-%d.vhd' % i)
        with open(path, 'wb') as f:
            f.write(layer.to_bytes())
        paths.append(path)
    return paths


def libvhdi_disk(paths):
    """The leaf's disk as libvhdi reads the chain of files ``paths``.

    NOTE: libvhdi (20260901) reads a differencing block's set sectors up
    to the end of their bitmap byte: it agrees with the VHD format only
    where runs start and end on 8-sector (4 KiB) boundaries, the grain of
    guest writes. Compare it on chains made with ``grain=8``.
    """
    import pyvhdi
    files = []
    for path in paths:
        f = pyvhdi.file()
        f.open(path)
        files.append(f)
    try:
        for child, parent in zip(files, files[1:]):
            child.set_parent(parent)
        leaf = files[0]
        return leaf.read_buffer_at_offset(leaf.get_media_size(), 0)
    finally:
        for f in files:
            f.close()
