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

"""Partition tables read as sfdisk reads them; inspection never matters.

Every disk of the corpus (tables made by sfdisk and sgdisk, then
damaged, made ambiguous or cut) and a few hundred seeded mutants are read
by the guest inspector and by the real ``sfdisk --json``: the label and
each partition's start and type must agree. The one exception is what a
streaming reader cannot see (libfdisk seeks back to it), and then the
inspector must say so and infer nothing. Through the whole command, the
output is byte for byte the output with inspection off.
"""

import os
import shutil
import sys
import tempfile

import testtools

from lab import images
from tests import partitiontables as pt
from xenimage_import.guest import inspector
from xenimage_import.vhd import layout as L

MUTANTS = 240
MUTANTS_PER_TEST = 40
# Footer fields that differ between any two conversions (identity).
_IDENTITY = [(L.FOOTER.offsets[name], size) for name, size in (
    ('timestamp', 4), ('checksum', 4), ('unique_id', 16))]


class _Disks(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-tables-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def assert_read_as_sfdisk(self, path):
        report = pt.inspect_file(path)
        theirs, ours = pt.sfdisk_view(path), pt.report_view(report)
        if theirs == ours:
            return report
        self.assertTrue(set(report['doubts']) & set(inspector.UNREACHABLE),
                        'sfdisk reads %s, the inspector %s (%s)'
                        % (theirs, ours, report['doubts']))
        self.assertEqual((None, None), (report['os_type'],
                                        report['auto_disk_config']))
        return report


class CorpusTest(_Disks):

    def check_case(self, name):
        report = self.assert_read_as_sfdisk(pt.make(self.dir, name))
        if report['unknown']:
            self.assertEqual((None, None), (report['os_type'],
                                            report['auto_disk_config']))

    def test_damage_and_doubt_infer_nothing(self):
        for name in ('gpt_primary_header_crc', 'gpt_primary_entries',
                     'gpt_both_damaged', 'gpt_pmbr_size_mismatch',
                     'dos_odd_boot_flag', 'dos_ebr_two_data_entries',
                     'dos_ebr_loop', 'dos_past_end', 'gpt_entry_past_end',
                     'gpt_untyped_entry_with_start', 'dos_two_extended',
                     'dos_ebr_unsigned'):
            report = pt.inspect_file(pt.make(self.dir, name))
            self.assertIsNotNone(report['unknown'], name)

    def test_tool_made_tables_are_trusted(self):
        for name in ('dos_one', 'dos_four', 'dos_logical', 'gpt_sfdisk',
                     'gpt_sgdisk', 'gpt_sgdisk_hybrid',
                     'gpt_sgdisk_256_entries', 'gpt_backup_damaged',
                     'gpt_behind_plain_mbr'):
            report = pt.inspect_file(pt.make(self.dir, name))
            self.assertIsNone(report['unknown'], name)

    def test_every_clip_length_gives_a_report(self):
        # Tables cut by the end of the disk at every sector of their
        # first 40 KiB: always a report, never an error.
        for name in ('dos_logical', 'gpt_sfdisk', 'gpt_sgdisk_hybrid'):
            with open(pt.make(self.dir, name), 'rb') as f:
                disk = bytearray(f.read())
            for cut in range(1, 80 * pt.SECTOR, 61):
                report = pt.inspect(disk[:cut], size=cut)
                self.assertFalse(any(d.startswith('inspection error')
                                     for d in report['doubts']), cut)


def _add_corpus_tests():
    for name in pt.CORPUS:
        def test(self, name=name):
            self.check_case(name)
        setattr(CorpusTest, 'test_agrees_with_sfdisk_%s' % name, test)


class MutantTest(_Disks):
    """Seeded odd tables, each read as sfdisk reads it."""

    def check_seeds(self, first):
        for seed in range(first, first + MUTANTS_PER_TEST):
            self.assert_read_as_sfdisk(pt.make_mutant(self.dir, seed))


def _add_mutant_tests():
    for first in range(0, MUTANTS, MUTANTS_PER_TEST):
        def test(self, first=first):
            self.check_seeds(first)
        setattr(MutantTest, 'test_mutants_%03d' % first, test)


class PipelineTest(_Disks):
    """Through xenimage-convert, inspection never changes the output."""

    def convert(self, src, *flags):
        """(exit code, output with identity fields zeroed, or the error)."""
        dest = os.path.join(self.dir, 'out-%d.vhd' % len(flags))
        rc, out, err, _ = images.run_measured(
            [sys.executable, '-m', 'xenimage_import.cmd.convert']
            + list(flags) + [src, dest], timeout=120)
        self.assertIn(rc, (0, 1), err)
        if rc:
            self.assertFalse(os.path.exists(dest))
            return rc, err
        with open(dest, 'rb') as f:
            data = bytearray(f.read())
        os.unlink(dest)
        for at in (0, len(data) - L.FOOTER_SIZE):
            for offset, size in _IDENTITY:
                data[at + offset:at + offset + size] = bytes(size)
        return rc, data

    def assert_inspection_changes_nothing(self, src):
        off = self.convert(src, '--no-guest-inspection')
        on = self.convert(src)
        self.assertEqual(off, on, src)
        return on

    def test_output_is_the_same_with_inspection_off(self):
        # Some tables are refused before conversion, by the second format
        # reader's rules for raw disks; never by the inspection.
        converted = 0
        for name in pt.CORPUS:
            rc, _ = self.assert_inspection_changes_nothing(
                pt.make(self.dir, name))
            converted += not rc
        self.assertGreater(converted, len(pt.CORPUS) // 2)

    def test_cut_and_mutated_disks_change_nothing(self):
        for seed in range(0, 40, 3):
            src = pt.make_mutant(self.dir, seed)
            with open(src, 'r+b') as f:
                f.truncate(seed * 4099 + 512)     # odd sizes included
            self.assert_inspection_changes_nothing(src)


_add_corpus_tests()
_add_mutant_tests()
