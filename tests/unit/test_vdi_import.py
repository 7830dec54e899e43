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

"""``PUT /import_raw_vdi``: the client, and the simulator's answers.

The simulator answers as import_raw_vdi.ml does (401, 404 for chunked VHD
or an unknown format, 400 without a VDI, 200 before the body with the
outcome in the task); these tests hold both sides to that.
"""

import http.client
import os
import shutil
import tempfile
import urllib.parse

import testtools

from xenimage_import import exception
from xenimage_import.helpers.xenserver import vdi_import
from xenimage_import.helpers.xenserver import xapi

from tests import images
from tests.xapisim import server

MiB = images.MiB


class ImportRawVdiTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-import-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.sim = server.XapiSimulator(os.path.join(self.dir, 'sim'))
        self.sim.start()
        self.addCleanup(self.sim.stop)
        self.session = xapi.XapiSession(self.sim.url, 'root',
                                        self.sim.password, timeout=10)
        self.session.login()
        self.addCleanup(self.session.logout)
        raw = images.make_sparse(os.path.join(self.dir, 'disk.raw'),
                                 8 * MiB, [(MiB, 4096), (5 * MiB, 3 * MiB)])
        self.vhd = images.tap_vhd(raw, os.path.join(self.dir, 'disk.vhd'))

    def vdi(self, size=8 * MiB):
        return self.session.call('VDI.create', {
            'SR': self.sim.sr_ref, 'virtual_size': str(size),
            'type': 'user', 'name_label': 'test'})

    def task(self):
        return self.session.call('task.create', 'import', '')

    def status(self, task):
        return (self.session.call('task.get_status', task),
                self.session.call('task.get_error_info', task))

    def put(self, query, headers=None, body=b''):
        conn = http.client.HTTPConnection('127.0.0.1', self.sim.port,
                                          timeout=10)
        self.addCleanup(conn.close)
        conn.request('PUT', '/import_raw_vdi?' + urllib.parse.urlencode(
            query), body=body, headers=headers or {})
        return conn.getresponse().status

    def test_vhd_lands_in_the_vdi_and_the_task_says_so(self):
        vdi, task = self.vdi(), self.task()
        vdi_import.upload_vhd(self.session, vdi, task, self.vhd)
        self.assertEqual(('success', []), self.status(task))
        self.assertEqual(vdi, xapi.task_value(self.session.call(
            'task.get_result', task)))
        sr_file = os.path.join(self.sim.sr_dir, self.session.call(
            'VDI.get_uuid', vdi) + '.vhd')
        same, message = images.qemu_compare(sr_file, 'vpc', self.vhd, 'vpc')
        self.assertTrue(same, message)

    def test_garbled_vhd_fails_the_task_after_a_200(self):
        vdi, task = self.vdi(), self.task()
        self.sim.faults['corrupt_upload'] = True
        vdi_import.upload_vhd(self.session, vdi, task, self.vhd)
        self.assertEqual(('failure', ['VDI_IO_ERROR', 'Device I/O errors']),
                         self.status(task))

    def test_vdi_smaller_than_the_vhd_fails_the_task(self):
        vdi, task = self.vdi(size=4 * MiB), self.task()
        vdi_import.upload_vhd(self.session, vdi, task, self.vhd)
        self.assertEqual('failure', self.status(task)[0])
        self.assertEqual('VDI_IO_ERROR', self.status(task)[1][0])

    def test_invalid_session_is_401(self):
        vdi, task = self.vdi(), self.task()
        self.assertEqual(401, self.put({'session_id': 'OpaqueRef:forged',
                                        'vdi': vdi, 'format': 'vhd'}))
        self.session._session._session = 'OpaqueRef:forged'
        e = self.assertRaises(exception.ConversionFailed,
                              vdi_import.upload_vhd, self.session, vdi, task,
                              self.vhd)
        self.assertIn('the session was refused (401)', str(e))

    def test_chunked_vhd_and_unknown_format_are_404(self):
        vdi, task = self.vdi(), self.task()
        query = {'session_id': self.session.handle, 'vdi': vdi,
                 'format': 'vhd', 'task_id': task}
        self.assertEqual(404, self.put(query, {
            'Transfer-Encoding': 'chunked'}, body=iter([b'x'])))
        self.assertEqual(('failure', ['INTERNAL_ERROR',
                                      'Cannot handle chunked VHD']),
                         self.status(task))
        self.assertEqual(404, self.put(dict(query, format='vmdk')))

    def test_no_vdi_is_400(self):
        self.assertEqual(400, self.put({'session_id': self.session.handle,
                                        'format': 'vhd'}))
