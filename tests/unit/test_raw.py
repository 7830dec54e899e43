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

"""Raw images read as their non-zero 2 MiB blocks, holes never read."""

import os

import fixtures
import testtools

from xenimage_import.source import raw
from xenimage_import.vhd import layout as L

BS = L.BLOCK_SIZE


class RawImageTest(testtools.TestCase):

    def image(self, size, writes):
        """A sparse file of ``size`` with ``{offset: bytes}`` written."""
        path = os.path.join(self.useFixture(fixtures.TempDir()).path, 'r')
        with open(path, 'wb') as f:
            f.truncate(size)
            for offset, data in writes.items():
                f.seek(offset)
                f.write(data)
        return raw.RawImage(path)

    def test_only_blocks_with_a_non_zero_byte_are_yielded(self):
        with self.image(8 * BS, {BS + 5: b'x', 5 * BS: bytes(BS)}) as img:
            found = [(block, bytes(data).strip(b'\0'))
                     for block, data in img.data_blocks()]
        # Block 5 is allocated but all zeros: read, then dropped.
        self.assertEqual([(1, b'x')], found)

    def test_holes_are_not_candidates(self):
        with self.image(64 * BS, {10 * BS: b'a', 40 * BS + 7: b'b'}) as img:
            self.assertEqual([10, 40], list(img.candidate_blocks()))
            self.assertEqual(2 * BS, img.candidate_bytes())

    def test_a_short_last_block_is_zero_padded(self):
        with self.image(BS + 512, {BS: b'end'}) as img:
            (block, data), = img.data_blocks()
            self.assertEqual(1, block)
            self.assertEqual(BS, len(data))
            self.assertEqual(b'end', bytes(data[:3]))
            self.assertFalse(any(data[512:]))

    def test_progress_counts_every_block_read(self):
        counted = []
        with self.image(4 * BS, {0: b'a', 3 * BS: b'b'}) as img:
            list(img.data_blocks(progress=counted.append))
        self.assertEqual([BS, BS], counted)

    def test_a_file_descriptor_is_left_open(self):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path, 'r')
        with open(path, 'wb') as f:
            f.write(b'z')
        fd = os.open(path, os.O_RDONLY)
        self.addCleanup(os.close, fd)
        with raw.RawImage.from_fd(fd) as img:
            self.assertEqual(1, img.size)
        os.fstat(fd)        # still open: the caller owns it
