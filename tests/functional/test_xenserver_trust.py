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

"""The xenserver helper's TLS: CA files, pins per host, stunnel.

On the XAPI simulator (tests/functional/xenserver_base.py).
"""

import os
import tempfile

import testtools

from lab import images
from lab.xapisim import stunnel
from tests.functional import xenserver_base as xsbase
from xenimage_import.helpers.xenserver import trust

MiB = images.MiB
GiB = images.GiB


class XenServerHelperTlsTest(xsbase.XenServerHelperBase):
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
            % (member.address, trust.shown(pool.fingerprints[member.address])),
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
class StunnelTest(xsbase.XenServerHelperBase):
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
