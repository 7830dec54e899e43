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

from oslo_config import cfg

group = cfg.OptGroup(name='xenimage_import',
                     title='xenimage_import Glance plugin tests')

opts = [
    cfg.BoolOpt('enabled', default=False,
                help="Whether the cloud's Glance runs the xenimage_import "
                     'image-import plugin.'),
    cfg.ListOpt('source_formats', default=['raw', 'qcow2', 'vhd'],
                help='Source disk formats the API tests import.'),
    cfg.BoolOpt('run_boot_tests', default=False,
                help='Boot servers from converted images; needs XenServer '
                     'compute ([compute] hypervisor_type).'),
    cfg.StrOpt('glance_download_region',
               help='A region whose Glance also runs xenimage_import; the '
                    'glance-download test imports an image converted there '
                    'and checks it arrives single-wrapped. Skipped when '
                    'unset.'),
    cfg.StrOpt('boot_flavor',
               help='Flavor for the boot test; [compute] flavor_ref when '
                    'unset. Its root disk must hold the image (min_disk).'),
    cfg.StrOpt('boot_network',
               help='Network UUID for the boot test; none requested when '
                    'unset.'),
]
