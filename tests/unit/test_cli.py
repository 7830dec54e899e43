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
