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

"""xenimage-convert refuses every hostile-corpus case, leaving nothing."""

import json
import os
import shutil
import tempfile

import fixtures
from oslo_utils import units
import testtools

from tests.functional import base
from tests import hostile
from xenimage_import import exception
from xenimage_import import pipeline
from xenimage_import.source import inspect


class RefusalTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-hostile-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.out_dir = os.path.join(self.dir, 'out')
        os.mkdir(self.out_dir)

    def assert_refused(self, name, claimed, builder, reason):
        src = builder(self.dir)
        dest = os.path.join(self.out_dir, 'image.tgz')
        before = sorted(os.listdir(self.dir))
        formats = [claimed] if name in hostile.MISLABELLED else [claimed,
                                                                 'auto']
        for fmt in formats:
            rc, stdout, stderr = base.cli(
                'convert', '--max-size', '1', '--source-format', fmt, src,
                dest)
            self.assertEqual(1, rc, stdout)
            lines = stderr.strip().splitlines()
            self.assertEqual(1, len(lines), stderr)
            if fmt == claimed:
                self.assertIn(reason, lines[0])
            self.assertEqual([], os.listdir(self.out_dir))
            self.assertEqual(before, sorted(os.listdir(self.dir)))


hostile.add_case_tests(RefusalTest, 'assert_refused')


class AcceptedTest(testtools.TestCase):

    def test_gpt_disk_converts_as_raw(self):
        d = tempfile.mkdtemp(prefix='xenimage-gpt-')
        self.addCleanup(shutil.rmtree, d, True)
        src = hostile.gpt_disk(d)
        for fmt in ('raw', 'auto'):
            out = os.path.join(d, 'gpt-%s.tgz' % fmt)
            rc, stdout, stderr = base.cli(
                'convert', '--json', '--source-format', fmt, src, out)
            self.assertEqual(0, rc, stderr)
            self.assertEqual('raw', json.loads(stdout)['source_format'])
            self.assertEqual(0, base.cli('check', out)[0])


class NothingLeftOnFailureTest(testtools.TestCase):

    def test_unwritable_destination_leaves_nothing(self):
        d = tempfile.mkdtemp(prefix='xenimage-ro-')
        self.addCleanup(shutil.rmtree, d, True)
        src = os.path.join(d, 'a.raw')
        with open(src, 'wb') as f:
            f.write(b'x' * 4096)
        dest = os.path.join(d, 'missing', 'out.tgz')
        rc, _, stderr = base.cli('convert', src, dest)
        self.assertEqual(1, rc)
        self.assertIn('%s: its directory does not exist' % dest, stderr)
        self.assertEqual(['a.raw'], os.listdir(d))

    def test_bad_destination_suffix(self):
        rc, _, stderr = base.cli('convert', '/dev/null', 'x.zip')
        self.assertEqual(1, rc)
        self.assertIn('.tgz or .vhd', stderr)


class OwnReaderRefusalTest(testtools.TestCase):
    """Without format_inspector (oslo.utils before 7.3) nothing gets in.

    Glance releases before 29 bring such an oslo.utils: the project's own
    header reader and format rules then decide alone, with the same
    reasons.
    """

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MonkeyPatch(
            'xenimage_import.source.inspect.format_inspector', None))
        self.dir = tempfile.mkdtemp(prefix='xenimage-own-reader-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def assert_refused(self, name, claimed, builder, reason):
        src = builder(self.dir)
        request = pipeline.Request(
            path=src, destination=os.path.join(self.dir, 'out.tgz'),
            policy=inspect.Policy(max_virtual_size=units.Gi),
            claimed=claimed)
        e = self.assertRaises(exception.XenImageError, pipeline.run,
                              request)
        self.assertIn(reason, str(e))


hostile.add_case_tests(OwnReaderRefusalTest, 'assert_refused')
