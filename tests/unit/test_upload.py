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

"""What an upload is decided to need, before anything is written."""

import gzip
import os
import tarfile

import fixtures
import testtools

from lab import images
from xenimage_import import exception
from xenimage_import import pipeline
from xenimage_import.source import inspect
from xenimage_import.source import upload

MiB = images.MiB


class ExamineTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.policy = inspect.Policy()

    def raw(self):
        return images.make_sparse(os.path.join(self.dir, 'disk.raw'),
                                  4 * MiB, [(0, 4096)])

    def examine(self, path, claimed='auto'):
        before = sorted(os.listdir(self.dir))
        found = upload.examine(path, claimed, self.policy)
        self.assertEqual(before, sorted(os.listdir(self.dir)))
        return found

    def test_a_disk_image_is_converted(self):
        found = self.examine(self.raw())
        self.assertEqual((upload.CONVERT, 'raw'),
                         (found.action, found.source_format))

    def test_a_valid_tap_vhd_is_packed_as_it_is(self):
        vhd = images.tap_vhd(self.raw(), os.path.join(self.dir, 'tap.vhd'))
        found = self.examine(vhd, 'vhd')
        self.assertEqual(upload.PACK_VHD, found.action)
        self.assertTrue(found.report.valid)

    def test_a_valid_tap_tarball_passes_through(self):
        tarball = os.path.join(self.dir, 'tap.tgz')
        pipeline.run(pipeline.Request(path=self.raw(), destination=tarball,
                                      policy=self.policy))
        found = self.examine(tarball)
        self.assertEqual(upload.PASS_THROUGH, found.action)

    def test_any_other_tarball_is_unpacked_later(self):
        member = os.path.join(self.dir, '0.vhd')
        images.qemu_convert(self.raw(), member, 'vpc')
        tarball = os.path.join(self.dir, 'qemu.tgz')
        with tarfile.open(tarball, 'w:gz', format=tarfile.GNU_FORMAT) as t:
            t.add(member, arcname='0.vhd')
        self.assertEqual(upload.UNPACK, self.examine(tarball, 'vhd').action)

    def test_a_tarball_claimed_as_another_format_is_refused(self):
        path = os.path.join(self.dir, 'x.gz')
        with gzip.open(path, 'wb') as f:
            f.write(b'data')
        error = self.assertRaises(exception.FormatMismatch, self.examine,
                                  path, 'qcow2')
        self.assertIn('gzip archive', str(error))

    def test_a_fifo_is_refused_without_blocking(self):
        path = os.path.join(self.dir, 'fifo')
        os.mkfifo(path)
        error = self.assertRaises(exception.InvalidImage, self.examine,
                                  path)
        self.assertIn('not a regular file', str(error))

    def test_cleanup_removes_the_work_files_once(self):
        work = os.path.join(self.dir, 'work.vhd')
        open(work, 'w').close()
        found = upload.Upload(self.raw(), upload.CONVERT, work_files=[work])
        found.cleanup()
        self.assertFalse(os.path.exists(work))
        self.assertEqual([], found.work_files)
