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

from lab import images
from lab.xapisim import server
from tests.functional import base
from xenimage_import.vhd import layout as L

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

    def sr_file(self, vdi):
        return os.path.join(self.sim.sr_dir, self.session.call(
            'VDI.get_uuid', vdi) + '.vhd')

    def test_any_creator_in_stream_order_is_imported(self):
        # vhd-tool does not look at the creator: qemu-img's VHD lands too,
        # and the SR file is tapdisk's, whatever the upload's layout was.
        raw = os.path.join(self.dir, 'disk.raw')
        qemu_vhd = images.qemu_convert(raw, os.path.join(
            self.dir, 'qemu.vhd'), 'vpc')
        vdi, task = self.vdi(), self.task()
        vdi_import.upload_vhd(self.session, vdi, task, qemu_vhd)
        self.assertEqual(('success', []), self.status(task))
        same, message = images.qemu_compare(self.sr_file(vdi), 'vpc', raw,
                                            'raw')
        self.assertTrue(same, message)
        rc, out, err = base.cli('check', self.sr_file(vdi))
        self.assertEqual(0, rc, out + err)

    def test_larger_virtual_size_whose_data_fits_is_imported(self):
        raw = images.make_sparse(os.path.join(self.dir, 'big.raw'),
                                 32 * MiB, [(MiB, 4096)])
        big = images.tap_vhd(raw, os.path.join(self.dir, 'big.vhd'))
        vdi, task = self.vdi(size=4 * MiB), self.task()
        vdi_import.upload_vhd(self.session, vdi, task, big)
        self.assertEqual(('success', []), self.status(task))
        # The SR file keeps the VDI's 4 MiB and holds the data (qemu-img
        # compare reads the rest of the larger image as zeros).
        same, message = images.qemu_compare(self.sr_file(vdi), 'vpc', raw,
                                            'raw')
        self.assertTrue(same, message)
        with open(self.sr_file(vdi), 'rb') as f:
            f.seek(-L.FOOTER_SIZE, os.SEEK_END)
            footer = L.FOOTER.unpack(f.read())
        self.assertEqual(4 * MiB, footer.current_size)

    def test_vhd_out_of_stream_order_fails_the_task(self):
        # The BAT moved behind the data: a reader that goes front to back
        # (vhd-tool on a socket) has passed the blocks when it learns of
        # them.
        with open(self.vhd, 'rb') as f:
            data = bytearray(f.read())
        header = L.DYNAMIC_HEADER.unpack(data[512:1536])
        bat = data[header.table_offset:header.table_offset + 512]
        new_offset = len(data) - 512
        data[new_offset:new_offset] = bat
        data[512:1536] = L.pack_with_checksum(
            L.DYNAMIC_HEADER, header._replace(table_offset=new_offset))
        moved = os.path.join(self.dir, 'moved.vhd')
        with open(moved, 'wb') as f:
            f.write(data)
        vdi, task = self.vdi(), self.task()
        vdi_import.upload_vhd(self.session, vdi, task, moved)
        self.assertEqual(('failure', ['VDI_IO_ERROR', 'Device I/O errors']),
                         self.status(task))
        self.assertIn('behind the stream position',
                      self.sim.import_errors[-1])

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
