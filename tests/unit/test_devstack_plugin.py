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
import sys

import fixtures
import testtools

from lab import glance_server
from xenimage_import.helpers.xenserver import dom0

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

    def test_install_sets_up_the_package_and_its_bindep_packages(self):
        # bindep.txt names qemu-utils on Debian, qemu-img on RPM hosts.
        self.phase('stack', 'install')
        with open(self.calls) as f:
            calls = f.read().splitlines()
        self.assertIn('setup_develop -bindep /opt/stack/xenimage_import',
                      calls)
        self.assertEqual([], [c for c in calls
                              if c.startswith('install_package qemu')])

    def test_no_plugin_requirement_names_a_service(self):
        # Zuul's write-devstack-local-conf looks every required plugin up:
        # "glance" is no plugin, and the lookup fails with a KeyError.
        self.phase('stack', 'install')
        with open(self.calls) as f:
            self.assertEqual([], [c for c in f.read().splitlines()
                                  if c.startswith('plugin_requires')])

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

    def test_xenserver_helper_options(self):
        self.phase('stack', 'post-config',
                   XENIMAGE_IMPORT_HELPER='xenserver',
                   XENIMAGE_IMPORT_XENSERVER_HOSTS='xs-01:https://10.0.0.11',
                   XENAPI_PASSWORD='xenroot', HOST_IP='10.0.0.5',
                   XENIMAGE_IMPORT_USE_NOVA='yes',
                   KEYSTONE_SERVICE_URI='http://10.0.0.5/identity',
                   SERVICE_PASSWORD='svc', SERVICE_PROJECT_NAME='service',
                   SERVICE_DOMAIN_NAME='Default', REGION_NAME='RegionOne')
        conf = read_ini(self.import_conf)
        self.assertEqual('xenserver', conf.get('xenimage_import', 'helper'))
        xs = dict(conf.items('xenimage_xenserver'))
        self.assertEqual({'hosts': 'xs-01:https://10.0.0.11',
                          'username': 'root', 'password': 'xenroot',
                          'receiver_address': '10.0.0.5',
                          'receiver_port_range': '9690:9699',
                          'use_nova': 'True'}, xs)
        nova = dict(conf.items('xenimage_nova'))
        self.assertEqual('http://10.0.0.5/identity', nova['auth_url'])
        self.assertEqual(('glance', 'svc', 'password'), (
            nova['username'], nova['password'], nova['auth_type']))

    def test_local_helper_writes_no_xenserver_section(self):
        self.phase('stack', 'post-config')
        self.assertFalse(read_ini(self.import_conf).has_section(
            'xenimage_xenserver'))

    def fake_ssh(self):
        """PATH with an ssh that records its target and its stdin."""
        bindir = os.path.join(self.dir, 'bin')
        os.mkdir(bindir)
        self.ssh_log = os.path.join(self.dir, 'ssh')
        with open(os.path.join(bindir, 'ssh'), 'w') as f:
            f.write('#!/bin/bash\n'
                    'echo "${@: -2}" >> "%s.targets"\n'
                    'cat > "%s.$(echo "${@: -2:1}" | tr @ _)"\n'
                    % (self.ssh_log, self.ssh_log))
        os.chmod(os.path.join(bindir, 'ssh'), 0o755)
        return '%s:%s:%s' % (bindir, os.path.dirname(sys.executable),
                             os.environ['PATH'])

    def test_dom0_plugin_is_installed_over_ssh_on_each_host(self):
        self.phase('stack', 'install', PATH=self.fake_ssh(),
                   XENIMAGE_IMPORT_INSTALL_DOM0_PLUGIN='True',
                   XENIMAGE_IMPORT_XENSERVER_HOSTS=(
                       'xs-01:https://10.0.0.11,xs-02:https://10.0.0.12:8443'))
        with open(self.ssh_log + '.targets') as f:
            self.assertEqual(['root@10.0.0.11 sh', 'root@10.0.0.12 sh'],
                             f.read().splitlines())
        plugins = os.path.join(self.dir, 'plugins')
        os.mkdir(plugins)
        subprocess.run(['sh', self.ssh_log + '.root_10.0.0.11'], check=True,
                       stdout=subprocess.DEVNULL,
                       env={'PATH': '/usr/bin:/bin',
                            'XENIMAGE_PLUGIN_DIR': plugins})
        with open(os.path.join(plugins, dom0.PLUGIN_NAME)) as f:
            self.assertEqual(dom0.plugin_source(dom0.PYTHON2), f.read())

    def test_dom0_plugin_ssh_targets_can_be_given(self):
        self.phase('stack', 'install', PATH=self.fake_ssh(),
                   XENIMAGE_IMPORT_INSTALL_DOM0_PLUGIN='True',
                   XENIMAGE_IMPORT_DOM0_SSH_TARGETS='admin@xs-a,root@xs-b')
        with open(self.ssh_log + '.targets') as f:
            self.assertEqual(['admin@xs-a sh', 'root@xs-b sh'],
                             f.read().splitlines())

    def test_dom0_plugin_is_not_installed_by_default(self):
        self.phase('stack', 'install', PATH=self.fake_ssh(),
                   XENIMAGE_IMPORT_XENSERVER_HOSTS='xs-01:https://10.0.0.11')
        self.assertFalse(os.path.exists(self.ssh_log + '.targets'))

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


class DevstackReleasesTest(testtools.TestCase):
    """The plugin under both ends' devstack: Ussuri's and the newest.

    Each case leaves Glance's files as that release's ``lib/glance`` does,
    runs post-config with that release's Glance as ``$PYTHON``, and asks
    that Glance's own options (``xenimage-convert --preflight`` run from
    its virtualenv) whether the result can work.
    """

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.import_conf = os.path.join(self.dir, 'glance-image-import.conf')
        self.api_conf = os.path.join(self.dir, 'glance-api.conf')

    def post_config(self, release, **env):
        python = os.path.join(release.venv, 'bin', 'python')
        script = ('set -e; source "$SHIM"; source "$SETTINGS"; '
                  'source "$PLUGIN" stack post-config')
        environ = dict(os.environ, SHIM=SHIM, SETTINGS=SETTINGS,
                       PLUGIN=PLUGIN, SHIM_CALLS=os.path.join(self.dir, 'c'),
                       DEST='/opt/stack', ENABLED_SERVICES='g-api',
                       GLANCE_IMAGE_IMPORT_CONF=self.import_conf,
                       GLANCE_API_CONF=self.api_conf, PYTHON=python, **env)
        return subprocess.run(['bash', '-c', script], env=environ,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)

    def preflight(self, release):
        proc = subprocess.run(
            [os.path.join(release.venv, 'bin', 'xenimage-convert'),
             '--preflight', '--json', '--config-file', self.api_conf,
             '--config-file', self.import_conf],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return proc.returncode, proc.stdout + proc.stderr

    def ussuri(self):
        if not glance_server.installed(glance_server.USSURI):
            self.skipTest('%s is not installed' % glance_server.USSURI.name)
        # As Ussuri's lib/glance leaves them: no import methods or formats
        # set (Glance's defaults apply), no plugin listed.
        with open(self.import_conf, 'w') as f:
            f.write('[image_import_opts]\nimage_import_plugins = []\n'
                    '[inject_metadata_properties]\n'
                    'ignore_user_roles = admin\ninject =\n')
        with open(self.api_conf, 'w') as f:
            f.write('[DEFAULT]\nbind_host = 127.0.0.1\nworkers = 2\n')
        return glance_server.USSURI

    def test_ussuri_with_glance_as_its_own_server(self):
        release = self.ussuri()
        proc = self.post_config(release, WSGI_MODE='mod_wsgi')
        self.assertEqual(0, proc.returncode, proc.stdout)
        self.assertEqual('[xenimage_import]', read_ini(
            self.import_conf).get('image_import_opts',
                                  'image_import_plugins'))
        rc, out = self.preflight(release)
        self.assertEqual(0, rc, out)

    def test_ussuri_under_uwsgi_is_refused_with_the_fix(self):
        proc = self.post_config(self.ussuri(), WSGI_MODE='uwsgi')
        self.assertEqual(1, proc.returncode, proc.stdout)
        self.assertIn('Glance 20 runs image imports only as its own server',
                      proc.stdout)
        self.assertIn('WSGI_MODE=mod_wsgi', proc.stdout)

    def test_newest_under_uwsgi(self):
        release = glance_server.NEWEST
        with open(self.import_conf, 'w') as f:
            f.write('[image_import_opts]\nimage_import_plugins = []\n')
        with open(self.api_conf, 'w') as f:
            f.write('[DEFAULT]\nenabled_import_methods = [glance-direct,'
                    'copy-image]\n[image_format]\ndisk_formats = '
                    'raw,qcow2\ncontainer_formats = bare\n')
        proc = self.post_config(release, WSGI_MODE='uwsgi')
        self.assertEqual(0, proc.returncode, proc.stdout)
        rc, out = self.preflight(release)
        self.assertEqual(0, rc, out)
