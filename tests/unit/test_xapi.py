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

"""XAPI errors in words, task results, the XAPI session over the wire.

The session tests talk XML-RPC to the XAPI simulator (lab/xapisim).
"""

import shutil
import tempfile

import fixtures
import testtools

from xenimage_import import exception
from xenimage_import.helpers.xenserver import xapi

from lab.xapisim import server


class XapiErrorTest(testtools.TestCase):

    def test_known_codes_say_what_to_do(self):
        e = xapi.XapiError(['SR_FULL', '1073741824', '1024'], 'xs-01')
        self.assertEqual('XenServer (host xs-01): the SR has no room for the '
                         'image (1073741824 bytes requested, 1024 available); '
                         'free space or set another sr_uuid', str(e))
        self.assertEqual(('SR_FULL', ['1073741824', '1024']),
                         (e.code, e.params))

    def test_plugin_refusals_carry_their_message(self):
        e = xapi.XapiError(['XENIMAGE_VDI_IN_USE', 'VDI x is attached'])
        self.assertEqual('XenServer: the dom0 plugin refused the export: '
                         'VDI x is attached', str(e))

    def test_unknown_codes_and_missing_params_still_read(self):
        self.assertEqual('XenServer: OTHER_ERROR a b',
                         str(xapi.XapiError(['OTHER_ERROR', 'a', 'b'])))
        self.assertIn('SR_FULL', str(xapi.XapiError(['SR_FULL'])))
        self.assertIn('UNKNOWN_ERROR', str(xapi.XapiError([])))

    def test_task_value(self):
        self.assertEqual('{"a": "<b>"}',
                         xapi.task_value('<value>{"a": "&lt;b&gt;"}</value>'))
        self.assertEqual('OpaqueRef:1',
                         xapi.task_value('<value>OpaqueRef:1</value>'))
        self.assertEqual('plain', xapi.task_value('plain'))

    def test_pool_master_url_keeps_scheme_and_port(self):
        self.assertEqual('https://10.0.0.1:8443/',
                         xapi._with_host('https://xs-02:8443/', '10.0.0.1'))
        self.assertEqual('https://[fd00::1]',
                         xapi._with_host('https://xs-02', 'fd00::1'))


class XapiSessionTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        base = tempfile.mkdtemp(prefix='xenimage-xapi-')
        self.addCleanup(shutil.rmtree, base, True)
        self.sim = server.XapiSimulator(base).start()
        self.addCleanup(self.sim.stop)

    def session(self, password=None):
        return xapi.XapiSession(self.sim.url, 'root',
                                password or self.sim.password, name='sim',
                                timeout=5)

    def test_login_call_logout(self):
        with self.session() as s:
            self.assertEqual(1, len(self.sim.sessions))
            self.assertEqual(self.sim.sr_uuid, s.call(
                'SR.get_record', s.call('SR.get_by_uuid',
                                        self.sim.sr_uuid))['uuid'])
        self.assertEqual(set(), self.sim.sessions)

    def test_integers_travel_as_strings(self):
        with self.session() as s:
            record = s.call('SR.get_record', self.sim.sr_ref)
        self.assertIsInstance(record['physical_size'], str)

    def test_failure_becomes_xapi_error(self):
        with self.session() as s:
            e = self.assertRaises(xapi.XapiError, s.call, 'VDI.get_uuid',
                                  'OpaqueRef:nope')
        self.assertEqual(('HANDLE_INVALID', ['VDI', 'OpaqueRef:nope']),
                         (e.code, e.params))

    def test_bad_password(self):
        e = self.assertRaises(xapi.XapiError, self.session('x').login)
        self.assertEqual('SESSION_AUTHENTICATION_FAILED', e.code)

    def test_task_failure_and_timeout(self):
        # A client-made task never leaves 'cancelling'; do not wait 10 s.
        self.useFixture(fixtures.MockPatchObject(xapi, '_CANCEL_WAIT', 0.5))
        with self.session() as s:
            task = s.call('task.create', 'label', 'description')
            e = self.assertRaises(exception.ConversionFailed, s.wait_task,
                                  task, 0.3, 'the test task')
            self.assertIn('did not finish within', str(e))
            self.assertEqual('cancelling',
                             s.call('task.get_status', task))
            self.sim.tasks[task].fail('VDI_IO_ERROR', 'Device I/O errors')
            e = self.assertRaises(xapi.XapiError, s.wait_task, task, 5,
                                  'the test task')
            self.assertIn('could not write the image into the VDI', str(e))
            s.destroy_task(task)
        self.assertEqual([], self.sim.leftovers())

    def test_an_interrupted_wait_cancels_the_task(self):
        self.useFixture(fixtures.MockPatchObject(xapi, '_CANCEL_WAIT', 0.5))

        def interrupt():
            raise KeyboardInterrupt()

        with self.session() as s:
            task = s.call('task.create', 'label', 'description')
            self.assertRaises(KeyboardInterrupt, s.wait_task, task, 60,
                              'the test task', stop=interrupt)
            self.assertEqual('cancelling', s.call('task.get_status', task))
            self.sim.tasks[task].fail('CANCELLED')
            s.destroy_task(task)
        self.assertEqual([], self.sim.leftovers())
