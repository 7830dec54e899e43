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

"""xenimage-catalogue against a real Keystone and a real glance-api.

The catalogue is seeded as operators find theirs: images uploaded through
the classic ``glance image-create --file`` (which never runs the plugin)
next to one imported through it. The command logs in with clouds.yaml
and finds Glance in Keystone's catalogue, as any OpenStack client does.
"""

import json
import os
import re
import signal
import time
import uuid

from lab import glance_server
from lab import images
from tests.functional import base
from tests import hostile
from tests import vhdchain

MiB = images.MiB
CLOUD = 'lab'


class CatalogueTest(base.GlanceTestBase):

    keystone = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.clouds = os.path.join(cls.base, 'clouds.yaml')
        admin = cls.identity.client_env()
        cls.identity.clouds_yaml(cls.clouds, {
            CLOUD: (admin['OS_USERNAME'], admin['OS_PASSWORD'],
                    admin['OS_PROJECT_NAME']),
            'wrong-password': (admin['OS_USERNAME'], 'not-the-password',
                               admin['OS_PROJECT_NAME'])})
        cls.member_project = cls.identity.add_project_user(
            'consumers', 'consumer', 'consumer-pass')
        cls.member = dict(admin, OS_USERNAME='consumer',
                          OS_PASSWORD='consumer-pass',
                          OS_PROJECT_NAME='consumers')
        cls.seeds = cls._seed(os.path.join(cls.base, 'seeds'))

    @classmethod
    def _seed(cls, d):
        """Each kind an existing catalogue holds: {name: image id}."""
        os.mkdir(d)
        raw = images.make_sparse(os.path.join(d, 'disk.raw'), 8 * MiB,
                                 images.scattered_regions(8 * MiB, 3, MiB))
        tap = os.path.join(d, 'tap.tgz')
        rc, _, err = base.cli('convert', raw, tap)
        assert rc == 0, err
        qemu_vhd = os.path.join(d, '0.vhd')
        images.qemu_convert(raw, qemu_vhd, 'vpc')
        qemu_tgz = os.path.join(d, 'qemu.tgz')
        images.run('tar', '-czf', qemu_tgz, '-C', d, '0.vhd')
        chain = vhdchain.sample_chain(2, size=8 * MiB)
        broken = vhdchain.sample_chain(2, size=8 * MiB)
        broken[0].parent_id = uuid.uuid4().bytes
        qcow2 = images.qemu_convert(raw, os.path.join(d, 'disk.qcow2'),
                                    'qcow2')
        seeds = {
            'qemu-vhd': (qemu_tgz, 'vhd', 'ovf', {'vm_mode': 'hvm'}),
            'tap-without-vm-mode': (tap, 'vhd', 'ovf', {}),
            'windows-as-pv': (tap, 'vhd', 'ovf',
                              {'os_type': 'windows', 'vm_mode': 'xen'}),
            'qcow2': (qcow2, 'qcow2', 'bare', {}),
            'iso': (hostile._iso(d), 'iso', 'bare', {}),
            'mislabelled': (qcow2, 'raw', 'bare', {}),
            'snapshot-chain': (vhdchain.write_tarball(d, chain), 'vhd',
                               'ovf', {'vm_mode': 'hvm'}),
            'broken-chain': (vhdchain.write_tarball(
                d, broken, out=os.path.join(d, 'broken.tgz')), 'vhd', 'ovf',
                {'vm_mode': 'hvm'}),
        }
        ids = {name: cls.upload(path, name, disk, container, props)
               for name, (path, disk, container, props) in seeds.items()}
        proc = cls.server.glance(
            'image-create-via-import', '--disk-format', 'qcow2',
            '--container-format', 'bare', '--name', 'good', '--file', qcow2)
        ids['good'] = glance_server.image_id_of(proc)
        deadline = time.monotonic() + 120
        while cls.record(ids['good'])['status'] != 'active':
            assert time.monotonic() < deadline, 'the good image never came'
            time.sleep(0.5)
        return ids

    @classmethod
    def upload(cls, path, name, disk, container, props):
        """The classic upload: PUT /file, which runs no import plugin."""
        args = ['image-create', '--name', name, '--disk-format', disk,
                '--container-format', container, '--file', path]
        for key, value in sorted(props.items()):
            args += ['--property', '%s=%s' % (key, value)]
        return glance_server.image_id_of(cls.server.glance(*args))

    @classmethod
    def record(cls, image_id):
        return glance_server.parse_table(
            cls.server.glance('image-show', image_id).stdout)

    def catalogue(self, *args, **kwargs):
        return base.catalogue(self.clouds, *args, **kwargs)

    def audit(self, *args):
        proc = self.catalogue('audit', '-f', 'json', *args)
        self.assertIn(proc.returncode, (0, 1), proc.stderr)
        return proc, {row['id']: row for row in json.loads(proc.stdout)}

    def repair(self, *args):
        proc = self.catalogue('repair', '-f', 'json', *args)
        self.assertIn(proc.returncode, (0, 1), proc.stderr)
        return proc, {row['id']: row for row in json.loads(proc.stdout)}

    def copies(self, image_id):
        listing = self.glance('image-list', '--property-filter',
                              'xenimage_repaired_from=%s' % image_id).stdout
        return [line.split('|')[1].strip() for line in listing.splitlines()
                if line.startswith('| ') and 'ID' not in line]

    def fresh_qcow2(self, name, *extra):
        """A qcow2 uploaded the classic way, for one test's repair."""
        raw = images.make_random(os.path.join(self.dir, 'r.raw'), 16 * MiB)
        qcow2 = images.qemu_convert(raw, os.path.join(self.dir, 'r.qcow2'),
                                    'qcow2')
        args = ['image-create', '--name', name, '--disk-format', 'qcow2',
                '--container-format', 'bare', '--file', qcow2]
        return glance_server.image_id_of(self.glance(*(args + list(extra))))

    def test_audit_gives_each_kind_its_verdict_and_reason(self):
        proc, rows = self.audit()
        expected = {
            'good': ('boots', 'tap dynamic VHD'),
            'qemu-vhd': ('fixable', "written by 'qemu', not tap"),
            'tap-without-vm-mode': ('fixable', 'vm_mode is not set'),
            'windows-as-pv': ('fixable', 'Windows boots only as hvm'),
            'qcow2': ('fixable', 'disk_format qcow2'),
            'iso': ('not-convertible', 'installation media'),
            'mislabelled': ('not-convertible', 'labelled raw, but the data '
                                               'is qcow2'),
            # tar -c lists 0.vhd or 1.vhd first, as the directory has it.
            'snapshot-chain': ('fixable', 'the plugin flattens it'),
            'broken-chain': ('fixable', 'the plugin flattens it'),
        }
        for name, (verdict, reason) in expected.items():
            row = rows[self.seeds[name]]
            self.assertEqual(verdict, row['verdict'], (name, row))
            self.assertIn(reason, ' '.join(row['reasons']), name)
        self.assertEqual(1, proc.returncode)

    def test_deep_audit_checks_chain_links_and_every_block(self):
        ids = [self.seeds[n] for n in ('good', 'broken-chain',
                                       'snapshot-chain', 'qemu-vhd')]
        _, rows = self.audit('--deep', *ids)
        good, broken, chain, qemu = (rows[i] for i in ids)
        self.assertEqual('boots', good['verdict'])
        self.assertIn('every block checked', good['reasons'][0])
        self.assertEqual('not-convertible', broken['verdict'])
        self.assertIn('a snapshot chain that fails its checks',
                      broken['reasons'][0])
        self.assertEqual('fixable', chain['verdict'])
        self.assertIn('flatten', chain['reasons'][0])
        self.assertEqual('fixable', qemu['verdict'])

    def test_an_unreadable_image_is_a_row_and_the_audit_goes_on(self):
        lost = self.fresh_qcow2('store-lost-it')
        os.unlink(os.path.join(self.server.store, lost))
        proc, rows = self.audit(lost, self.seeds['qcow2'])
        self.assertEqual('unjudged', rows[lost]['verdict'])
        self.assertEqual('its data could not be read: Glance refused GET '
                         '/v2/images/%s/file: HTTP 204 No Content' % lost,
                         rows[lost]['reasons'][0])
        self.assertEqual('fixable', rows[self.seeds['qcow2']]['verdict'])
        self.assertEqual(1, proc.returncode)

    def test_other_projects_community_images_are_audited(self):
        image_id = self.fresh_qcow2('their-community', '--visibility',
                                    'community', '--owner', uuid.uuid4().hex)
        self.assertNotIn(image_id, self.glance('image-list').stdout)
        _, rows = self.audit('--name', 'their-community')
        self.assertEqual('fixable', rows[image_id]['verdict'])

    def test_every_page_is_walked(self):
        _, whole = self.audit()
        _, paged = self.audit('--page-size', '2')
        self.assertGreater(len(whole), 2 * 2)
        self.assertEqual(sorted(whole), sorted(paged))

    def test_filters_select_images(self):
        proc, rows = self.audit('--name', 'good')
        self.assertEqual([self.seeds['good']], list(rows))
        self.assertEqual(0, proc.returncode)
        _, rows = self.audit('--project', uuid.uuid4().hex)
        self.assertEqual({}, rows)

    def test_table_output_is_what_an_operator_reads(self):
        proc = self.catalogue('audit', self.seeds['iso'])
        # Nothing a repair could do: not a failure.
        self.assertEqual(0, proc.returncode, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertRegex(lines[1], r'^\| id +\| name +\| verdict +\| '
                                   r'reasons +\|$')
        self.assertIn('| %s | iso  | not-convertible |' % self.seeds['iso'],
                      lines[3])
        self.assertEqual('1 not-convertible', proc.stderr.strip())

    def test_dry_run_changes_nothing(self):
        image_id = self.fresh_qcow2('dry-run')
        before = self.glance('image-list').stdout
        _, rows = self.repair('--dry-run', image_id)
        self.assertEqual('would-repair', rows[image_id]['action'])
        self.assertIn('copy as qcow2/bare through glance-direct',
                      rows[image_id]['detail'])
        self.assertEqual(before, self.glance('image-list').stdout)

    def test_repair_carries_the_record_and_a_rerun_does_nothing(self):
        image_id = self.fresh_qcow2(
            'shared-qcow2', '--visibility', 'shared', '--min-ram', '256',
            '--protected', 'True', '--property', 'os_distro=cirros',
            '--property', 'hw_vendor=acme')
        self.glance('image-tag-update', image_id, 'golden')
        self.glance('member-create', image_id, self.member_project)
        self.glance('member-update', image_id, self.member_project,
                    'accepted')
        original = self.record(image_id)
        proc, rows = self.repair(image_id)
        self.assertEqual(0, proc.returncode, proc.stderr)
        row = rows[image_id]
        self.assertEqual('repaired', row['action'], row)
        copy = self.record(row['copy'])
        self.assertEqual(('active', 'vhd', 'ovf', 'hvm', 'qcow2'),
                         (copy['status'], copy['disk_format'],
                          copy['container_format'], copy['vm_mode'],
                          copy['xenimage_source_format']))
        for key in ('name', 'visibility', 'min_ram', 'os_distro',
                    'hw_vendor', 'tags', 'owner', 'protected'):
            self.assertEqual(original[key], copy[key], key)
        self.assertEqual(image_id, copy['xenimage_repaired_from'])
        members = self.glance('member-list', '--image-id',
                              row['copy']).stdout
        self.assertRegex(members, r'%s\s+\|\s+accepted' % self.member_project)
        self.assertEqual(original, self.record(image_id))

        before = self.glance('image-list').stdout
        proc, rows = self.repair(image_id)
        self.assertEqual(('already-repaired', row['copy']),
                         (rows[image_id]['action'], rows[image_id]['copy']))
        self.assertEqual(before, self.glance('image-list').stdout)
        _, rows = self.audit(image_id)
        self.assertEqual('repaired', rows[image_id]['verdict'])
        self.assertEqual(row['copy'], rows[image_id]['repaired_by'])

        _, rows = self.repair('--dry-run', '--hide-original', image_id)
        self.assertIn('would have the original hidden',
                      rows[image_id]['detail'])
        self.assertEqual(original, self.record(image_id))

    def interrupted_repair(self, image_id, signum):
        """Repair, signalled once the copy exists: (exit status, stderr)."""
        proc = self.catalogue('-v', 'repair', image_id, popen=True)
        for line in proc.stderr:
            if 'created copy' in line:
                proc.send_signal(signum)
                break
        err = proc.stderr.read()
        proc.wait(60)
        proc.stdout.close()
        proc.stderr.close()
        return proc.returncode, err

    def test_repair_killed_midway_resumes_on_rerun(self):
        image_id = self.fresh_qcow2('killed')
        rc, _ = self.interrupted_repair(image_id, signal.SIGKILL)
        self.assertEqual(-signal.SIGKILL, rc)
        left = self.copies(image_id)
        self.assertEqual(1, len(left))
        self.assertNotEqual('active', self.record(left[0])['status'])

        _, rows = self.repair(image_id)
        row = rows[image_id]
        self.assertEqual('repaired', row['action'])
        self.assertIn('removed incomplete copy %s' % left[0], row['detail'])
        self.assertEqual([row['copy']], self.copies(image_id))

    def test_repair_stopped_by_sigterm_leaves_nothing_behind(self):
        image_id = self.fresh_qcow2('terminated')
        rc, err = self.interrupted_repair(image_id, signal.SIGTERM)
        self.assertEqual(130, rc)
        self.assertIn('interrupted: run the same command again to resume',
                      err)
        self.assertEqual([], self.copies(image_id))

    def test_plugin_refusal_is_reported_and_leaves_no_copy(self):
        image_id = self.seeds['broken-chain']
        proc, rows = self.repair(image_id)
        self.assertEqual(1, proc.returncode)
        row = rows[image_id]
        self.assertEqual('failed', row['action'])
        self.assertIn('the plugin refused it', row['detail'])
        self.assertIn('parent', row['detail'])
        self.assertEqual([], self.copies(image_id))

    def test_hide_original_once_its_copy_is_active(self):
        image_id = self.fresh_qcow2('hidden')
        _, rows = self.repair('--hide-original', image_id)
        self.assertEqual('repaired', rows[image_id]['action'])
        self.assertEqual('True', self.record(image_id)['os_hidden'])
        # Hidden images are still audited.
        _, rows = self.audit('--name', 'hidden')
        self.assertEqual('repaired', rows[image_id]['verdict'])

    def preflight_says(self):
        etc = self.server.etc
        rc, out, err = base.cli(
            'convert', '--preflight', '--config-file',
            os.path.join(etc, 'glance-api.conf'), '--config-file',
            os.path.join(etc, 'glance-image-import.conf'))
        self.assertEqual(0, rc, err)
        return re.search(r'^  classic upload\s+(\w+)', out, re.M).group(1)

    def member_uploads(self, name):
        """Whether Glance takes a project member's classic upload."""
        path = images.make_random(os.path.join(self.dir, name), MiB)
        proc = self.glance('image-create', '--name', name, '--disk-format',
                           'raw', '--container-format', 'bare', '--file',
                           path, check=False, credentials=self.member)
        image_id = glance_server.image_id_of(proc)
        return self.glance('image-show', image_id, credentials=self.member
                           ).stdout, proc.returncode

    def test_preflight_warns_while_members_may_upload_around_import(self):
        self.assertEqual('warning', self.preflight_says())
        shown, rc = self.member_uploads('side-door-open')
        self.assertEqual(0, rc)
        self.assertRegex(shown, r'\|\s+status\s+\|\s+active')

        # As the docs say: upload_image for admins only, in Glance's own
        # policy file (found beside glance-api.conf, read when it changes).
        policy = os.path.join(self.server.etc, 'policy.yaml')
        with open(policy, 'w') as f:
            f.write('"upload_image": "role:admin"\n')
        self.addCleanup(os.unlink, policy)
        self.assertEqual('ok', self.preflight_says())
        shown, rc = self.member_uploads('side-door-shut')
        self.assertNotEqual(0, rc)
        self.assertRegex(shown, r'\|\s+status\s+\|\s+queued')

    def test_deactivate_original_once_its_copy_is_active(self):
        image_id = self.fresh_qcow2('deactivated')
        _, rows = self.repair('--deactivate-original', image_id)
        self.assertEqual('repaired', rows[image_id]['action'])
        self.assertEqual('deactivated', self.record(image_id)['status'])
        _, rows = self.audit(image_id)
        self.assertEqual('repaired', rows[image_id]['verdict'])

    def test_wrong_credentials_are_one_line(self):
        proc = self.catalogue('audit', cloud='wrong-password')
        self.assertEqual(3, proc.returncode)
        self.assertEqual(1, len(proc.stderr.strip().splitlines()),
                         proc.stderr)
        self.assertIn('xenimage-catalogue: error: The request you have '
                      'made requires authentication. (HTTP 401)',
                      proc.stderr)

    def test_an_unknown_cloud_is_a_usage_error(self):
        proc = self.catalogue('audit', cloud='no-such-cloud')
        self.assertEqual((2, 'xenimage-catalogue: error: Cloud '
                             'no-such-cloud was not found.'),
                         (proc.returncode, proc.stderr.strip()))

    def test_a_missing_image_is_named_in_one_plain_line(self):
        missing = str(uuid.uuid4())
        proc = self.catalogue('audit', missing)
        self.assertEqual(3, proc.returncode)
        self.assertEqual('xenimage-catalogue: error: Glance refused GET '
                         '/v2/images/%s: HTTP 404 No image found with ID %s'
                         % (missing, missing), proc.stderr.strip())
