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

"""GNU sparse members: expanded as GNU tar does, or refused, never else.

Each encoding is read through :func:`archive.read_chain`, the reader of
uploads that are re-written. GNU tar itself agreeing on the accepted
maps is shown in tests/functional/test_tar_readers.py.
"""

import io
import tarfile
from unittest import mock

import testtools

from tests import sparsetar
from xenimage_import import archive
from xenimage_import import exception
from xenimage_import import gnusparse

B = sparsetar.BLOCK
# A leading hole, an extent at an unaligned offset, a last extent of
# part of a block (the only one that may be).
EXTENTS = [(4 * B, 3 * B), (20 * B + 1, 2 * B), (64 * B, 700)]
REALSIZE = 64 * B + 700
ENCODINGS = {'pax-1.0': sparsetar.pax_1_0, 'pax-0.1': sparsetar.pax_0_1,
             'old-gnu': sparsetar.oldgnu}


def read(tar_bytes, max_member=None):
    """``{name: bytes}`` as read_chain expands each member."""
    found = {}
    for name, member in archive.read_chain(io.BytesIO(tar_bytes),
                                           float('inf'), max_member):
        found[name] = b''.join(iter(lambda: member.read(1000), b''))
    return found


class ExpansionTest(testtools.TestCase):

    def test_each_encoding_expands_to_the_file_gnu_tar_writes(self):
        want = sparsetar.expanded(EXTENTS, REALSIZE)
        for encoding, build in ENCODINGS.items():
            self.assertEqual({'0.vhd': want},
                             read(build(EXTENTS, REALSIZE)), encoding)

    def test_a_zero_length_last_extent_marks_a_trailing_hole(self):
        # What GNU tar and bsdtar write for a file that ends in a hole.
        extents = EXTENTS + [(80 * B, 0)]
        for encoding, build in ENCODINGS.items():
            self.assertEqual(
                {'0.vhd': sparsetar.expanded(EXTENTS, 80 * B)},
                read(build(extents, 80 * B)), encoding)

    def test_old_gnu_map_continues_in_extension_blocks(self):
        # 4 in the header, 21 in the first extension, 6 in the second.
        extents = [(i * 4 * B, B) for i in range(30)] + [(120 * B, 0)]
        self.assertEqual(
            {'0.vhd': sparsetar.expanded(extents, 120 * B)},
            read(sparsetar.oldgnu(extents, 120 * B)))

    def test_pax_map_spanning_blocks(self):
        extents = [(i * 2 * B, B) for i in range(200)]
        self.assertEqual(
            {'0.vhd': sparsetar.expanded(extents, 399 * B)},
            read(sparsetar.pax_1_0(extents, 399 * B)))

    def test_dot_slash_name(self):
        for build in (sparsetar.pax_1_0, sparsetar.pax_0_1):
            tar = build(EXTENTS, REALSIZE, name='./0.vhd',
                        stand_in='./GNUSparseFile.77/0.vhd')
            self.assertEqual(['0.vhd'], list(read(tar)))

    def test_the_member_reports_its_expanded_size(self):
        member = next(archive.read_chain(
            io.BytesIO(sparsetar.pax_1_0(EXTENTS, REALSIZE)), float('inf')))
        self.assertEqual((REALSIZE, True), (member[1].size, member[1].sparse))

    def test_expanded_size_is_held_to_the_limit(self):
        e = self.assertRaises(exception.ArchiveError, read,
                              sparsetar.oldgnu(EXTENTS, REALSIZE),
                              max_member=REALSIZE - 1)
        self.assertIn('beyond the limit', str(e))

    def test_unread_rest_is_skipped_for_the_next_member(self):
        tar = (sparsetar.pax_1_0(EXTENTS, REALSIZE)[:-len(sparsetar.END)]
               + sparsetar.oldgnu(EXTENTS, REALSIZE, name='1.vhd'))
        names = [name for name, _ in archive.read_chain(io.BytesIO(tar),
                                                        float('inf'))]
        self.assertEqual(['0.vhd', '1.vhd'], names)


class RefusalTestBase(testtools.TestCase):

    def assert_refused(self, tar, reason, what=None):
        e = self.assertRaises(exception.ArchiveError, read, tar)
        self.assertIn(reason, str(e), what)


class MapRefusalTest(RefusalTestBase):
    """Maps two readers could expand differently, in every encoding."""

    def assert_map_refused(self, extents, realsize, reason):
        for encoding, build in ENCODINGS.items():
            self.assert_refused(build(extents, realsize), reason, encoding)

    def test_overlapping_extents(self):
        self.assert_map_refused([(0, 2 * B), (B, B)], 4 * B, 'overlaps')

    def test_extents_out_of_order(self):
        self.assert_map_refused([(2 * B, B), (0, B)], 4 * B, 'overlaps')

    def test_extent_past_the_file_size(self):
        self.assert_map_refused([(0, B), (3 * B, 2 * B)], 4 * B,
                                'past the file')

    def test_empty_extent_before_the_last(self):
        self.assert_map_refused([(0, B), (2 * B, 0), (3 * B, B)], 4 * B,
                                'empty but not last')

    def test_part_of_a_block_before_the_last_extent(self):
        # GNU tar skips the rest of that block; tarfile reads on.
        self.assert_map_refused([(0, 700), (4 * B, B)], 5 * B,
                                'not whole blocks')

    def test_trailing_hole_without_an_end_marker(self):
        # GNU tar's file ends with the last extent; tarfile's at realsize.
        self.assert_map_refused([(0, B)], 4 * B, 'no empty last extent')

    def test_end_marker_short_of_the_file_size(self):
        self.assert_map_refused([(0, B), (2 * B, 0)], 4 * B,
                                'no empty last extent')


class PaxMapRefusalTest(RefusalTestBase):

    def test_number_with_a_sign(self):
        # int() takes it, as Python's tarfile does; GNU tar does not.
        self.assert_refused(sparsetar.pax_1_0(
            [(0, B)], 2 * B, map_lines=[b'1', b'+0', b'512']),
            'not a decimal')

    def test_number_with_an_underscore_in_the_0_1_map(self):
        self.assert_refused(sparsetar.pax_0_1(
            [(0, B)], 2 * B, records={'GNU.sparse.map': '0,5_12'}),
            'not a decimal')

    def test_data_after_the_map_in_its_block(self):
        self.assert_refused(sparsetar.pax_1_0(
            [(0, B)], 2 * B, map_tail=b'0\n'), 'data after the map')

    def test_map_shorter_than_its_count(self):
        self.assert_refused(sparsetar.pax_1_0(
            [], 2 * B, map_lines=[b'3', b'0', b'512']), 'ends before')

    def test_map_longer_than_the_member(self):
        # A member of no bytes, whose map cannot even begin.
        self.assert_refused(sparsetar.pax_1_0([], 0, map_lines=[]),
                            'runs past')

    def test_extent_count_bounded_by_the_bytes_stored(self):
        # Every extent but the last two stores at least a block.
        self.assert_refused(sparsetar.pax_1_0(
            [(0, 2 * B)], 2 * B, map_lines=[b'6']),
            '6 extents for 1536 stored bytes')

    def test_map_placing_more_than_is_stored(self):
        self.assert_refused(sparsetar.pax_1_0(
            [(0, B)], 2 * B, map_lines=[b'1', b'0', b'1024']),
            'places 1024 bytes')

    def test_0_1_count_unlike_its_map(self):
        self.assert_refused(sparsetar.pax_0_1(
            [(0, B)], 2 * B, records={'GNU.sparse.numblocks': '2'}),
            '2 numbers')

    def test_extent_count_bounded_before_the_map_is_read(self):
        with mock.patch.object(gnusparse, 'MAX_EXTENTS', 3):
            self.assert_refused(sparsetar.pax_1_0(
                [(0, 4 * B)], 4 * B, map_lines=[b'4']), 'at most 3')

    def test_stand_in_name_unlike_the_real_name(self):
        self.assert_refused(sparsetar.pax_1_0(
            [(0, B)], 2 * B, stand_in='GNUSparseFile.0/1.vhd'),
            'in its pax records')

    def test_path_record_unlike_the_sparse_name(self):
        self.assert_refused(sparsetar.pax_1_0(
            [(0, B)], 2 * B, records={'path': '1.vhd'}), 'differs')

    def test_unknown_sparse_version(self):
        self.assert_refused(sparsetar.pax_1_0(
            [(0, B)], 2 * B, records={'GNU.sparse.major': '2'}),
            'format 2.0')

    def test_version_1_0_with_a_0_1_record(self):
        self.assert_refused(sparsetar.pax_1_0(
            [(0, B)], 2 * B, records={'GNU.sparse.map': '0,512'}),
            'expected')

    def test_format_0_0(self):
        # Its records repeat per extent, and readers pair them differently.
        self.assert_refused(sparsetar.pax_0_1(
            [(0, B)], 2 * B, records={'GNU.sparse.offset': '0'}),
            'format 0.0')


class OldGnuRefusalTest(RefusalTestBase):

    def test_entries_after_an_empty_one(self):
        # GNU tar stops at the empty entry; tarfile reads on.
        entries = [sparsetar.entry(0, B), bytes(24),
                   sparsetar.entry(2 * B, B)]
        self.assert_refused(sparsetar.oldgnu(
            [(0, B), (2 * B, B)], 4 * B, entries=entries),
            'after an empty one')

    def test_extension_flag_after_an_empty_entry(self):
        # GNU tar reads no extension block then; tarfile does.
        extents = [(0, B), (2 * B, B)]
        entries = [sparsetar.entry(*e) for e in extents] + [bytes(24)]
        self.assert_refused(sparsetar.oldgnu(
            extents, 4 * B, entries=entries, isextended=[1]),
            'after an empty one')

    def test_entry_with_a_sign(self):
        entries = [b'+0000000000\0' + b'%011o\0' % B]
        self.assert_refused(sparsetar.oldgnu(
            [(0, B)], 2 * B, entries=entries), 'not an octal number')

    def test_base_256_entry_beyond_the_map_numbers(self):
        entries = [b'\x80' + (1 << 80).to_bytes(11, 'big')
                   + b'%011o\0' % B]
        self.assert_refused(sparsetar.oldgnu(
            [(0, B)], 2 * B, entries=entries), 'out of range')

    def test_posix_header_with_the_old_gnu_type(self):
        tar = bytearray(sparsetar.oldgnu([(0, B)], B))
        tar[257:265] = b'ustar\x0000'
        self.assert_refused(bytes(sparsetar.checksummed(tar[:B])) + tar[B:],
                            'not GNU')

    def test_extension_count_bounded_as_it_is_read(self):
        extents = [(i * 2 * B, B) for i in range(30)]
        with mock.patch.object(gnusparse, 'MAX_EXTENTS', 10):
            self.assert_refused(sparsetar.oldgnu(extents, 60 * B),
                                'at most 10')


class PlainShapeTest(testtools.TestCase):
    """An archive stored as it is must hold no sparse member."""

    def test_pass_through_check_refuses_a_sparse_member(self):
        for encoding, build in ENCODINGS.items():
            stream = io.BytesIO(build(EXTENTS, REALSIZE))
            e = self.assertRaises(exception.ArchiveError,
                                  archive.read_header, stream)
            self.assertIn('sparse', str(e), encoding)

    def test_sparse_records_in_a_global_header(self):
        stream = io.BytesIO(tarfile.TarInfo.create_pax_global_header(
            {'GNU.sparse.major': '1'}))
        self.assertRaises(exception.ArchiveError, archive.next_header,
                          stream, 'a header')
