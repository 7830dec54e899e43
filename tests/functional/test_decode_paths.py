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

"""The two ways a qemu-format source is read give qemu's reading of it.

Uncompressed images are read in place at the offsets ``qemu-img map``
reports (source/mapped.py); compressed ones and VHDX are decoded by
``qemu-img convert`` window by window (source/decode.py). For each layout
qemu-img can write, the blocks either path yields are compared with the
raw disk the image was made from, and the in-place reader with the window
decoder on the very same file.
"""

import dataclasses
import os
import shutil
import tempfile
import time

import fixtures
import testtools

from lab import images
from xenimage_import import exception
from xenimage_import.source import decode
from xenimage_import.source import inspect
from xenimage_import.source import mapped
from xenimage_import.source import qemu
from xenimage_import.vhd import layout as L

MiB = images.MiB
# Data runs that start and end inside blocks, one across a block boundary,
# one ending at the last sector of the disk, and a block of zeros written
# as data (allocated, but dropped as all-zero).
SIZE = 24 * MiB + 512
REGIONS = [(4096, 5000 * 512), (6 * MiB - 3 * 4096, 8192 + 512),
           (11 * MiB, 2 * MiB), (SIZE - 3 * 512, 3 * 512)]
ZERO_DATA_BLOCK = 9

# (qemu-img format, create options, compressed, read in place)
LAYOUTS = {
    'qcow2-512': ('qcow2', 'cluster_size=512', False, True),
    'qcow2': ('qcow2', None, False, True),
    'qcow2-2m': ('qcow2', 'cluster_size=2M', False, True),
    'qcow2-compressed': ('qcow2', None, True, False),
    'vmdk': ('vmdk', None, False, True),
    'vmdk-stream': ('vmdk', 'subformat=streamOptimized', False, False),
    'vhd': ('vpc', None, False, True),
    'vhd-fixed': ('vpc', 'subformat=fixed', False, True),
    'vdi': ('vdi', None, False, True),
    'vhdx': ('vhdx', None, False, False),
}
_FORMATS = {'qcow2': 'qcow2', 'vmdk': 'vmdk', 'vpc': 'vhd', 'vdi': 'vdi',
            'vhdx': 'vhdx'}


def blocks_of_raw(path):
    """The non-zero 2 MiB blocks of a raw file, as the converter sees it."""
    found = []
    with open(path, 'rb') as f:
        index = 0
        while True:
            data = f.read(L.BLOCK_SIZE)
            if not data:
                return found
            data = data.ljust(L.BLOCK_SIZE, b'\0')
            if any(data):
                found.append((index, data))
            index += 1


def read_all(image):
    return [(index, bytes(data)) for index, data in image.data_blocks()]


class DecodePathsTest(testtools.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix='xenimage-paths-')
        cls.raw = images.make_sparse(os.path.join(cls.dir, 'disk.raw'),
                                     SIZE, REGIONS)
        with open(cls.raw, 'r+b') as f:
            # Allocated zeros: qemu maps them as data in most formats.
            f.seek(ZERO_DATA_BLOCK * L.BLOCK_SIZE)
            f.write(bytes(L.BLOCK_SIZE))
        cls.expected = blocks_of_raw(cls.raw)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)
        super().tearDownClass()

    def image(self, layout):
        qemu_format, options, compressed, _ = LAYOUTS[layout]
        path = os.path.join(self.dir, layout)
        if not os.path.exists(path):
            images.qemu_convert(self.raw, path, qemu_format, options=options,
                                compressed=compressed)
        return inspect.inspect_source(path, _FORMATS[qemu_format])

    def test_every_layout_reads_as_the_raw_disk(self):
        for layout, (_, _, _, in_place) in sorted(LAYOUTS.items()):
            source = self.image(layout)
            self.assertEqual(in_place, source.in_place, layout)
            with decode.open_image(source) as image:
                self.assertEqual(in_place,
                                 isinstance(image, mapped.MappedImage),
                                 layout)
                got = read_all(image)
            self.assertEqual([i for i, _ in self.expected],
                             [i for i, _ in got], layout)
            self.assertTrue(self.expected == got, layout)

    def test_in_place_equals_the_window_decoder(self):
        for layout in ('qcow2-512', 'vmdk', 'vhd', 'vdi'):
            source = self.image(layout)
            with mapped.MappedImage(source) as image:
                in_place = read_all(image)
            with decode.QemuImage(source) as image:
                decoded = read_all(image)
            self.assertTrue(in_place == decoded, layout)

    def test_a_file_changed_after_inspection_is_refused(self):
        source = self.image('qcow2')
        # One more extent (a larger file), and the same extents one block
        # further on (a file of the same size whose map names other blocks).
        variants = [REGIONS + [(20 * MiB, 4096)],
                    [(offset + L.BLOCK_SIZE, length)
                     for offset, length in REGIONS[:-1]]
                    + [(REGIONS[-1][0] - L.BLOCK_SIZE, REGIONS[-1][1])]]
        sizes = set()
        for n, regions in enumerate(variants):
            other = images.qemu_convert(
                images.make_sparse(os.path.join(self.dir, 'v%d.raw' % n),
                                   SIZE, regions, seed=2),
                os.path.join(self.dir, 'v%d.qcow2' % n), 'qcow2')
            sizes.add(os.path.getsize(other) == source.file_size)
            changed = dataclasses.replace(source, path=os.path.join(
                self.dir, 'inspected.qcow2'))
            shutil.copy(other, changed.path)
            with mapped.MappedImage(changed) as image:
                error = self.assertRaises(exception.ConversionFailed,
                                          read_all, image)
            self.assertEqual('the qcow2 image changed after it was '
                             'inspected; upload it again', str(error))
            self.assertNotIn(self.dir, str(error))
        self.assertEqual({False, True}, sizes)

    def test_a_long_conversion_outlives_the_map_deadline(self):
        # A fragmented image's map is more than a pipe holds; reading the
        # blocks takes longer than qemu-img map may live.
        raw = os.path.join(self.dir, 'fragmented.raw')
        with open(raw, 'wb') as f:
            f.truncate(4 * MiB)
            for sector in range(0, 4 * MiB // 512, 2):
                f.seek(sector * 512)
                f.write(b'\x5a' * 512)
        path = images.qemu_convert(raw, os.path.join(self.dir, 'frag.qcow2'),
                                   'qcow2', options='cluster_size=512')
        source = inspect.inspect_source(path, 'qcow2')
        self.assertTrue(source.in_place)
        self.useFixture(fixtures.MockPatchObject(
            qemu, 'INSPECTION_LIMITS',
            dataclasses.replace(qemu.INSPECTION_LIMITS, wall_time=1)))

        def slow(done):
            time.sleep(1.5)

        with mapped.MappedImage(source) as image:
            got = [(index, bytes(data))
                   for index, data in image.data_blocks(slow)]
        self.assertTrue(blocks_of_raw(raw) == got, 'blocks differ')

    def test_a_compressed_extent_appearing_later_is_refused(self):
        source = self.image('qcow2')
        moved = os.path.join(self.dir, 'now-compressed.qcow2')
        shutil.copy(self.image('qcow2-compressed').path, moved)
        source.path = moved
        with mapped.MappedImage(source) as image:
            self.assertRaises(exception.ConversionFailed, read_all, image)
