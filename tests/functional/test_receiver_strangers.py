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

"""The receiver belongs to dom0's PUT, whoever else reaches its port.

A real receiver over real TLS on loopback. Strangers connect and idle,
drip their headers a byte at a time, open and drop connections as fast
as they can, send garbage or guess the token, while "dom0" (this test,
with the token) uploads: its PUT must complete, at close to the speed it
has alone, and nothing a stranger does ends the receiver. The timing
bounds are generous (a loaded 2-core machine); the figures are printed.
"""

import http.client
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time

import testtools

from xenimage_import.helpers.xenserver import receiver
from xenimage_import.helpers.xenserver import tls

PORTS = (19500, 19599)
UPLOAD = 256 * 1024 * 1024
CERT = tls.ServerCertificate.ephemeral('127.0.0.1')
_CHUNK = b'x' * (1024 * 1024)


def _context():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class StrangersTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-strangers-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.stop = threading.Event()
        self.addCleanup(self.stop.set)

    def receiver(self):
        rx = receiver.OneShotReceiver(self.dir, 'image.', '127.0.0.1',
                                      '127.0.0.1', PORTS, CERT, 2 * UPLOAD)
        self.addCleanup(rx.close)
        return rx

    def port(self, rx):
        return rx._listener.server_address[1]

    def upload(self, rx):
        """dom0's PUT; its seconds."""
        start = time.monotonic()
        conn = http.client.HTTPSConnection('127.0.0.1', self.port(rx),
                                           timeout=60, context=_context())
        self.addCleanup(conn.close)
        conn.request('PUT', rx.path, body=iter([_CHUNK] * (
            UPLOAD // len(_CHUNK))), encode_chunked=True,
            headers={'Authorization': 'Bearer ' + rx.token})
        self.assertEqual(201, conn.getresponse().status)
        self.assertEqual(UPLOAD, rx.result.size)
        return time.monotonic() - start

    def alone(self):
        return self.upload(self.receiver())

    def crowd(self, target, count=1):
        for _ in range(count):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self.addCleanup(thread.join, 15)

    def assert_at_speed(self, crowded, alone, what):
        print('%s: upload %.2f s among strangers, %.2f s alone'
              % (what, crowded, alone))
        self.assertLess(crowded, alone * 4 + 3, what)

    def test_idle_strangers_do_not_hold_the_port(self):
        # More idle connections than the receiver serves at once: the
        # oldest make room, and dom0 gets in.
        alone = self.alone()
        rx = self.receiver()
        idle = [socket.create_connection(('127.0.0.1', self.port(rx)))
                for _ in range(receiver.MAX_STRANGERS * 2)]
        for sock in idle:
            self.addCleanup(sock.close)
        self.assert_at_speed(self.upload(rx), alone, 'idle')

    def test_dripped_headers_are_cut_at_one_deadline(self):
        rx = self.receiver()
        sock = _context().wrap_socket(socket.create_connection(
            ('127.0.0.1', self.port(rx))))
        self.addCleanup(sock.close)
        start = time.monotonic()
        line = b'PUT %s HTTP/1.1\r\nAuthorization: Bearer ' % (
            rx.path.encode())
        try:
            for byte in line + b'x' * 1000:
                sock.sendall(bytes([byte]))
                time.sleep(0.2)
                self.assertLess(time.monotonic() - start,
                                receiver.HEADER_SECONDS + 5)
        except OSError:
            pass
        cut = time.monotonic() - start
        print('dripping client cut after %.1f s' % cut)
        self.assertGreater(cut, receiver.HEADER_SECONDS - 1)
        self.assertFalse(rx.finished)

    def test_a_flood_of_connections_and_garbage(self):
        alone = self.alone()
        rx = self.receiver()
        address = ('127.0.0.1', self.port(rx))
        opened = [0]

        def connect_and_drop():
            while not self.stop.is_set():
                try:
                    socket.create_connection(address, timeout=2).close()
                    opened[0] += 1
                except OSError:
                    pass

        def garbage():
            while not self.stop.is_set():
                try:
                    with socket.create_connection(address, timeout=2) as s:
                        s.sendall(os.urandom(4096))
                except OSError:
                    pass

        def guesses():
            while not self.stop.is_set():
                try:
                    conn = http.client.HTTPSConnection(
                        *address, timeout=5, context=_context())
                    conn.request('PUT', rx.path, body=b'x',
                                 headers={'Authorization': 'Bearer guess'})
                    conn.getresponse().read()
                    conn.close()
                except (OSError, http.client.HTTPException):
                    pass

        self.crowd(connect_and_drop, 2)
        self.crowd(garbage)
        self.crowd(guesses)
        time.sleep(0.5)
        crowded = self.upload(rx)
        self.stop.set()
        print('flood: %d connections opened and dropped, %d guesses '
              'refused' % (opened[0], rx.refused))
        self.assertGreater(rx.refused, 0)
        self.assert_at_speed(crowded, alone, 'flood')
