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

"""``xenimage-convert --helper xenserver`` against the XAPI simulator.

The simulator (lab/xapisim) stands in for a XenServer host: real
XML-RPC, real import_raw_vdi HTTP semantics, and the real dom0 plugin
executed with XAPI's argv/stdout protocol. Every test, whatever the
outcome, asserts that nothing is left behind on either side: no session,
task, VDI or staging directory on the host, no work file here.
"""

import gzip
import json
import os
import shutil
import tempfile
import time

import testtools

from lab import images
from lab import xapisim
from lab.xapisim import server
from lab.xapisim import stunnel
from tests.functional import base
from xenimage_import import archive
from xenimage_import.cmd import convert as xconvert
from xenimage_import import exception
from xenimage_import import helpers
from xenimage_import.helpers.xenserver import dom0
from xenimage_import.source import inspect
from xenimage_import.vhd import layout as L

MiB = images.MiB
GiB = images.GiB
PORTS = '19600:19699'


def write_conf(path, sim, **options):
    values = {'hosts': 'xs-sim:%s' % sim.url, 'password': sim.password,
              'receiver_bind_host': '127.0.0.1',
              'receiver_port_range': PORTS}
    values.update(options)
    with open(path, 'w') as f:
        f.write('[xenimage_xenserver]\n')
        for key, value in sorted(values.items()):
            f.write('%s = %s\n' % (key, value))
    return path


class XenServerHelperBase(testtools.TestCase):

    python = None
    sim_options = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.src_dir = tempfile.mkdtemp(prefix='xenimage-xs-src-')
        cls.raw, cls.qcow2 = images.small_disk(cls.src_dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.src_dir, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-xs-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.out_dir = os.path.join(self.dir, 'out')
        os.mkdir(self.out_dir)
        self.sim = self.simulator()

    def simulator(self, **options):
        kwargs = dict(self.sim_options)
        kwargs.update(options)
        if self.python:
            kwargs['python'] = self.python
        sim = server.XapiSimulator(tempfile.mkdtemp(dir=self.dir),
                                   **kwargs).start()
        self.addCleanup(sim.stop)
        return sim

    def convert(self, source=None, dest='disk.tgz', sim=None, args=(),
                **options):
        conf = write_conf(os.path.join(self.dir, 'xenserver.conf'),
                          sim or self.sim, **options)
        self.dest = os.path.join(self.out_dir, dest)
        return base.cli('convert', '--helper', 'xenserver',
                        '--config-file', conf, *args, source or self.qcow2,
                        self.dest)

    def assert_nothing_left(self, sim=None, output=()):
        self.assertEqual([], (sim or self.sim).leftovers())
        self.assertEqual(sorted(output), sorted(os.listdir(self.out_dir)))

    def assert_converted(self):
        rc, out, err = base.cli('check', self.dest)
        self.assertEqual(0, rc, out + err)
        vhd = self.dest
        if self.dest.endswith('.tgz'):
            vhd = images.extract_member(self.dest, self.dir)
        same, message = images.qemu_compare(vhd, 'vpc', self.raw, 'raw')
        self.assertTrue(same, message)

    def assert_refused(self, result, *phrases, sim=None):
        rc, out, err = result
        self.assertEqual(1, rc, out + err)
        self.assertEqual(1, len(err.strip().splitlines()), err)
        for phrase in phrases:
            self.assertIn(phrase, err)
        self.assert_nothing_left(sim)


class XenServerHelperTest(XenServerHelperBase):

    def test_qcow2_becomes_the_sr_file_as_tarball(self):
        rc, out, err = self.convert()
        self.assertEqual(0, rc, err)
        self.assert_converted()
        self.assert_nothing_left(output=['disk.tgz'])
        calls = self.sim.calls
        for method in ('VDI.create', 'Async.host.call_plugin', 'VDI.destroy',
                       'task.destroy'):
            self.assertIn(method, calls)
        self.assertLess(calls.index('VDI.create'),
                        calls.index('Async.host.call_plugin'))

    def test_bare_vhd_output(self):
        rc, out, err = self.convert(source=self.raw, dest='disk.vhd')
        self.assertEqual(0, rc, err)
        self.assert_converted()
        self.assert_nothing_left(output=['disk.vhd'])

    def exported(self):
        return [args['transfer'] for fn, args in self.sim.plugin_calls
                if fn == dom0.FN_EXPORT]

    def test_vhd_transfer_is_packed_here(self):
        rc, out, err = self.convert(transfer_format='vhd',
                                    args=('--level', '1'))
        self.assertEqual(0, rc, err)
        self.assertEqual(['vhd'], self.exported())
        self.assert_converted()
        # Packed by this node's writer (its tar header, not GNU tar's).
        with gzip.open(self.dest) as f:
            head = f.read(archive.TAR_BLOCK)
        vhd_size = os.path.getsize(images.extract_member(self.dest,
                                                         self.dir))
        mtime = int(archive.TAR_HEADER.unpack(head).mtime.rstrip(b'\0'), 8)
        self.assertEqual(archive.tar_header(vhd_size, mtime), head)
        self.assert_nothing_left(output=['disk.tgz'])

    def test_tgz_transfer_both_outputs(self):
        for dest in ('disk.tgz', 'disk.vhd'):
            rc, out, err = self.convert(transfer_format='tgz', dest=dest)
            self.assertEqual(0, rc, err)
            self.assert_converted()
        self.assertEqual(['tgz', 'tgz'], self.exported())
        self.assert_nothing_left(output=['disk.tgz', 'disk.vhd'])

    def test_pool_member_redirects_to_master(self):
        pool = self.simulator(members=1)
        rc, out, err = self.convert(sim=pool,
                                    hosts='xs:%s' % pool.hosts[1].url)
        self.assertEqual(0, rc, err)
        self.assert_converted()
        self.assert_nothing_left(pool, output=['disk.tgz'])

    def test_local_sr_of_a_member(self):
        # The master answers import_raw_vdi with 302 to the member, and
        # the plugin must run in the member's dom0, where the SR is.
        pool = self.simulator(members=1, sr_host=1)
        rc, out, err = self.convert(sim=pool)
        self.assertEqual(0, rc, err)
        self.assertEqual(1, len(pool.redirects))
        self.assert_converted()
        self.assert_nothing_left(pool, output=['disk.tgz'])

    def test_host_with_most_free_sr_space_converts(self):
        roomy = self.simulator(sr_size=512 * GiB)
        rc, out, err = self.convert(hosts='xs-small:%s,xs-roomy:%s' % (
            self.sim.url, roomy.url))
        self.assertEqual(0, rc, err)
        self.assertIn('VDI.create', roomy.calls)
        self.assertNotIn('VDI.create', self.sim.calls)
        self.assertEqual([], self.sim.leftovers())
        self.assert_nothing_left(roomy, output=['disk.tgz'])

    def test_orphaned_vdis_of_dead_conversions_are_destroyed(self):
        old = str(int(time.time()) - 3 * 24 * 3600)
        orphan, _ = self.sim.add_vdi(4 * MiB, {
            'xenimage_import': 'conversion',
            'xenimage_import_created': old})
        running, _ = self.sim.add_vdi(4 * MiB, {
            'xenimage_import': 'conversion',
            'xenimage_import_created': str(int(time.time()))})
        other, _ = self.sim.add_vdi(4 * MiB, {})
        rc, out, err = self.convert()
        self.assertEqual(0, rc, err)
        self.assertEqual({running, other}, set(self.sim.vdis))

    def test_bad_credentials(self):
        self.assert_refused(self.convert(password='wrong'),
                            'refused the credentials of user root')

    def test_unreachable_host(self):
        self.assert_refused(self.convert(hosts='xs-sim:http://127.0.0.1:9'),
                            'cannot reach XAPI')

    def test_sr_that_is_not_a_file_sr(self):
        self.sim = self.simulator(sr_type='lvm')
        self.assert_refused(self.convert(), 'is of type lvm',
                            'needs a file SR')

    def test_unknown_sr_uuid(self):
        self.assert_refused(
            self.convert(sr_uuid='6d3d4a9e-0000-4000-8000-000000000000'),
            'no SR with uuid')

    def test_sr_full(self):
        # A thin SR never says SR_FULL at VDI.create: refused before it.
        self.sim = self.simulator(sr_size=16 * MiB)
        self.assert_refused(self.convert(), 'has 16.0 MiB free',
                            'plus a margin of 1.0 GiB (sr_free_space_margin)')
        self.assertNotIn('VDI.create', self.sim.calls)

    def test_sr_free_space_margin(self):
        self.sim = self.simulator(sr_size=GiB)
        self.assert_refused(self.convert(), 'sr_free_space_margin')
        rc, out, err = self.convert(sr_free_space_margin=0)
        self.assertEqual(0, rc, err)
        self.assert_converted()

    def test_sr_preferring_qcow2_still_gets_a_vhd(self):
        self.sim = self.simulator(default_image_format='qcow2')
        rc, out, err = self.convert()
        self.assertEqual(0, rc, err)
        self.assert_converted()

    def test_qcow2_vdi_is_refused_by_the_plugin_with_what_it_found(self):
        self.sim = self.simulator(default_image_format='qcow2')
        self.sim.faults['ignore_sm_config'] = True
        self.assert_refused(self.convert(), 'has no VHD file in its SR',
                            '.qcow2')

    def test_above_the_vhd_limit_refused_before_any_xapi_call(self):
        conf = xconvert._config([write_conf(
            os.path.join(self.dir, 'xenserver.conf'), self.sim)])
        source = inspect.SourceImage(
            path=self.qcow2, format='qcow2', virtual_size=L.MAX_VHD_SIZE + 1,
            file_size=os.path.getsize(self.qcow2), detected='qcow2')
        helper = helpers.load('xenserver', conf=conf)
        error = self.assertRaises(
            exception.ImageTooLarge, helper.convert, helpers.ConversionRequest(
                source=source, destination=os.path.join(self.out_dir, 'x')))
        self.assertIn('the VHD SR limit', str(error))
        self.assertEqual([], self.sim.calls)
        self.assert_nothing_left()

    def test_import_task_failure(self):
        self.sim.faults['corrupt_upload'] = True
        self.assert_refused(self.convert(),
                            'could not write the image into the VDI')

    def test_plugin_not_installed(self):
        self.sim.remove_plugin()
        self.assert_refused(self.convert(), 'xenimage_helper is not '
                            'installed', 'xenimage-dom0-plugin script')

    def test_plugin_of_another_major_version(self):
        path = os.path.join(self.sim.master.plugins_dir, dom0.PLUGIN_NAME)
        with open(path) as f:
            text = f.read()
        with open(path, 'w') as f:
            f.write(text.replace("VERSION = '%s'" % dom0.plugin_version(),
                                 "VERSION = '0.9'"))
        self.assert_refused(self.convert(), 'is version 0.9',
                            'reinstall it with xenimage-dom0-plugin')

    def test_plugin_refuses_a_damaged_sr_file(self):
        self.sim.faults['damage_sr_file'] = True
        self.assert_refused(self.convert(), 'dom0 plugin refused',
                            'vhd-util check')

    def test_plugin_refuses_an_attached_vdi(self):
        self.sim.faults['attached'] = True
        self.assert_refused(self.convert(), 'dom0 plugin refused',
                            'is attached')

    def test_receiver_timeout_gives_up_the_export(self):
        self.sim.faults['plugin_delay'] = 30
        start = time.monotonic()
        self.assert_refused(self.convert(receiver_timeout=1),
                            'sent nothing to https://127.0.0.1:',
                            'within 1 s')
        # Not held up by a cancel that xapi never carries out.
        self.assertLess(time.monotonic() - start, 25)
        self.assertEqual(['Async.host.call_plugin'], self.sim.cancels)

    def test_a_given_up_plugin_ends_by_itself(self):
        # task.cancel leaves the plugin running: it must end on its own,
        # on the receiver the driver closed, and its task then goes away.
        self.sim.faults['plugin_delay'] = 4
        self.assert_refused(self.convert(receiver_timeout=1),
                            'within 1 s')
        self.assertEqual(1, len(self.sim.tasks))
        deadline = time.monotonic() + 60
        while self.sim.tasks and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual({}, self.sim.tasks)

    def test_unreachable_receiver_fails_in_seconds_before_any_vdi(self):
        # dom0 is told an address where nothing listens (the receiver is
        # bound to 127.0.0.1 only): the probe says so before VDI.create.
        start = time.monotonic()
        self.assert_refused(self.convert(receiver_address='127.0.0.2'),
                            'cannot reach 127.0.0.2', 'dom0 must reach',
                            'receiver_port_range')
        self.assertLess(time.monotonic() - start, 20)
        self.assertIn('host.call_plugin', self.sim.calls)
        self.assertNotIn('VDI.create', self.sim.calls)

    def test_wrong_token_is_refused_by_the_receiver(self):
        self.sim.faults['token'] = 'not-the-token'
        self.assert_refused(self.convert(), 'receiver answered 403')

    def test_sha256_mismatch_discards_the_upload(self):
        self.sim.faults['summary_sha256'] = '0' * 64
        self.assert_refused(self.convert(), 'is not what dom0 sent',
                            'discarded')

    def test_no_host_configured(self):
        rc, out, err = self.convert(hosts='')
        self.assertEqual(1, rc)
        self.assertIn('no XenServer host is configured', err)


class XenServerHelperTlsTest(XenServerHelperBase):
    """XAPI over HTTPS, as real hosts serve it."""

    sim_options = {'tls': True}

    def test_certificate_verified_with_ca_file(self):
        rc, out, err = self.convert(ca_file=self.sim.ca_file)
        self.assertEqual(0, rc, err)
        self.assert_converted()
        self.assert_nothing_left(output=['disk.tgz'])

    def test_unknown_certificate_is_refused(self):
        self.assert_refused(self.convert(),
                            'XenServer host 127.0.0.1: its certificate is not '
                            'trusted (self-signed certificate)')

    def test_insecure_skips_verification(self):
        rc, out, err = self.convert(insecure='true')
        self.assertEqual(0, rc, err)
        self.assert_converted()

    def test_local_sr_of_a_member_over_https(self):
        pool = self.simulator(members=1, sr_host=1)
        rc, out, err = self.convert(sim=pool, ca_file=pool.ca_file)
        self.assertEqual(0, rc, err)
        self.assertEqual(1, len(pool.redirects))
        # As xapi builds it: https, the member's address, no port.
        self.assertTrue(pool.redirects[0].startswith(
            'https://%s/import_raw_vdi?' % pool.hosts[1].address))
        self.assert_converted()
        self.assert_nothing_left(pool, output=['disk.tgz'])

    def _pool_pins(self, pool, **replace):
        pins = dict(pool.fingerprints, **replace)
        return ','.join('%s:sha256:%s' % (address, fp)
                        for address, fp in sorted(pins.items()))

    def test_each_host_trusted_by_its_own_pin(self):
        # Configured: the member; it answers HOST_IS_SLAVE (to the master)
        # and the master redirects the import to the member's local SR:
        # three connections, two certificates, each pinned.
        pool = self.simulator(members=1, sr_host=1)
        self.assertNotEqual(*pool.fingerprints.values())
        member = pool.hosts[1]
        colons = ':'.join(pool.fingerprints[member.address][i:i + 2].upper()
                          for i in range(0, 64, 2))
        rc, out, err = self.convert(
            sim=pool, hosts='xs:%s' % member.url,
            host_certificates=self._pool_pins(
                pool, **{member.address: colons}))
        self.assertEqual(0, rc, err)
        self.assertEqual(1, len(pool.redirects))
        self.assert_converted()
        self.assert_nothing_left(pool, output=['disk.tgz'])

    def test_wrong_pin_of_the_member_refuses_the_import(self):
        pool = self.simulator(members=1, sr_host=1)
        master, member = pool.hosts
        pins = self._pool_pins(pool, **{
            member.address: pool.fingerprints[master.address]})
        self.assert_refused(
            self.convert(sim=pool, host_certificates=pins),
            'XenServer host %s: certificate sha256:%s is not the one pinned'
            % (member.address, pool.fingerprints[member.address]),
            sim=pool)
        self.assertEqual(1, len(pool.redirects))

    def test_pins_override_a_ca_file_that_does_not_vouch(self):
        pool = self.simulator(members=1, sr_host=1)
        other = self.simulator()
        rc, out, err = self.convert(sim=pool, ca_file=other.ca_file,
                                    host_certificates=self._pool_pins(pool))
        self.assertEqual(0, rc, err)
        self.assert_converted()

    def test_member_without_trust_is_named(self):
        pool = self.simulator(members=1, sr_host=1)
        master, member = pool.hosts
        self.assert_refused(
            self.convert(sim=pool, host_certificates='%s:sha256:%s' % (
                master.address, pool.fingerprints[master.address])),
            'XenServer host %s: its certificate is not trusted'
            % member.address,
            'host_certificates as %s:sha256:' % member.address, sim=pool)

    def test_per_host_ca_file(self):
        pool = self.simulator(members=1, sr_host=1)
        rc, out, err = self.convert(sim=pool, host_certificates=','.join(
            '%s:%s' % (host.address, pool.ca_file) for host in pool.hosts))
        self.assertEqual(0, rc, err)
        self.assert_converted()

    def test_malformed_entry_is_refused_without_its_value(self):
        self.assert_refused(
            self.convert(host_certificates='127.0.0.1:%s' % os.path.join(
                self.dir, 'missing.pem')),
            'host_certificates entry for 127.0.0.1 is neither')
        rc, out, err = self.convert(host_certificates='127.0.0.1:sha256:ab')
        self.assertIn('not a sha256: fingerprint of 32 bytes', err)
        self.assertNotIn(self.dir, err)


@testtools.skipUnless(stunnel.BINARY, 'stunnel4 is not installed '
                      '(bindep.txt: stunnel4 [functional])')
class StunnelTest(XenServerHelperBase):
    """XAPI behind Debian's stunnel, as a real host serves port 443."""

    def test_conversion_through_stunnel(self):
        d = tempfile.mkdtemp(dir=self.dir)
        front = stunnel.Stunnel(d, self.sim.port)
        self.addCleanup(front.stop)
        rc, out, err = self.convert(
            hosts='xs-sim:%s' % front.url,
            host_certificates='127.0.0.1:sha256:%s' % front.fingerprint)
        self.assertEqual(0, rc, err)
        self.assert_converted()
        self.assert_nothing_left(output=['disk.tgz'])
        # Every connection ended cleanly (no TLS error, no reset), and one
        # carried the whole VHD to xapi.
        with open(front.log) as f:
            log = f.read()
        self.assertNotIn('LOG3[', log.replace('LOG3[ui]: No trusted', ''))
        self.assertNotIn('reset', log)
        carried = [int(line.split(', ')[1].split()[0])
                   for line in log.splitlines()
                   if 'Connection closed:' in line]
        body = os.path.getsize(images.tap_vhd(self.raw, os.path.join(
            self.dir, 'body.vhd')))
        self.assertGreaterEqual(max(carried), body, log)


class PreflightTest(XenServerHelperBase):
    """``xenimage-convert --helper xenserver --preflight``: every host."""

    sim_options = {'tls': True}

    def preflight(self, sim=None, **options):
        conf = write_conf(os.path.join(self.dir, 'xenserver.conf'),
                          sim or self.sim, **options)
        rc, out, err = base.cli('convert', '--helper', 'xenserver',
                                '--config-file', conf, '--preflight',
                                '--json')
        verdicts = json.loads(out)['hosts']
        statuses = {v['host']: {c['name']: c['status'] for c in v['checks']}
                    for v in verdicts}
        details = {v['host']: {c['name']: c['detail'] for c in v['checks']}
                   for v in verdicts}
        return rc, statuses, details

    def pins(self, *sims):
        return ','.join('%s:sha256:%s' % item for sim in sims
                        for item in sorted(sim.fingerprints.items()))

    def test_ready_pool_and_a_host_that_is_not(self):
        pool = self.simulator(members=1, sr_host=1)
        rc, statuses, details = self.preflight(
            sim=pool, host_certificates=self.pins(pool, self.sim),
            hosts='pool:%s,single:%s,gone:https://127.0.0.1:1/'
            % (pool.url, self.sim.url))
        self.assertEqual(1, rc)
        for name in ('pool', 'single'):
            self.assertEqual({'ok'}, set(statuses[name].values()),
                             details[name])
        self.assertIn('certificate of %s (it serves the SR) trusted'
                      % pool.hosts[1].address, details['pool']['trust'])
        self.assertEqual(['FAILED'] + ['skipped'] * 5,
                         list(statuses['gone'].values()))
        self.assertIn('cannot reach XAPI', details['gone']['xapi'])
        # Nothing was made on the hosts (probe included).
        self.assertEqual([], pool.leftovers())
        self.assertEqual([], self.sim.leftovers())
        self.assertNotIn('VDI.create', pool.calls)
        self.assertIn('host.call_plugin', pool.calls)

    def test_text_verdict_per_host(self):
        conf = write_conf(os.path.join(self.dir, 'xenserver.conf'),
                          self.sim, host_certificates=self.pins(self.sim))
        rc, out, err = base.cli('convert', '--helper', 'xenserver',
                                '--config-file', conf, '--preflight')
        self.assertEqual(0, rc, out + err)
        self.assertIn('xs-sim (%s)' % self.sim.url, out)
        self.assertIn('verdict: ready', out)
        self.assertTrue(out.rstrip().endswith('1 of 1 host(s) ready'), out)

    def test_each_failure_is_named(self):
        pool = self.simulator(members=1, sr_host=1)
        master, member = pool.hosts
        wrong = self.pins(pool).replace(
            pool.fingerprints[member.address],
            pool.fingerprints[master.address])
        rc, statuses, details = self.preflight(sim=pool,
                                               host_certificates=wrong)
        self.assertEqual(1, rc)
        self.assertEqual('FAILED', statuses['xs-sim']['trust'])
        self.assertIn('is not the one pinned', details['xs-sim']['trust'])

        pool.sr['physical_size'] = str(512 * MiB)
        pool.remove_plugin()
        rc, statuses, details = self.preflight(
            sim=pool, host_certificates=self.pins(pool))
        self.assertEqual(('FAILED', 'FAILED', 'skipped'), (
            statuses['xs-sim']['space'], statuses['xs-sim']['plugin'],
            statuses['xs-sim']['receiver']))
        self.assertIn('512.0 MiB free', details['xs-sim']['space'])
        self.assertIn('not installed', details['xs-sim']['plugin'])

    def test_receiver_dom0_cannot_reach(self):
        rc, statuses, details = self.preflight(
            host_certificates=self.pins(self.sim),
            receiver_address='127.0.0.2')
        self.assertEqual(1, rc)
        self.assertEqual('FAILED', statuses['xs-sim']['receiver'])
        self.assertIn('dom0 must reach https://127.0.0.2:',
                      details['xs-sim']['receiver'])
        self.assertEqual([], self.sim.leftovers())

    def test_sr_that_is_not_a_file_sr(self):
        self.sim.sr['type'] = 'lvm'
        rc, statuses, details = self.preflight(
            host_certificates=self.pins(self.sim))
        self.assertEqual(['ok', 'FAILED'] + ['skipped'] * 4,
                         list(statuses['xs-sim'].values()))
        self.assertIn('is of type lvm', details['xs-sim']['sr'])

    def test_local_helper_has_none(self):
        rc, out, err = base.cli('convert', '--preflight')
        self.assertEqual(1, rc)
        self.assertEqual('convert.py: error: helper local has no pre-flight '
                         'checks', err.strip())

    def test_preflight_takes_no_paths(self):
        rc, out, err = base.cli('convert', '--preflight', 'a.qcow2', 'b.tgz')
        self.assertEqual(2, rc)
        self.assertIn('--preflight takes no SOURCE or DEST', err)


class _InterpreterMixin(object):
    """The dom0 plugin under one of dom0's interpreters."""

    def test_converts(self):
        rc, out, err = self.convert()
        self.assertEqual(0, rc, err)
        self.assert_converted()
        self.assert_nothing_left(output=['disk.tgz'])

    def test_refusal_reaches_the_driver(self):
        self.sim.faults['token'] = 'not-the-token'
        self.assert_refused(self.convert(), 'receiver answered 403')


def _interpreter_tests():
    found = xapisim.dom0_pythons()
    for label in ('python2.7', 'python3.6'):
        name = 'Dom0%sTest' % label.replace('python', 'Python').replace(
            '.', '')
        attrs = {'python': found.get(label)}
        if label not in found:
            attrs['setUp'] = lambda self, label=label: self.skipTest(
                '%s is not installed here' % label)
        globals()[name] = type(name, (_InterpreterMixin,
                                      XenServerHelperBase), attrs)


_interpreter_tests()
