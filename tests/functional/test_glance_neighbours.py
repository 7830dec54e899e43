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

"""The plugin beside Glance's own plugins, in every order, on a real Glance.

Whatever runs before or after it, a refusal or failure ends with the
failing plugin's own one-line reason as the task message (never "Task
failed due to Internal Error"), the image ``queued`` again with nothing
left in staging or the store, and the import lock released: the same
image can be staged and imported again at once. A configuration that
cannot work fails the first import with the option to change.
"""

import json
import os
import re
import time

from lab import glance_server
from lab import images
from tests.fixtures import failing_plugin
from tests.functional import base

MiB = images.MiB
GiB = images.GiB
# max_virtual_size = 1 GiB: the 2 GiB disk is refused, the 8 MiB one is not.
REFUSAL = 'is above the configured limit'
# inject_image_metadata sets this for every user (the tests' is an admin).
INJECT = {'inject': 'xen_injected:yes', 'ignore_user_roles': ''}


class _NeighboursTest(base.GlanceTestBase):

    plugin_conf = {'max_virtual_size': 1}

    def qcow2(self, name, size):
        raw = images.make_sparse(os.path.join(self.dir, name + '.raw'),
                                 size, [(0, MiB)])
        return images.qemu_convert(raw, os.path.join(self.dir,
                                                     name + '.qcow2'),
                                   'qcow2')

    def ended_tasks(self, image_id):
        return re.findall(r'\|\s+(failure|success)\s+\|',
                          self.tasks(image_id))

    def assert_reverted(self, image_id, reason):
        """The import failed with ``reason`` and left nothing behind."""
        image = self.wait_settled(image_id)
        tasks = self.tasks(image_id)
        self.assertEqual('queued', image['status'], tasks)
        self.assertIn(reason, tasks)
        self.assertNotIn('Internal Error', tasks)
        self.assertNotIn('xenimage_source_format', image)
        self.assertEqual([], self.files_for(image_id))
        return image

    def retry(self, image_id, path, disk_format='qcow2'):
        """Stage and import again; the import call itself must be taken."""
        before = len(self.ended_tasks(image_id))
        self.glance('image-update', '--disk-format', disk_format, image_id)
        self.glance('image-stage', '--file', path, image_id)
        self.glance('image-import', '--import-method', 'glance-direct',
                    image_id)
        deadline = time.monotonic() + 120
        while len(self.ended_tasks(image_id)) == before:
            self.assertLess(time.monotonic(), deadline, 'retry never ended')
            time.sleep(0.5)
        return self.show(image_id)

    def assert_retry_converts(self, image_id):
        image = self.retry(image_id, self.qcow2('small', 8 * MiB))
        self.assertEqual(('active', 'vhd', 'ovf'), (
            image['status'], image['disk_format'],
            image['container_format']), self.tasks(image_id))
        return image

    def preflight(self):
        """The pre-flight on the server's own configuration files."""
        rc, out, err = base.cli(
            'convert', '--preflight', '--json', '--config-file',
            os.path.join(self.server.etc, 'glance-api.conf'),
            '--config-file',
            os.path.join(self.server.etc, 'glance-image-import.conf'))
        verdict = json.loads(out)['glance']
        return rc, {c['name']: (c['status'], c['detail'])
                    for c in verdict['checks']}

    def import_small(self, *extra):
        """Import an 8 MiB qcow2 (below max_virtual_size); its image id."""
        return self.import_file(self.qcow2('small', 8 * MiB), 'qcow2',
                                *extra)[0]

    def refuse_big_image(self):
        image_id, _ = self.import_file(self.qcow2('big', 2 * GiB), 'qcow2')
        return image_id, self.assert_reverted(image_id, REFUSAL)


class AloneTest(_NeighboursTest):
    """No other plugin; Glance's download task reverts after this one."""

    http_dir = 'http'

    def test_refusal_unlocks_the_image(self):
        image_id, image = self.refuse_big_image()
        self.assertEqual(('qcow2', 'bare'), (image['disk_format'],
                                             image['container_format']))
        self.assertEqual('file1', image['os_glance_failed_import'])
        self.assertEqual('', image.get('os_glance_importing_to_stores', ''))
        self.assert_retry_converts(image_id)

    def test_preflight_finds_it_ready(self):
        rc, checks = self.preflight()
        self.assertEqual(0, rc, checks)
        # The lab keeps Glance's default policy: members may upload
        # around the plugin, which is worth a warning, not a failure.
        self.assertEqual('warning', checks.pop('classic upload')[0])
        self.assertEqual({'ok'}, {status for status, _ in checks.values()})

    def test_web_download_refusal_reports_its_reason(self):
        os.rename(self.qcow2('big', 2 * GiB),
                  os.path.join(self.http.directory, 'big.qcow2'))
        proc = self.glance('image-create-via-import', '--disk-format',
                           'qcow2', '--container-format', 'bare', '--name',
                           'web', '--import-method', 'web-download', '--uri',
                           self.http.url('big.qcow2'))
        image_id = glance_server.image_id_of(proc)
        self.assert_reverted(image_id, REFUSAL)
        self.assert_retry_converts(image_id)


class ConversionBeforeTest(_NeighboursTest):
    """Glance's image_conversion (to raw) first, as the docs order it."""

    plugins = ('image_conversion', 'xenimage_import')

    def test_converts_what_image_conversion_wrote(self):
        image_id = self.import_small()
        image = self.wait_settled(image_id)
        self.assertEqual(('active', 'vhd', 'ovf', 'raw'), (
            image['status'], image['disk_format'], image['container_format'],
            image['xenimage_source_format']), self.tasks(image_id))

    def test_refusal_unlocks_the_image(self):
        image_id, image = self.refuse_big_image()
        # image_conversion's revert keeps the disk format it set; the
        # docs tell the user to set it back before importing again.
        self.assertEqual(('raw', 'bare'), (image['disk_format'],
                                           image['container_format']))
        self.assert_retry_converts(image_id)


class ConversionAfterTest(_NeighboursTest):
    """image_conversion after this plugin would rewrite its tarball."""

    plugins = ('xenimage_import', 'image_conversion')

    def test_refused_with_the_option_to_change(self):
        image_id = self.import_small()
        image = self.assert_reverted(
            image_id, 'image_conversion runs after xenimage_import')
        self.assertIn('image_import_plugins', self.tasks(image_id))
        self.assertEqual(('qcow2', 'bare'), (image['disk_format'],
                                             image['container_format']))
        image = self.retry(image_id, self.qcow2('small', 8 * MiB))
        self.assertEqual('queued', image['status'])
        self.assertEqual(2, len(self.ended_tasks(image_id)))

    def test_preflight_says_so_beforehand(self):
        rc, checks = self.preflight()
        self.assertEqual(1, rc)
        status, detail = checks['plugin order']
        self.assertEqual('FAILED', status)
        image_id = self.import_small()
        self.assert_reverted(image_id, 'xenimage_import: ' + detail)


class _InjectedMetadataMixin(object):
    """inject_image_metadata in the flow; its property survives a retry."""

    plugin_conf = dict(_NeighboursTest.plugin_conf,
                       inject_metadata_properties=INJECT)

    def test_refusal_unlocks_the_image(self):
        image_id, _ = self.refuse_big_image()
        image = self.assert_retry_converts(image_id)
        self.assertEqual('yes', image['xen_injected'])


class DecompressionAndMetadataBeforeTest(_InjectedMetadataMixin,
                                         _NeighboursTest):
    """image_decompression and inject_image_metadata first."""

    plugins = ('image_decompression', 'inject_image_metadata',
               'xenimage_import')


class DecompressionAfterTest(_NeighboursTest):

    plugins = ('xenimage_import', 'image_decompression')

    def test_refused_with_the_option_to_change(self):
        image_id = self.import_small()
        self.assert_reverted(
            image_id, 'image_decompression runs after xenimage_import')


class MetadataAfterTest(_InjectedMetadataMixin, _NeighboursTest):
    """inject_image_metadata after this plugin changes no data: allowed."""

    plugins = ('xenimage_import', 'inject_image_metadata')


class LaterPluginFailsTest(_NeighboursTest):
    """A plugin after this one fails once the image was converted."""

    plugins = ('xenimage_import', failing_plugin.NAME)

    @classmethod
    def _python_paths(cls, base_dir):
        # The module's directory, and its entry point's .dist-info.
        return [os.path.dirname(os.path.abspath(failing_plugin.__file__)),
                failing_plugin.register(os.path.join(base_dir, 'plugins'))]

    def test_conversion_is_undone(self):
        image_id = self.import_small('--property', 'vm_mode=pv')
        image = self.assert_reverted(image_id, failing_plugin.MESSAGE)
        self.assertEqual(('qcow2', 'bare', 'pv', '0'), (
            image['disk_format'], image['container_format'],
            image['vm_mode'], image['min_disk']))
        with open(self.server.api_log) as f:
            self.assertIn('converted to a tap VHD tarball', f.read())
        image = self.retry(image_id, self.qcow2('small', 8 * MiB))
        self.assertEqual('queued', image['status'])
        self.assertEqual(2, len(self.ended_tasks(image_id)))


class FormatsNotAllowedTest(_NeighboursTest):
    """The deployment's allowed disk formats leave out vhd."""

    plugin_conf = dict(_NeighboursTest.plugin_conf, image_format={
        'disk_formats': 'raw,qcow2,vmdk'})

    def test_refused_with_the_option_to_change(self):
        image_id = self.import_small()
        image = self.assert_reverted(
            image_id, 'vhd is not among [image_format] disk_formats')
        self.assertEqual('qcow2', image['disk_format'])

    def test_preflight_says_so_beforehand(self):
        rc, checks = self.preflight()
        self.assertEqual(1, rc)
        self.assertEqual('FAILED', checks['disk_formats'][0])
