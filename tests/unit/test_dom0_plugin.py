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

"""The dom0 plugin's functions, loaded from its file, and its installers.

dom0's tools are the simulator's stand-ins (lab/xapisim/dom0tools.py)
under a temporary ROOT; the receiver is the real one.
"""

import importlib.util
import json
import os
import shutil
import socket
import stat
import subprocess
import tarfile
import tempfile
import uuid
import xmlrpc.client

import testtools

from xenimage_import import check
from xenimage_import.helpers.xenserver import dom0
from xenimage_import.helpers.xenserver import receiver
from xenimage_import.helpers.xenserver import tls
from xenimage_import.vhd import layout as L

from lab import images
from lab import xapisim
from lab.xapisim import dom0tools

MiB = images.MiB


def load_plugin(root):
    """Import xenimage_helper.py as dom0 would run it, under ``root``."""
    old = os.environ.get('XENIMAGE_DOM0_TEST_ROOT')
    os.environ['XENIMAGE_DOM0_TEST_ROOT'] = root
    try:
        spec = importlib.util.spec_from_file_location(
            'xenimage_helper_%s' % uuid.uuid4().hex, dom0.SOURCE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if old is None:
            del os.environ['XENIMAGE_DOM0_TEST_ROOT']
        else:
            os.environ['XENIMAGE_DOM0_TEST_ROOT'] = old
    return module


def patch_footers(path, **fields):
    """Rewrite both footer copies with ``fields`` (checksum fixed)."""
    with open(path, 'r+b') as f:
        f.seek(-L.FOOTER_SIZE, os.SEEK_END)
        end = f.tell()
        footer = L.FOOTER.unpack(f.read(L.FOOTER_SIZE))
        raw = L.pack_with_checksum(L.FOOTER, footer._replace(**fields))
        for offset in (0, end):
            f.seek(offset)
            f.write(raw)


class PluginTestBase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.root = tempfile.mkdtemp(prefix='xenimage-dom0-')
        self.addCleanup(shutil.rmtree, self.root, True)
        dom0tools.install(self.root)
        self.plugin = load_plugin(self.root)
        self.sr_uuid = str(uuid.uuid4())
        self.vdi_uuid = str(uuid.uuid4())
        self.sr_dir = os.path.join(self.root, 'run', 'sr-mount',
                                   self.sr_uuid)
        os.makedirs(self.sr_dir)
        self.raw = images.make_sparse(
            os.path.join(self.root, 'disk.raw'), 12 * MiB,
            images.scattered_regions(12 * MiB, 3, 300 * 1024))
        self.vhd = images.tap_vhd(
            self.raw, os.path.join(self.sr_dir, self.vdi_uuid + '.vhd'))

    def assert_refused(self, code, fn, *args):
        e = self.assertRaises(self.plugin.PluginError, fn, *args)
        self.assertEqual(code, e.code, e.message)
        return e


class PluginChecksTest(PluginTestBase):

    def test_sr_path_under_run(self):
        self.assertEqual(self.sr_dir, self.plugin.sr_path(self.sr_uuid))

    def test_sr_path_under_var_run_on_older_releases(self):
        old = os.path.join(self.root, 'var', 'run', 'sr-mount')
        os.makedirs(old)
        os.rename(self.sr_dir, os.path.join(old, self.sr_uuid))
        self.assertEqual(os.path.join(old, self.sr_uuid),
                         self.plugin.sr_path(self.sr_uuid))

    def test_sr_that_is_not_mounted(self):
        self.assert_refused('XENIMAGE_SR_NOT_MOUNTED', self.plugin.sr_path,
                            str(uuid.uuid4()))

    def test_arguments_that_are_not_uuids_are_refused(self):
        for bad in ('../../etc', '/etc/passwd', self.sr_uuid + '/..', ''):
            self.assert_refused('XENIMAGE_BAD_ARGUMENT', self.plugin.export,
                                {'sr_uuid': bad, 'vdi_uuid': self.vdi_uuid,
                                 'url': 'https://x/', 'token': 't',
                                 'cert_sha256': '0' * 64})

    def test_vdi_file_must_not_be_a_symlink(self):
        os.rename(self.vhd, os.path.join(self.root, 'elsewhere.vhd'))
        os.symlink(os.path.join(self.root, 'elsewhere.vhd'), self.vhd)
        self.assert_refused('XENIMAGE_VDI_NOT_FOUND', self.plugin.vdi_file,
                            self.sr_dir, self.vdi_uuid)

    def test_missing_vdi_file(self):
        self.assert_refused('XENIMAGE_VDI_NOT_FOUND', self.plugin.vdi_file,
                            self.sr_dir, str(uuid.uuid4()))

    def test_vdi_kept_in_another_format_is_named(self):
        # An XCP-ng 8.3 SR preferring qcow2, where VDI.create ignored us.
        vdi = str(uuid.uuid4())
        open(os.path.join(self.sr_dir, vdi + '.qcow2'), 'wb').close()
        e = self.assert_refused('XENIMAGE_VDI_NOT_FOUND',
                                self.plugin.vdi_file, self.sr_dir, vdi)
        self.assertIn('found: %s.qcow2' % vdi, e.message)

    def test_refusals_are_ascii_whatever_they_quote(self):
        vdi = str(uuid.uuid4())
        open(os.path.join(self.sr_dir, vdi + '.caf\u00e9'), 'wb').close()
        e = self.assert_refused('XENIMAGE_VDI_NOT_FOUND',
                                self.plugin.vdi_file, self.sr_dir, vdi)
        e.message.encode('ascii')
        self.assertIn('caf\\xe9', e.message)

    def test_attached_vdi_is_refused(self):
        with open(os.path.join(self.root, dom0tools.TAPDISKS), 'w') as f:
            f.write('pid=1 minor=0 state=0 args=vhd:%s\n' % self.vhd)
        self.assert_refused('XENIMAGE_VDI_IN_USE',
                            self.plugin.check_not_attached, self.vhd)

    def test_other_tapdisks_do_not_matter(self):
        with open(os.path.join(self.root, dom0tools.TAPDISKS), 'w') as f:
            f.write('pid=1 minor=0 state=0 args=vhd:%s/%s.vhd\n'
                    % (self.sr_dir, uuid.uuid4()))
        self.plugin.check_not_attached(self.vhd)

    def test_tap_vhd_is_described(self):
        summary = self.plugin.describe_vhd(self.vhd)
        self.assertEqual('tap', summary['creator'])
        self.assertEqual(12 * MiB, summary['virtual_size'])
        self.assertEqual(os.path.getsize(self.vhd),
                         summary['physical_size'])

    def test_qemu_vhd_is_not_tap(self):
        qemu = images.qemu_convert(self.raw, self.vhd, 'vpc')
        e = self.assert_refused('XENIMAGE_NOT_TAP', self.plugin.describe_vhd,
                                qemu)
        self.assertIn("'qemu'", e.message)

    def test_differencing_vhd_is_refused(self):
        patch_footers(self.vhd, disk_type=L.DISK_TYPE_DIFFERENCING)
        self.assert_refused('XENIMAGE_VDI_HAS_PARENT',
                            self.plugin.describe_vhd, self.vhd)

    def test_hidden_vhd_is_refused(self):
        patch_footers(self.vhd, hidden=1)
        self.assert_refused('XENIMAGE_VHD_INVALID', self.plugin.describe_vhd,
                            self.vhd)

    def test_damaged_vhd_is_refused(self):
        with open(self.vhd, 'r+b') as f:
            f.seek(-L.FOOTER_SIZE, os.SEEK_END)
            f.write(b'garbage!')
        e = self.assert_refused('XENIMAGE_VHD_INVALID',
                                self.plugin.describe_vhd, self.vhd)
        self.assertIn('vhd-util check', e.message)

    def test_get_version_is_json(self):
        answer = json.loads(self.plugin.get_version(None, {}))
        self.assertEqual(dom0.plugin_version(), answer['version'])


class PluginExportTest(PluginTestBase):

    def setUp(self):
        super().setUp()
        self.received = tempfile.mkdtemp(prefix='xenimage-rx-')
        self.addCleanup(shutil.rmtree, self.received, True)
        self.rx = receiver.OneShotReceiver(
            self.received, 'img.', '127.0.0.1', '127.0.0.1', (19500, 19599),
            tls.ServerCertificate.ephemeral('127.0.0.1'), 64 * MiB)
        self.addCleanup(self.rx.close)

    def args(self, **changes):
        args = {'sr_uuid': self.sr_uuid, 'vdi_uuid': self.vdi_uuid,
                'url': self.rx.url, 'token': self.rx.token,
                'cert_sha256': self.rx.certificate.fingerprint,
                'timeout': '60'}
        args.update(changes)
        return args

    def test_export_sends_the_sr_file_as_0_vhd(self):
        summary = self.plugin.export(self.args())
        self.assertTrue(self.rx.wait(5))
        got = self.rx.result
        self.assertEqual((got.size, got.sha256),
                         (summary['bytes'], summary['sha256']))
        with tarfile.open(got.path, 'r|gz') as archive:
            members = [(m.name, m.size) for m in archive]
        self.assertEqual([('0.vhd', os.path.getsize(self.vhd))], members)
        extracted = images.extract_member(got.path, self.received)
        with open(extracted, 'rb') as a, open(self.vhd, 'rb') as b:
            self.assertEqual(a.read(), b.read())
        self.assertEqual([self.vdi_uuid + '.vhd'], os.listdir(self.sr_dir))
        # One gzip member, 0.vhd alone: what Nova's tarfile reads.
        self.assertTrue(check.check_path(got.path).valid)

    def test_vhd_transfer_sends_the_sr_file_itself(self):
        summary = self.plugin.export(self.args(transfer='vhd'))
        self.assertTrue(self.rx.wait(5))
        got = self.rx.result
        self.assertEqual((got.size, got.sha256, 'vhd'), (
            summary['bytes'], summary['sha256'], summary['transfer']))
        with open(got.path, 'rb') as a, open(self.vhd, 'rb') as b:
            self.assertEqual(b.read(), a.read())
        # No staging link was made in the SR.
        self.assertEqual([self.vdi_uuid + '.vhd'], os.listdir(self.sr_dir))

    def test_tar_still_exiting_after_its_output_ends_is_waited_for(self):
        # A busy dom0: tar has closed its output but not yet exited.
        slow_tar = os.path.join(self.root, 'slow-tar')
        with open(slow_tar, 'w') as f:
            f.write('#!/bin/sh\n/bin/tar "$@"\nexec >&-\nsleep 1\n')
        os.chmod(slow_tar, 0o755)
        # The module is loaded afresh for each test.
        self.plugin.TAR = slow_tar
        summary = self.plugin.export(self.args())
        self.assertTrue(self.rx.wait(5))
        self.assertEqual(summary['bytes'], self.rx.result.size)

    def test_unknown_transfer_is_refused(self):
        self.assert_refused('XENIMAGE_BAD_ARGUMENT', self.plugin.export,
                            self.args(transfer='raw'))

    def test_compression_level_is_applied(self):
        summary = self.plugin.export(self.args(level='1'))
        self.rx.wait(5)
        with open(self.rx.result.path, 'rb') as f:
            # gzip XFL byte: 4 = fastest, 0 = default levels.
            self.assertEqual(4, f.read(9)[8])
        self.assertEqual(summary['bytes'], self.rx.result.size)

    def test_level_outside_1_to_9_is_refused(self):
        for level in ('0', '10', 'fast'):
            self.assert_refused('XENIMAGE_BAD_ARGUMENT', self.plugin.export,
                                self.args(level=level))

    def test_pinned_fingerprint_mismatch_sends_nothing(self):
        self.assert_refused('XENIMAGE_RECEIVER_UNTRUSTED',
                            self.plugin.export,
                            self.args(cert_sha256='ab' * 32))
        self.assertFalse(self.rx.started.is_set())
        self.assertEqual([self.vdi_uuid + '.vhd'], os.listdir(self.sr_dir))

    def test_probe_connects_and_sends_nothing(self):
        probe = {'url': self.rx.url, 'timeout': '10',
                 'cert_sha256': self.rx.certificate.fingerprint}
        self.assertEqual({'reachable': True}, self.plugin.probe(probe))
        self.assert_refused('XENIMAGE_RECEIVER_UNTRUSTED', self.plugin.probe,
                            dict(probe, cert_sha256='ab' * 32))
        self.assertFalse(self.rx.started.is_set())
        # The receiver still takes the real upload afterwards.
        self.plugin.export(self.args())
        self.assertTrue(self.rx.wait(30))

    def test_plain_http_is_refused(self):
        self.assert_refused('XENIMAGE_BAD_ARGUMENT', self.plugin.export,
                            self.args(url=self.rx.url.replace('https:',
                                                              'http:')))

    def test_wrong_token_leaves_no_staging_directory(self):
        e = self.assert_refused('XENIMAGE_UPLOAD_FAILED', self.plugin.export,
                                self.args(token='nope'))
        self.assertIn('403', e.message)
        self.assertIsNone(self.rx.result)
        self.assertEqual([self.vdi_uuid + '.vhd'], os.listdir(self.sr_dir))
        self.assertEqual([], os.listdir(self.received))

    def test_unreachable_receiver(self):
        # A port bound but not listening refuses connections, and no other
        # test's receiver can take it meanwhile.
        closed = socket.socket()
        self.addCleanup(closed.close)
        closed.bind(('127.0.0.1', 0))
        url = 'https://127.0.0.1:%d%s' % (closed.getsockname()[1],
                                          self.rx.path)
        self.assert_refused('XENIMAGE_RECEIVER_UNREACHABLE',
                            self.plugin.export, self.args(url=url))


class PluginProtocolTest(testtools.TestCase):
    """argv[1] in, methodResponse out, under every dom0 interpreter."""

    def run_plugin(self, python, fn, args):
        d = tempfile.mkdtemp(prefix='xenimage-plugin-')
        self.addCleanup(shutil.rmtree, d, True)
        path = dom0.install(d, python)
        env = {'PATH': '/usr/bin:/bin', 'PYTHONPATH': xapisim.STUBS_DIR}
        out = subprocess.run([path, xmlrpc.client.dumps(
            ('OpaqueRef:session', args), fn)], env=env, capture_output=True,
            text=True, check=True).stdout
        return xmlrpc.client.loads(out)[0][0]

    def test_interpreters(self):
        for label, python in sorted(xapisim.dom0_pythons().items()):
            answer = self.run_plugin(python, 'get_version', {})
            self.assertEqual('Success', answer['Status'], label)
            version = json.loads(answer['Value'])['python']
            self.assertTrue(version.startswith(label[len('python'):]) or
                            label == 'python3', (label, version))
            answer = self.run_plugin(python, 'export_tap_vhd',
                                     {'sr_uuid': '../x'})
            self.assertEqual(['XENIMAGE_BAD_ARGUMENT',
                              'malformed argument sr_uuid'],
                             answer['ErrorDescription'], label)
            answer = self.run_plugin(python, 'no_such_fn', {})
            self.assertEqual(['UNKNOWN_XENAPI_PLUGIN_FUNCTION',
                              'no_such_fn'], answer['ErrorDescription'])


class VersionTest(testtools.TestCase):

    def test_same_major_and_at_least_the_minor_needed(self):
        self.assertTrue(dom0.compatible('1.1', '1.1'))
        self.assertTrue(dom0.compatible('1.2', '1.1'))
        self.assertFalse(dom0.compatible('1.0', '1.1'))   # has no probe
        self.assertFalse(dom0.compatible('2.1', '1.1'))
        self.assertFalse(dom0.compatible('one', '1.1'))


class InstallerTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-plugins-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def assert_installed(self, python):
        path = os.path.join(self.dir, dom0.PLUGIN_NAME)
        self.assertEqual(0o755, stat.S_IMODE(os.stat(path).st_mode))
        with open(path) as f:
            text = f.read()
        self.assertEqual(dom0.plugin_source(python), text)
        self.assertEqual([dom0.PLUGIN_NAME], os.listdir(self.dir))

    def test_install(self):
        dom0.install(self.dir, '/usr/bin/python')
        self.assert_installed('/usr/bin/python')

    def test_shell_installer_picks_python2_without_xenapiplugin(self):
        script = dom0.installer_script()
        out = subprocess.run(['sh', '-s'], input=script, text=True,
                             capture_output=True, check=True,
                             env={'PATH': '/usr/bin:/bin',
                                  'XENIMAGE_PLUGIN_DIR': self.dir})
        self.assertIn('installed', out.stdout)
        # Nothing here can import XenAPIPlugin, so python 2.7 is chosen.
        self.assert_installed(dom0.PYTHON2)

    def test_shell_installer_honours_an_explicit_python(self):
        subprocess.run(['sh', '-s'], input=dom0.installer_script(),
                       text=True, capture_output=True, check=True,
                       env={'PATH': '/usr/bin:/bin',
                            'XENIMAGE_PLUGIN_DIR': self.dir,
                            'XENIMAGE_PLUGIN_PYTHON': '/opt/py/bin/python3'})
        self.assert_installed('/opt/py/bin/python3')
