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

"""``xenimage-convert --helper xenserver --preflight``: every host.

On the XAPI simulator (tests/functional/xenserver_base.py).
"""

import json
import os

from lab import images
from tests.functional import base
from tests.functional import xenserver_base as xsbase

MiB = images.MiB
GiB = images.GiB


class PreflightTest(xsbase.XenServerHelperBase):
    """``xenimage-convert --helper xenserver --preflight``: every host."""

    sim_options = {'tls': True}

    def preflight(self, sim=None, **options):
        conf = xsbase.write_conf(os.path.join(self.dir, 'xenserver.conf'),
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
        conf = xsbase.write_conf(os.path.join(self.dir, 'xenserver.conf'),
                                 self.sim,
                                 host_certificates=self.pins(self.sim))
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
        # What to do about it: the SR's VDIs, another SR, or the margin.
        for fix in ('xe vdi-list sr-uuid=', 'sr_uuid',
                    'sr_free_space_margin'):
            self.assertIn(fix, details['xs-sim']['space'])
        self.assertIn('not installed', details['xs-sim']['plugin'])

    def test_sweeps_what_killed_conversions_left(self):
        # The same sweep as a conversion's start: only VDIs of ours older
        # than any conversion may last.
        kept = self.add_vdis_of_other_conversions()
        rc, statuses, details = self.preflight(
            host_certificates=self.pins(self.sim))
        self.assertEqual(0, rc, details)
        self.assertEqual(kept, set(self.sim.vdis))
        self.assertIn('destroyed 1 VDI(s) left by conversions that were '
                      'killed', details['xs-sim']['space'])

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
