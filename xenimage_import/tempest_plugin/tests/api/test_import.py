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

"""Import through Glance and assert what upstream tempest does not: the
image became a XenServer vhd/ovf tarball holding a valid tap ``0.vhd``.
"""

import io
import os
import shutil
import subprocess
import tempfile
import testtools

from tempest.api.image import base
from tempest.common import waiters
from tempest import config
from tempest.lib.common.utils import data_utils
from tempest.lib import decorators

from xenimage_import import check

CONF = config.CONF


class XenImageImportTest(base.BaseV2ImageTest):
    """glance-direct imports of raw data end as tap VHD tarballs."""

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        if not CONF.image_feature_enabled.import_image:
            raise cls.skipException('image import is not enabled')
        if not CONF.xenimage_import.enabled:
            raise cls.skipException('xenimage_import is not enabled')

    def _import(self, data, disk_format, method='glance-direct',
                import_params=None, client=None, **properties):
        """Create an image, stage ``data`` (if any), import, wait."""
        client = client or self.client
        image = client.create_image(
            name=data_utils.rand_name('xenimage'), container_format='bare',
            disk_format=disk_format, visibility='private', **properties)
        self.addCleanup(client.delete_image, image['id'])
        if data is not None:
            client.stage_image_file(image['id'], io.BytesIO(data))
        client.image_import(image['id'], method=method,
                            import_params=import_params)
        waiters.wait_for_image_imported_to_stores(client, image['id'])
        return client.show_image(image['id'])

    def _assert_tap_tarball(self, image):
        self.assertEqual('vhd', image['disk_format'])
        self.assertEqual('ovf', image['container_format'])
        body = self.client.show_image_file(image['id']).data
        self.assertEqual(image['size'], len(body))
        report = check.check_tarball_stream(io.BytesIO(body))
        self.assertEqual([], [str(p) for p in report.all_problems()])
        self.assertEqual(['0.vhd'], report.members)
        self.assertEqual('tap', report.vhd.creator)
        return report

    @decorators.idempotent_id('6c3b2f0e-3f53-4c1e-9d0a-6a3d2d5b1e01')
    def test_raw_payload_becomes_tap_vhd_tarball(self):
        # tempest's own 1 KiB payload, as upstream import tests upload it.
        image = self._import(data_utils.random_bytes(), 'raw')
        report = self._assert_tap_tarball(image)
        self.assertEqual('hvm', image['vm_mode'])
        self.assertEqual(1, image['min_disk'])
        self.assertEqual(2 * 1024 * 1024, report.vhd.virtual_size)
        self.assertEqual(image['virtual_size'], report.vhd.virtual_size)

    def _disk(self, fmt):
        """1 MiB of random data as ``fmt`` (qemu-img on the test node)."""
        d = tempfile.mkdtemp(prefix='xenimage-tempest-')
        self.addCleanup(shutil.rmtree, d, True)
        raw = os.path.join(d, 'disk.raw')
        with open(raw, 'wb') as f:
            f.write(os.urandom(1024 * 1024))
        path = raw
        if fmt != 'raw':
            path = os.path.join(d, 'disk.' + fmt)
            subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O',
                            {'vhd': 'vpc'}.get(fmt, fmt), raw, path],
                           check=True)
        with open(path, 'rb') as f:
            return f.read()

    @testtools.skipUnless(shutil.which('qemu-img'),
                          'qemu-img is needed to make test images')
    @decorators.idempotent_id('6c3b2f0e-3f53-4c1e-9d0a-6a3d2d5b1e04')
    def test_each_source_format_becomes_tap_vhd_tarball(self):
        for fmt in CONF.xenimage_import.source_formats:
            image = self._import(self._disk(fmt), fmt)
            report = self._assert_tap_tarball(image)
            self.assertEqual(fmt, image['xenimage_source_format'])
            self.assertEqual(2 * 1024 * 1024, report.vhd.virtual_size)

    @decorators.idempotent_id('6c3b2f0e-3f53-4c1e-9d0a-6a3d2d5b1e05')
    def test_web_download_qcow2(self):
        if not CONF.image.http_qcow2_image:
            raise self.skipException('[image] http_qcow2_image is not set')
        image = self._import(None, 'qcow2', method='web-download',
                             import_params={
                                 'uri': CONF.image.http_qcow2_image})
        self._assert_tap_tarball(image)
        self.assertEqual('qcow2', image['xenimage_source_format'])

    @decorators.idempotent_id('6c3b2f0e-3f53-4c1e-9d0a-6a3d2d5b1e06')
    def test_glance_download_stays_single_wrapped(self):
        region = CONF.xenimage_import.glance_download_region
        if not region:
            raise self.skipException(
                '[xenimage_import] glance_download_region is not set')
        remote = self.os_primary.image_v2.ImagesClient(
            service=CONF.image.catalog_type, region=region,
            endpoint_type=CONF.image.endpoint_type)
        source = self._import(data_utils.random_bytes(), 'raw',
                              client=remote)
        self.assertEqual('vhd', source['disk_format'])
        image = self._import(None, 'raw', method='glance-download',
                             import_params={
                                 'glance_image_id': source['id'],
                                 'glance_region': region,
                                 'glance_service_interface': 'public'})
        self._assert_tap_tarball(image)
        # The same bytes: passed through, not wrapped a second time.
        self.assertEqual(source['os_hash_value'], image['os_hash_value'])

    @decorators.idempotent_id('6c3b2f0e-3f53-4c1e-9d0a-6a3d2d5b1e02')
    def test_user_vm_mode_is_kept(self):
        image = self._import(data_utils.random_bytes(4096), 'raw',
                             vm_mode='pv')
        self._assert_tap_tarball(image)
        self.assertEqual('xen', image['vm_mode'])

    @decorators.idempotent_id('6c3b2f0e-3f53-4c1e-9d0a-6a3d2d5b1e03')
    def test_mislabelled_upload_stays_queued(self):
        # 1 KiB of random bytes claimed as qcow2: refused by the plugin.
        image = self.create_image(
            name=data_utils.rand_name('xenimage-bad'),
            container_format='bare', disk_format='qcow2',
            visibility='private')
        self.client.stage_image_file(image['id'],
                                     io.BytesIO(data_utils.random_bytes()))
        self.client.image_import(image['id'], method='glance-direct')
        waiters.wait_for_image_tasks_status(self.client, image['id'],
                                            'failure')
        image = self.client.show_image(image['id'])
        self.assertEqual('queued', image['status'])
        self.assertEqual('qcow2', image['disk_format'])
        tasks = self.client.show_image_tasks(image['id'])['tasks']
        self.assertIn('xenimage_import', tasks[0]['message'])
