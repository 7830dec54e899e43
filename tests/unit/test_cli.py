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

"""xenimage-convert's request: configuration files, defaults and flags."""

import dataclasses
import os
import subprocess
import sys

import fixtures
import testtools

from xenimage_import.cmd import convert


class RequestTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.empty = os.path.join(self.dir, 'empty.conf')
        open(self.empty, 'w').close()

    def request(self, *argv):
        args = convert._parser().parse_args(list(argv) + ['in.qcow2',
                                                          'out.tgz'])
        return dataclasses.replace(convert._request(args, None), conf=None)

    def test_without_files_the_options_defaults_apply(self):
        # No file is read (oslo.config is not even imported), yet the
        # request is the one an empty configuration file gives.
        self.assertEqual(self.request('--config-file', self.empty),
                         self.request())

    def test_flags_override_files_and_defaults_alike(self):
        flags = ('--level', '6', '--threads', '1', '--max-size', '2',
                 '--helper', 'local')
        self.assertEqual(self.request('--config-file', self.empty, *flags),
                         self.request(*flags))

    def test_a_file_changes_the_request(self):
        conf = os.path.join(self.dir, 'glance-image-import.conf')
        with open(conf, 'w') as f:
            f.write('[xenimage_import]\ncompression_level = 6\n'
                    'max_virtual_size = 3\n')
        request = self.request('--config-file', conf)
        self.assertEqual(6, request.level)
        self.assertEqual(3 * 1024 ** 3, request.policy.max_virtual_size)

    def test_a_conversion_without_files_never_imports_oslo_config(self):
        code = ('import sys\n'
                'from xenimage_import.cmd import convert\n'
                'convert._request(convert._parser().parse_args('
                '["a.qcow2", "b.tgz"]), None)\n'
                'print("oslo_config.cfg" in sys.modules)\n')
        out = subprocess.run([sys.executable, '-c', code],
                             stdout=subprocess.PIPE, text=True,
                             check=True).stdout
        self.assertEqual('False', out.strip())

    def test_a_local_conversion_never_scans_entry_points(self):
        # stevedore and importlib.metadata are a quarter of start-up: the
        # built-in helper and the version are found without them.
        raw = os.path.join(self.dir, 'disk.raw')
        with open(raw, 'wb') as f:
            f.truncate(4 * 1024 ** 2)
        code = ('import sys\n'
                'from xenimage_import.cmd import convert\n'
                'rc = convert.main(["--json", sys.argv[1], sys.argv[2]])\n'
                'print(rc, [m for m in ("stevedore", "importlib.metadata")\n'
                '           if m in sys.modules])\n')
        out = subprocess.run(
            [sys.executable, '-c', code, raw,
             os.path.join(self.dir, 'out.tgz')],
            stdout=subprocess.PIPE, text=True, check=True).stdout
        self.assertEqual('0 []', out.strip().splitlines()[-1])
        self.assertTrue(os.path.exists(os.path.join(self.dir, 'out.tgz')))

    def test_a_local_conversion_never_runs_strutils(self):
        # A third of start-up: the 400 regexes oslo_utils.strutils
        # compiles as it loads, for a QemuImgInfo a conversion never uses.
        raw = os.path.join(self.dir, 'disk.raw')
        with open(raw, 'wb') as f:
            f.truncate(4 * 1024 ** 2)
        code = ('import sys\n'
                'from xenimage_import.cmd import convert\n'
                'rc = convert.main(["--json", sys.argv[1], sys.argv[2]])\n'
                'strutils = sys.modules["oslo_utils.strutils"]\n'
                'print(rc, "mask_password" in vars(strutils))\n')
        out = subprocess.run(
            [sys.executable, '-c', code, raw,
             os.path.join(self.dir, 'out.tgz')],
            stdout=subprocess.PIPE, text=True, check=True).stdout
        self.assertEqual('0 False', out.strip().splitlines()[-1])
