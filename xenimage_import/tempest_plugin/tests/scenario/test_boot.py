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

"""Boot a server from an image the plugin converted, on XenServer compute.

Skipped unless the cloud's compute is XenServer
(``[compute] hypervisor_type``) or ``[xenimage_import] run_boot_tests``
is set: other hypervisors cannot boot a vhd/ovf tarball.
"""

from tempest.common import utils
from tempest.common import waiters
from tempest import config
from tempest.lib.common.utils import data_utils
from tempest.lib import decorators
from tempest.scenario import manager

CONF = config.CONF


class XenImageBootTest(manager.ScenarioTest):

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        if not CONF.xenimage_import.enabled:
            raise cls.skipException('xenimage_import is not enabled')
        if not CONF.image_feature_enabled.import_image:
            raise cls.skipException('image import is not enabled')
        if not (CONF.xenimage_import.run_boot_tests or
                CONF.compute.hypervisor_type == 'XenServer'):
            raise cls.skipException('compute is not XenServer and '
                                    'run_boot_tests is off')

    @decorators.idempotent_id('6c3b2f0e-3f53-4c1e-9d0a-6a3d2d5b1e10')
    @utils.services('compute', 'image')
    def test_boot_converted_image(self):
        client = self.image_client
        image = client.create_image(
            name=data_utils.rand_name('xenimage-boot'),
            container_format='bare',
            disk_format=CONF.scenario.img_disk_format,
            visibility='private')
        self.addCleanup(client.delete_image, image['id'])
        with open(CONF.scenario.img_file, 'rb') as data:
            client.stage_image_file(image['id'], data)
        client.image_import(image['id'], method='glance-direct')
        waiters.wait_for_image_imported_to_stores(client, image['id'])
        image = client.show_image(image['id'])
        self.assertEqual(('vhd', 'ovf'), (image['disk_format'],
                                          image['container_format']))

        kwargs = {}
        if CONF.xenimage_import.boot_network:
            kwargs['networks'] = [{'uuid': CONF.xenimage_import.boot_network}]
        server = self.create_server(
            image_id=image['id'],
            flavor=CONF.xenimage_import.boot_flavor or None,
            wait_until='ACTIVE', **kwargs)
        output = self.servers_client.get_console_output(
            server['id'])['output']
        self.assertTrue(output.strip(), 'empty console log')
