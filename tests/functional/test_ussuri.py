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

"""The oldest end: Glance 20 (Ussuri) on Python 3.8, served by eventlet.

tools/bootstrap installs Glance 20.2.0 in ``.venv-ussuri`` within Ussuri's
final upper-constraints (lab/ussuri), then this package unconstrained, as
an operator would. A representative subset of the newest end's tests runs
here against that glance-api and its own ``glance`` client: an import
checked down to the data, a revert and a retry, hostile refusals, a
snapshot chain and the guest properties, plus the command-line tools on
that Python and what installing the plugin did to Glance's libraries.
"""

import json
import os
import re
import subprocess

import fixtures
import testtools

from lab import glance_server
from lab import images
from tests.functional import base
from tests.functional import test_glance_import as newest
from tests.functional import xenserver_base
from tests import hostile

MiB = images.MiB
USSURI = glance_server.USSURI


class UssuriImportTest(base.GlanceTestBase):
    """Imports into Glance 20 with its single-store configuration."""

    release = USSURI
    multi_store = False

    _prepare = classmethod(newest.ImportConvertsTest._prepare.__func__)
    source = newest.ImportConvertsTest.source
    assert_converted = newest.ImportConvertsTest.assert_converted
    assert_refused = newest.ImportRefusesTest.assert_refused

    def test_qcow2_is_published_as_a_xenserver_image(self):
        image_id, _ = self.import_file(self.source('qcow2'), 'qcow2')
        self.assert_converted(image_id, 'qcow2')

    def test_vmdk_is_published_as_a_xenserver_image(self):
        image_id, _ = self.import_file(self.source('vmdk'), 'vmdk')
        self.assert_converted(image_id, 'vmdk')

    test_snapshot_chain_is_flattened = (
        newest.ImportConvertsTest.test_snapshot_chain_is_flattened)
    test_guest_inspection_sets_os_type_and_auto_disk_config = (
        newest.ImportConvertsTest.
        test_guest_inspection_sets_os_type_and_auto_disk_config)
    test_tap_tarball_passes_through_unchanged = (
        newest.ImportConvertsTest.test_tap_tarball_passes_through_unchanged)
    test_refused_image_can_be_imported_again = (
        newest.ImportRefusesTest.test_refused_image_can_be_imported_again)

    def test_backing_file_refused_and_reverted(self):
        self.assert_refused(hostile.build('qcow2-backing-absolute',
                                          self.dir), 'qcow2', 'backing file')

    def test_catalogue_repairs_a_classic_upload(self):
        # Glance 20 has no image tasks API and serves ranges by eventlet.
        clouds = base.fixed_identity_clouds_yaml(
            os.path.join(self.dir, 'clouds.yaml'), self.server)
        image_id = glance_server.image_id_of(self.glance(
            'image-create', '--name', 'classic', '--disk-format', 'qcow2',
            '--container-format', 'bare', '--file', self.source('qcow2')))
        proc = base.catalogue(clouds, 'audit', '-f', 'json', image_id)
        self.assertEqual('fixable', json.loads(proc.stdout)[0]['verdict'])
        proc = base.catalogue(clouds, 'repair', '-f', 'json', image_id)
        self.assertEqual(0, proc.returncode, proc.stderr)
        row = json.loads(proc.stdout)[0]
        self.assertEqual('repaired', row['action'], row)
        copy = self.show(row['copy'])
        self.assertEqual(('active', 'vhd', 'ovf'), (
            copy['status'], copy['disk_format'], copy['container_format']))
        proc = base.catalogue(clouds, 'repair', '-f', 'json', image_id)
        self.assertEqual('already-repaired',
                         json.loads(proc.stdout)[0]['action'])

    def test_preflight_reads_the_side_door_in_ussuri_policy_json(self):
        etc = self.server.etc

        def classic_upload():
            rc, out, err = base.cli(
                'convert', '--preflight', '--config-file',
                os.path.join(etc, 'glance-api.conf'), '--config-file',
                os.path.join(etc, 'glance-image-import.conf'),
                release=USSURI)
            self.assertEqual(0, rc, err)
            return re.search(r'^  classic upload\s+(\w+)', out,
                             re.M).group(1)
        self.assertEqual('warning', classic_upload())
        # Ussuri's oslo.policy reads policy.json: a policy.yaml is not.
        for name, ok in (('policy.yaml', 'warning'), ('policy.json', 'ok')):
            path = os.path.join(etc, name)
            with open(path, 'w') as f:
                f.write('{"upload_image": "role:admin"}\n')
            self.addCleanup(os.unlink, path)
            self.assertEqual(ok, classic_upload(), name)

    def test_vmdk_text_descriptor_refused_without_format_inspector(self):
        # Ussuri's oslo.utils has no format_inspector: the project's own
        # header reader alone refuses it.
        self.assert_refused(hostile.build('vmdk-text-descriptor-variant',
                                          self.dir), 'vmdk', 'vmdk')


class UssuriToolsTest(testtools.TestCase):
    """The command-line tools on Ussuri's Python and libraries."""

    def setUp(self):
        super().setUp()
        if not glance_server.installed(USSURI):
            self.skipTest('%s is not installed' % USSURI.name)
        self.dir = self.useFixture(fixtures.TempDir()).path

    def test_installing_the_plugin_upgraded_nothing_of_glance(self):
        with open(os.path.join(USSURI.venv, 'glance-freeze.txt')) as f:
            before = _pins(f.read())
        after = _pins(subprocess.run(
            [os.path.join(USSURI.venv, 'bin', 'python'), '-m', 'pip',
             'freeze'], stdout=subprocess.PIPE, text=True,
            check=True).stdout)
        changed = {name: (version, after.get(name))
                   for name, version in before.items()
                   if after.get(name) != version}
        self.assertEqual({}, changed)
        for name in ('glance', 'oslo.utils', 'taskflow', 'stevedore',
                     'glance-store', 'eventlet'):
            self.assertIn(name, before)

    def test_every_format_converts_and_checks(self):
        raw = images.make_sparse(os.path.join(self.dir, 'disk.raw'),
                                 24 * MiB, [(0, 3 * MiB), (17 * MiB, MiB)])
        for fmt in ('qcow2', 'vmdk', 'vdi', 'vhdx', 'vpc'):
            src = images.qemu_convert(raw, os.path.join(
                self.dir, 'disk.' + fmt), fmt)
            out = os.path.join(self.dir, fmt + '.tgz')
            rc, _, err = base.cli('convert', src, out, release=USSURI)
            self.assertEqual(0, rc, err)
            rc, out_text, err = base.cli('check', out, release=USSURI)
            self.assertEqual(0, rc, out_text + err)
            os.mkdir(os.path.join(self.dir, fmt))
            vhd = images.extract_member(out, os.path.join(self.dir, fmt))
            same, message = images.qemu_compare(vhd, 'vpc', raw, 'raw')
            self.assertTrue(same, '%s: %s' % (fmt, message))

    def test_hostile_uploads_are_refused(self):
        for name, claimed, builder, reason in hostile.CASES:
            if not name.startswith(('qcow2-backing', 'qcow2-data', 'vmdk-',
                                    'luks', 'claims-')):
                continue
            src = builder(self.dir)
            rc, _, err = base.cli('convert', '--source-format', claimed, src,
                                  os.path.join(self.dir, 'out.tgz'),
                                  release=USSURI)
            self.assertEqual((1, True), (rc, reason in err), (name, err))
            self.assertFalse(os.path.exists(os.path.join(self.dir,
                                                         'out.tgz')))


class UssuriXenServerHelperTest(xenserver_base.XenServerHelperBase):
    """The xenserver helper on Python 3.8 with Ussuri's libraries.

    Over HTTPS, as real hosts serve XAPI: certificate checks included.
    """

    release = USSURI
    sim_options = {'tls': True}

    def setUp(self):
        if not glance_server.installed(USSURI):
            self.skipTest('%s is not installed' % USSURI.name)
        super().setUp()

    def test_converts_on_the_simulated_host(self):
        rc, out, err = self.convert(ca_file=self.sim.ca_file)
        self.assertEqual(0, rc, err)
        self.assert_converted()
        self.assert_nothing_left(output=['disk.tgz'])

    def test_an_unknown_certificate_is_refused(self):
        self.assert_refused(self.convert(),
                            'XenServer host 127.0.0.1: its certificate is not '
                            'trusted')


def _pins(freeze):
    pins = {}
    for line in freeze.splitlines():
        if '==' in line:
            name, version = line.split('==', 1)
            pins[name.lower().replace('_', '-')] = version
    return pins
