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

"""The source-format registry: what each declaration must agree with."""

import subprocess

from glance.common import config as glance_config
import testtools

from xenimage_import import conf
from xenimage_import.source import formats


class RegistryTest(testtools.TestCase):

    def test_every_format_is_one_of_glance_disk_formats(self):
        glance_formats = {o.name: o for o in glance_config.image_format_opts
                          }['disk_formats'].default
        self.assertEqual([], [f for f in formats.SOURCE_FORMATS
                              if f not in glance_formats])

    def test_every_qemu_name_is_a_driver_of_the_installed_qemu_img(self):
        help_text = subprocess.run(['qemu-img', '--help'],
                                   stdout=subprocess.PIPE,
                                   text=True).stdout
        drivers = help_text.split('Supported formats:', 1)[1].split()
        for fmt in formats.FORMATS.values():
            self.assertIn(fmt.qemu_name, drivers, fmt.name)

    def test_an_own_map_is_never_read_in_place(self):
        # Our own map (VHDX's BAT) is not qemu's reading of the file: its
        # data is decoded by qemu-img, never read at those offsets.
        for fmt in formats.FORMATS.values():
            if fmt.extents:
                self.assertFalse(fmt.read_in_place, fmt.name)

    def test_the_option_allows_every_declared_format_by_default(self):
        option = {o.name: o for o in conf.opts}['allowed_source_formats']
        self.assertEqual(list(formats.SOURCE_FORMATS), option.default)
