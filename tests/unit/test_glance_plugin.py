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

"""The plugin's tasks against Glance's real ImportActionWrapper.

The wrapper is the installed Glance's own class over a stand-in
repository (tests/fixtures/glance_wrapper.py), so these tests see exactly
what the plugin may change through the wrapper, and fail loudly if
Glance's wrapper stops exposing the image the plugin sets min_disk on.
"""

import os
import shutil
import tempfile

import fixtures
from glance.common import exception as glance_exception
from oslo_config import fixture as cfg_fixture
import testtools

from tests.fixtures import glance_wrapper
from tests import partitiontables as pt
from xenimage_import import exception
from xenimage_import.glance import image_edit
from xenimage_import.glance import plugin
from xenimage_import.glance import staging
from xenimage_import import pipeline
from xenimage_import import publish

GiB = glance_wrapper.GiB
TASK = glance_wrapper.TASK


class PluginTaskTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.conf = self.useFixture(cfg_fixture.Config(plugin.CONF))
        self.dir = tempfile.mkdtemp(prefix='xenimage-plugin-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def wrapper(self, **fields):
        wrapper, self.image, self.repo = glance_wrapper.wrapper(**fields)
        return wrapper

    def converted(self, guest=None):
        """A staged upload and the outcome of its conversion.

        :returns: (staged path, the pipeline's outcome).
        """
        staged = os.path.join(self.dir, 'image-1')
        out = os.path.join(self.dir, 'image-1.tgz')
        for path, size in ((staged, 100), (out, 4321)):
            with open(path, 'wb') as f:
                f.write(b'x' * size)
        return staged, pipeline.Outcome(pipeline.CONVERT, 'qcow2', out,
                                        4321, 5 * GiB, guest=guest)

    def publish(self, wrapper, guest=None):
        staged, outcome = self.converted(guest)
        task = plugin._PublishImage(TASK, 'import', wrapper)
        task.execute('file://' + outcome.path, outcome, 'file://' + staged)
        return task

    def test_the_wrapper_still_exposes_the_image(self):
        # Every change goes to the wrapped domain image: if Glance renames
        # it, this fails before any user meets an image left unpublished.
        with image_edit.editing(self.wrapper()) as image:
            self.assertEqual('qcow2', image.get('disk_format'))
            image.set(min_disk=3)
        self.assertEqual(3, self.image.min_disk)

    def test_a_wrapper_is_built_where_glance_passes_none(self):
        # Glance 20's flow arguments: repositories, image and task ids.
        _, image, repo = glance_wrapper.wrapper()
        built = image_edit.wrapper({'image_repo': repo, 'admin_repo': None,
                                    'image_id': glance_wrapper.IMAGE,
                                    'task_id': TASK})
        self.publish(built)
        self.assertEqual('vhd', image.disk_format)
        # It checks the import lock as Glance's own tasks do.
        image.extra_properties['os_glance_import_task'] = 'another-task'
        self.assertRaises(glance_exception.TaskAbortedError,
                          self.publish, built)

    def test_only_the_published_attributes_can_be_set(self):
        with image_edit.editing(self.wrapper()) as image:
            self.assertRaises(ValueError, image.set, owner='someone')

    def test_publish_sets_formats_sizes_vm_mode_and_min_disk(self):
        self.publish(self.wrapper())
        image = self.image
        self.assertEqual(('vhd', 'ovf'), (image.disk_format,
                                          image.container_format))
        self.assertEqual(4321, image.size)
        self.assertEqual(5 * GiB, image.virtual_size)
        self.assertEqual(5, image.min_disk)
        self.assertEqual('hvm', image.extra_properties['vm_mode'])
        self.assertEqual('qcow2', image.extra_properties[
            publish.SOURCE_FORMAT_PROPERTY])
        self.assertGreater(self.repo.saved, 0)
        # The tarball replaced the staged upload, which is gone.
        self.assertEqual(['image-1.tgz'], os.listdir(self.dir))

    def test_vm_mode_rules(self):
        cases = [({'vm_mode': 'pv'}, 'hvm', 'xen'),
                 ({'vm_mode': 'HV'}, 'xen', 'hvm'),
                 ({'os_type': 'windows'}, 'xen', 'hvm'),
                 ({'vm_mode': 'bogus'}, 'xen', 'xen'),
                 ({}, 'xen', 'xen')]
        for props, default, expected in cases:
            self.conf.config(default_vm_mode=default, group='xenimage_import')
            props = dict(props, os_glance_import_task=TASK)
            self.publish(self.wrapper(extra_properties=props))
            self.assertEqual(expected, self.image.extra_properties['vm_mode'],
                             props)

    def test_user_min_disk_kept_and_switch_off(self):
        self.publish(self.wrapper(min_disk=40))
        self.assertEqual(40, self.image.min_disk)
        self.conf.config(set_min_disk=False, group='xenimage_import')
        self.publish(self.wrapper())
        self.assertEqual(0, self.image.min_disk)

    WINDOWS = pt.inspect(pt.windows_disk())

    def publish_inspected(self, wrapper, report):
        return self.publish(wrapper, guest=report)

    def test_inspection_sets_what_the_user_left_unset(self):
        self.publish_inspected(self.wrapper(), self.WINDOWS)
        props = self.image.extra_properties
        self.assertEqual(('windows', 'Disabled', 'hvm'), (
            props['os_type'], props['auto_disk_config'], props['vm_mode']))
        self.assertEqual('set: auto_disk_config, os_type; os_type=windows; '
                         'auto_disk_config=Disabled; gpt [1:vfat, 2:ntfs]',
                         props[publish.INSPECTION_PROPERTY])

    def test_inspection_keeps_user_values_and_can_be_switched_off(self):
        self.conf.config(default_vm_mode='xen', group='xenimage_import')
        user = {'os_glance_import_task': TASK, 'os_type': 'linux',
                'auto_disk_config': 'False'}
        self.publish_inspected(self.wrapper(extra_properties=dict(user)),
                               self.WINDOWS)
        props = self.image.extra_properties
        self.assertEqual(('linux', 'False', 'xen'), (
            props['os_type'], props['auto_disk_config'], props['vm_mode']))
        self.assertIn('set: nothing', props[publish.INSPECTION_PROPERTY])
        self.conf.config(inspect_guest=False, group='xenimage_import')
        self.publish_inspected(self.wrapper(), self.WINDOWS)
        props = self.image.extra_properties
        self.assertNotIn('os_type', props)
        self.assertNotIn(publish.INSPECTION_PROPERTY, props)

    def test_revert_removes_inferred_properties(self):
        props = {'os_glance_import_task': TASK}
        task = self.publish_inspected(
            self.wrapper(extra_properties=dict(props)), self.WINDOWS)
        task.revert()
        self.assertEqual(props, self.image.extra_properties)

    def test_publish_revert_restores_everything_it_changed(self):
        props = {'os_glance_import_task': TASK, 'vm_mode': 'hv'}
        wrapper = self.wrapper(extra_properties=dict(props))
        task = self.publish(wrapper)
        task.revert()
        image = self.image
        self.assertEqual(('qcow2', 'bare', 1234, 5 * GiB, 0),
                         (image.disk_format, image.container_format,
                          image.size, image.virtual_size, image.min_disk))
        self.assertEqual(props, image.extra_properties)

    def test_accept_revert_requeues_and_removes_the_staged_data(self):
        staged, _ = self.converted()
        wrapper = self.wrapper(extra_properties={
            'os_glance_import_task': TASK,
            'os_glance_importing_to_stores': 'file1,file2'})
        task = plugin._AcceptUpload(TASK, 'import', wrapper,
                                    ['file1', 'file2'])
        task.staged_uri = 'file://' + staged
        task.revert()
        self.assertEqual('queued', self.image.status)
        props = self.image.extra_properties
        self.assertEqual('', props['os_glance_importing_to_stores'])
        self.assertEqual({'file1', 'file2'}, set(
            props['os_glance_failed_import'].split(',')))
        self.assertFalse(os.path.exists(staged))

    def accept_reverted(self, status, status_reset_by=None):
        """Revert _AcceptUpload on an image in ``status``."""
        staged, _ = self.converted()
        wrapper = self.wrapper(status=status, extra_properties={
            'os_glance_import_task': TASK,
            'os_glance_importing_to_stores': 'file1'})
        task = plugin._AcceptUpload(TASK, 'import', wrapper, ['file1'],
                                    status_reset_by=status_reset_by)
        task.staged_uri = 'file://' + staged
        task.revert()
        self.assertFalse(os.path.exists(staged))
        return self.image

    def test_accept_revert_leaves_a_status_a_later_task_reset(self):
        # Glance refuses queued -> queued, and the error stops the revert.
        image = self.accept_reverted('queued')
        self.assertEqual('queued', image.status)
        self.assertEqual('file1', image.extra_properties[
            'os_glance_importing_to_stores'])
        self.assertNotIn('os_glance_failed_import', image.extra_properties)

    def test_accept_revert_leaves_the_status_to_an_earlier_task(self):
        image = self.accept_reverted('importing',
                                     status_reset_by='image_conversion')
        self.assertEqual('importing', image.status)
        self.assertNotIn('os_glance_failed_import', image.extra_properties)

    def test_a_configuration_error_fails_before_reading_the_upload(self):
        wrapper = self.wrapper()
        task = plugin._AcceptUpload(
            TASK, 'import', wrapper, ['file1'],
            config_error='vhd is not among [image_format] disk_formats')
        error = self.assertRaises(glance_exception.UploadException,
                                  task.execute,
                                  'file:///nonexistent/image-1')
        self.assertEqual('xenimage_import: vhd is not among [image_format] '
                         'disk_formats', str(error))

    def test_a_disk_format_it_cannot_convert_is_named(self):
        task = plugin._AcceptUpload(TASK, 'import',
                                    self.wrapper(disk_format='ploop'),
                                    ['file1'])
        staged = os.path.join(self.dir, 'image-1')
        open(staged, 'wb').close()
        error = self.assertRaises(glance_exception.UploadException,
                                  task.execute, 'file://' + staged)
        self.assertEqual('xenimage_import: disk_format ploop cannot be '
                         'converted to a XenServer VHD', str(error))

    def test_convert_revert_removes_its_output(self):
        _, outcome = self.converted()
        out = outcome.path
        task = plugin._ConvertToTapVhd(TASK, 'import', 'image-1')
        task.dest_path = out
        task.revert()
        self.assertFalse(os.path.exists(out))
        task.revert()       # twice is harmless


class StagingTest(testtools.TestCase):
    """Single-store staging (no enabled_backends): plain files."""

    def test_only_a_local_staging_area_is_accepted(self):
        self.assertEqual('/srv/staging/id',
                         staging.local_path('file:///srv/staging/id'))
        error = self.assertRaises(exception.XenImageError, staging.local_path,
                                  'rbd://pool/staging/id')
        self.assertIn('not a local directory (rbd)', str(error))

    def test_delete_removes_staged_data_once(self):
        d = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(d, 'image-1')
        open(path, 'wb').close()
        staging.delete('file://' + path)
        self.assertEqual([], os.listdir(d))
        staging.delete('file://' + path)    # already gone: no error
