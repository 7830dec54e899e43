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

"""The one pipeline: what each path does, and that the output comes last."""

import contextlib
import os

import fixtures
import testtools

from lab import images
from xenimage_import import check
from xenimage_import import exception
from xenimage_import import helpers
from xenimage_import import pipeline
from xenimage_import.source import inspect

MiB = images.MiB


class PipelineTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.slots = []

    @contextlib.contextmanager
    def slot(self):
        self.slots.append('taken')
        try:
            yield
        finally:
            self.slots.append('released')

    def request(self, path, name='out.tgz', **fields):
        return pipeline.Request(
            path=path, destination=os.path.join(self.dir, name),
            policy=inspect.Policy(), slot=self.slot, **fields)

    def raw(self, size=4 * MiB):
        return images.make_sparse(os.path.join(self.dir, 'disk.raw'), size,
                                  [(0, 64 * 1024)])

    def tap_tarball(self):
        return pipeline.run(self.request(self.raw(), 'tap.tgz')).path

    def test_examine_creates_nothing(self):
        raw = self.raw()
        before = sorted(os.listdir(self.dir))
        plan = pipeline.examine(self.request(raw))
        self.assertEqual('raw', plan.source_format)
        self.assertEqual(before, sorted(os.listdir(self.dir)))
        self.assertEqual([], self.slots)

    def test_convert_reads_the_virtual_size_back(self):
        # 3 MiB + 1 byte: the tap writer rounds up to whole 2 MiB blocks.
        outcome = pipeline.run(self.request(self.raw(3 * MiB + 1)))
        self.assertEqual((pipeline.CONVERT, 'raw', 4 * MiB), (
            outcome.action, outcome.source_format, outcome.virtual_size))
        self.assertEqual(os.path.getsize(outcome.path), outcome.size)
        self.assertTrue(check.check_path(outcome.path).valid)
        self.assertEqual(['taken', 'released'], self.slots)

    def test_a_tap_tarball_stays_where_it_is_when_allowed(self):
        tarball = self.tap_tarball()
        self.slots.clear()
        outcome = pipeline.run(self.request(tarball, 'again.tgz',
                                            keep_upload=True))
        self.assertEqual((pipeline.PASS_THROUGH, tarball),
                         (outcome.action, outcome.path))
        self.assertFalse(os.path.exists(os.path.join(self.dir, 'again.tgz')))
        self.assertEqual([], self.slots)

    def test_a_tap_tarball_is_copied_otherwise(self):
        tarball = self.tap_tarball()
        outcome = pipeline.run(self.request(tarball, 'copy.tgz'))
        self.assertEqual(pipeline.PASS_THROUGH, outcome.action)
        with open(tarball, 'rb') as a, open(outcome.path, 'rb') as b:
            self.assertEqual(a.read(), b.read())

    def test_a_tap_tarball_is_rewritten_for_a_bare_vhd(self):
        outcome = pipeline.run(self.request(self.tap_tarball(), 'out.vhd',
                                            output=helpers.OUTPUT_VHD))
        self.assertEqual((pipeline.CONVERT, 4 * MiB),
                         (outcome.action, outcome.virtual_size))
        self.assertEqual('vhd', check.check_path(outcome.path).kind)

    def test_a_bare_tap_vhd_is_packed(self):
        vhd = images.tap_vhd(self.raw(), os.path.join(self.dir, 'tap.vhd'))
        outcome = pipeline.run(self.request(vhd))
        self.assertEqual((pipeline.PACK, 'vhd'),
                         (outcome.action, outcome.source_format))
        self.assertTrue(check.check_path(outcome.path).valid)

    def test_the_output_is_placed_only_after_the_last_step(self):
        # Whatever fails after the VHD is written leaves no destination
        # and no work file behind.
        def fail(path):
            raise exception.OutputFailed('read back failed')
        self.useFixture(fixtures.MonkeyPatch(
            'xenimage_import.check.written_virtual_size', fail))
        raw = self.raw()
        self.assertRaises(exception.OutputFailed, pipeline.run,
                          self.request(raw))
        self.assertEqual(['disk.raw'], os.listdir(self.dir))
        self.assertEqual(['taken', 'released'], self.slots)

    def test_a_refusal_takes_no_slot_and_leaves_nothing(self):
        raw = self.raw(8 * MiB)
        request = pipeline.Request(
            path=raw, destination=os.path.join(self.dir, 'out.tgz'),
            policy=inspect.Policy(max_virtual_size=4 * MiB), slot=self.slot)
        self.assertRaises(exception.ImageTooLarge, pipeline.run, request)
        self.assertEqual(['disk.raw'], os.listdir(self.dir))
        self.assertEqual([], self.slots)

    def test_refusals_read_without_server_paths(self):
        self.assertEqual('conversion failed: No space left on device',
                         pipeline.refuse(OSError(28, 'No space left on '
                                                     'device', '/srv/x')))
        self.assertEqual('conversion failed: KeyError',
                         pipeline.refuse(KeyError('/srv/glance/staging')))
