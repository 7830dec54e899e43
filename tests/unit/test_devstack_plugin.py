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

"""devstack/plugin.sh phases run under bash against temporary configs.

devstack's function library is provided by tests/devstack/shim.sh; the
assertions read the INI files the phases leave behind.
"""

import configparser
import os
import subprocess

import fixtures
import testtools

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SHIM = os.path.join(REPO, 'tests', 'devstack', 'shim.sh')
SETTINGS = os.path.join(REPO, 'devstack', 'settings')
PLUGIN = os.path.join(REPO, 'devstack', 'plugin.sh')


def read_ini(path):
    parser = configparser.RawConfigParser(strict=False,
                                          default_section='__none__')
    parser.optionxform = str
    parser.read(path)
    return parser


class DevstackPluginTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.import_conf = os.path.join(self.dir, 'glance-image-import.conf')
        self.api_conf = os.path.join(self.dir, 'glance-api.conf')
        self.tempest_conf = os.path.join(self.dir, 'tempest.conf')
        self.calls = os.path.join(self.dir, 'calls')
        with open(self.import_conf, 'w') as f:
            f.write('[image_import_opts]\n'
                    'image_import_plugins = [image_conversion]\n'
                    '[image_conversion]\noutput_format = raw\n')
        with open(self.api_conf, 'w') as f:
            f.write('[DEFAULT]\nenabled_import_methods = [glance-direct,'
                    'copy-image]\n[image_format]\n'
                    'disk_formats = raw,qcow2\ncontainer_formats = bare\n')

    def phase(self, *args, **env):
        script = ('set -e; source "$SHIM"; source "$SETTINGS"; '
                  'source "$PLUGIN" %s' % ' '.join(args))
        environ = dict(os.environ, SHIM=SHIM, SETTINGS=SETTINGS,
                       PLUGIN=PLUGIN, SHIM_CALLS=self.calls,
                       DEST='/opt/stack', ENABLED_SERVICES='g-api,tempest',
                       GLANCE_IMAGE_IMPORT_CONF=self.import_conf,
                       GLANCE_API_CONF=self.api_conf,
                       TEMPEST_CONFIG=self.tempest_conf, **env)
        proc = subprocess.run(['bash', '-c', script], env=environ,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        self.assertEqual(0, proc.returncode, proc.stdout)
        return proc.stdout

    def test_install_sets_up_the_package_and_qemu(self):
        self.phase('stack', 'install')
        with open(self.calls) as f:
            calls = f.read().splitlines()
        self.assertIn('install_package qemu-utils util-linux', calls)
        self.assertIn('setup_develop /opt/stack/xenimage_import', calls)

    def test_post_config_appends_the_plugin_after_image_conversion(self):
        self.phase('stack', 'post-config')
        conf = read_ini(self.import_conf)
        self.assertEqual('[image_conversion,xenimage_import]',
                         conf.get('image_import_opts',
                                  'image_import_plugins'))
        self.assertEqual('raw', conf.get('image_conversion',
                                         'output_format'))

    def test_post_config_is_idempotent(self):
        self.phase('stack', 'post-config')
        self.phase('stack', 'post-config')
        conf = read_ini(self.import_conf)
        self.assertEqual('[image_conversion,xenimage_import]',
                         conf.get('image_import_opts',
                                  'image_import_plugins'))
        api = read_ini(self.api_conf)
        self.assertEqual('[glance-direct,copy-image,web-download]',
                         api.get('DEFAULT', 'enabled_import_methods'))

    def test_post_config_writes_options_from_variables(self):
        self.phase('stack', 'post-config',
                   XENIMAGE_IMPORT_DEFAULT_VM_MODE='xen',
                   XENIMAGE_IMPORT_MAX_VIRTUAL_SIZE='64',
                   XENIMAGE_IMPORT_SET_MIN_DISK='no',
                   XENIMAGE_IMPORT_COMPRESSION_LEVEL='6')
        section = dict(read_ini(self.import_conf).items('xenimage_import'))
        self.assertEqual('local', section['helper'])
        self.assertEqual('xen', section['default_vm_mode'])
        self.assertEqual('64', section['max_virtual_size'])
        self.assertEqual('False', section['set_min_disk'])
        self.assertEqual('6', section['compression_level'])
        self.assertEqual('False', section['allow_iso'])

    def test_post_config_enables_methods_and_formats(self):
        self.phase('stack', 'post-config')
        api = read_ini(self.api_conf)
        self.assertEqual('[glance-direct,copy-image,web-download]',
                         api.get('DEFAULT', 'enabled_import_methods'))
        self.assertEqual('raw,qcow2,vhd',
                         api.get('image_format', 'disk_formats'))
        self.assertEqual('bare,ovf',
                         api.get('image_format', 'container_formats'))

    def test_unset_lists_keep_glance_defaults(self):
        with open(self.api_conf, 'w') as f:
            f.write('[DEFAULT]\n')
        self.phase('stack', 'post-config')
        api = read_ini(self.api_conf)
        self.assertFalse(api.has_option('DEFAULT', 'enabled_import_methods'))
        self.assertFalse(api.has_section('image_format'))

    def test_test_config_configures_tempest(self):
        self.phase('stack', 'test-config')
        tempest = read_ini(self.tempest_conf)
        self.assertEqual('True', tempest.get('image-feature-enabled',
                                             'import_image'))
        self.assertEqual('True', tempest.get('xenimage_import', 'enabled'))
        self.assertEqual('False', tempest.get('xenimage_import',
                                              'run_boot_tests'))

    def test_clean_removes_the_plugin(self):
        self.phase('stack', 'post-config')
        self.phase('clean')
        conf = read_ini(self.import_conf)
        self.assertEqual('[image_conversion]',
                         conf.get('image_import_opts',
                                  'image_import_plugins'))

    def test_nothing_happens_when_the_service_is_disabled(self):
        script = ('source "$SHIM"; source "$PLUGIN" stack post-config')
        environ = dict(os.environ, SHIM=SHIM, PLUGIN=PLUGIN,
                       ENABLED_SERVICES='g-api',
                       GLANCE_IMAGE_IMPORT_CONF=self.import_conf)
        subprocess.run(['bash', '-c', script], env=environ, check=True,
                       stdout=subprocess.DEVNULL)
        self.assertEqual('[image_conversion]', read_ini(
            self.import_conf).get('image_import_opts',
                                  'image_import_plugins'))
