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

"""The one-shot HTTPS receiver, over real TLS on 127.0.0.1."""

import hashlib
import http.client
import json
import os
import shutil
import socket
import ssl
import tempfile
import time

import testtools

from xenimage_import import exception
from xenimage_import.helpers.xenserver import receiver
from xenimage_import.helpers.xenserver import tls

PORTS = (19400, 19499)
CAP = 1024 * 1024
CERT = tls.ServerCertificate.ephemeral('127.0.0.1')


def ssl_socket(rx):
    """A TLS socket to ``rx``, certificate unchecked (tests only)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    port = int(rx.url.split(':')[2].split('/')[0])
    sock = context.wrap_socket(socket.create_connection(('127.0.0.1', port),
                                                        timeout=10))
    return sock


class ReceiverTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-rx-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.rx = self.receiver()

    def receiver(self, ports=PORTS):
        rx = receiver.OneShotReceiver(self.dir, 'image.', '127.0.0.1',
                                      '127.0.0.1', ports, CERT, CAP)
        self.addCleanup(rx.close)
        return rx

    def connect(self, rx=None):
        rx = rx or self.rx
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        port = int(rx.url.split(':')[2].split('/')[0])
        conn = http.client.HTTPSConnection('127.0.0.1', port, timeout=10,
                                           context=context)
        self.addCleanup(conn.close)
        return conn

    def put(self, body, token=None, chunked=False, path=None, method='PUT',
            rx=None):
        rx = rx or self.rx
        conn = self.connect(rx)
        headers = {'Authorization': 'Bearer %s' % (token or rx.token)}
        conn.request(method, path or rx.path, body=body,
                     headers=headers, encode_chunked=chunked)
        response = conn.getresponse()
        return response.status, response.read()

    def files(self):
        return sorted(os.listdir(self.dir))

    def test_url_is_https_on_the_advertised_address(self):
        self.assertTrue(self.rx.url.startswith('https://127.0.0.1:'))
        self.assertTrue(self.rx.url.endswith(self.rx.path))
        self.assertGreaterEqual(len(self.rx.token), 43)

    def test_upload_with_content_length(self):
        data = os.urandom(300000)
        status, body = self.put(data)
        self.assertEqual(201, status)
        self.assertEqual({'bytes': len(data),
                          'sha256': hashlib.sha256(data).hexdigest()},
                         json.loads(body))
        self.assertTrue(self.rx.wait(5))
        with open(self.rx.result.path, 'rb') as f:
            self.assertEqual(data, f.read())
        self.assertTrue(os.path.basename(self.rx.result.path).startswith(
            'image.'))

    def test_a_port_serves_again_as_soon_as_its_receiver_closed(self):
        # The receiver closes each connection first, so the port waits in
        # TIME-WAIT for a minute after every upload: one port must still
        # serve conversion after conversion, or the port range caps how
        # many run per minute.
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        for _ in range(3):
            rx = self.receiver(ports=(port, port))
            status, _ = self.put(b'data', rx=rx)
            self.assertEqual(201, status)
            self.assertTrue(rx.wait(5))
            rx.close()

    def test_two_receivers_never_share_a_port(self):
        port = int(self.rx.url.split(':')[2].split('/')[0])
        error = self.assertRaises(exception.ConversionFailed, self.receiver,
                                  ports=(port, port))
        self.assertIn('no free port', str(error))

    def test_chunked_upload(self):
        data = [os.urandom(70000) for _ in range(5)]
        status, _ = self.put(iter(data), chunked=True)
        self.assertEqual(201, status)
        with open(self.rx.result.path, 'rb') as f:
            self.assertEqual(b''.join(data), f.read())

    def test_wrong_token_is_refused_and_the_right_one_still_works(self):
        status, _ = self.put(b'x' * 1000, token='guess')
        self.assertEqual(403, status)
        self.assertEqual([], self.files())
        self.assertFalse(self.rx.started.is_set())
        status, _ = self.put(b'y' * 1000)
        self.assertEqual(201, status)

    def test_only_one_upload(self):
        self.assertEqual(201, self.put(b'first')[0])
        self.assertTrue(self.rx.wait(5))
        # Until it has closed its port (soon; later on a loaded machine) a
        # second upload is refused (409: the path is right, but taken);
        # then it cannot connect at all.
        deadline = time.monotonic() + 10
        while True:
            try:
                status, _ = self.put(b'second')
            except OSError:
                break
            self.assertEqual(409, status)
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)
        with open(self.rx.result.path, 'rb') as f:
            self.assertEqual(b'first', f.read())

    def test_declared_size_above_the_cap_is_refused_from_the_headers(self):
        conn = self.connect()
        conn.putrequest('PUT', self.rx.path)
        conn.putheader('Authorization', 'Bearer ' + self.rx.token)
        conn.putheader('Content-Length', str(CAP + 1))
        conn.endheaders()
        self.assertEqual(413, conn.getresponse().status)
        self.assertEqual([], self.files())

    def test_chunked_body_above_the_cap(self):
        chunks = iter([b'z' * 65536] * (CAP // 65536 + 2))
        try:
            status, _ = self.put(chunks, chunked=True)
            self.assertEqual(413, status)
        except (OSError, http.client.HTTPException):
            pass   # the receiver may close before the body is sent
        self.assertIsNone(self.rx.result)
        self.assertEqual([], self.files())

    def test_malformed_chunk_sizes_fail_the_upload(self):
        # int(x, 16) would take a sign, 0x or _; -1 would read to EOF.
        for size in (b'-1', b'+10', b'0x10', b'1_0'):
            rx = self.receiver()
            conn = self.connect(rx)
            conn.putrequest('PUT', rx.path)
            conn.putheader('Authorization', 'Bearer ' + rx.token)
            conn.putheader('Transfer-Encoding', 'chunked')
            conn.endheaders()
            conn.send(size + b'\r\n' + b'a' * 16 + b'\r\n0\r\n\r\n')
            self.assertTrue(rx.wait(5), size)
            self.assertIn('malformed chunk size', rx.failure)
            self.assertIsNone(rx.result, size)
            self.assertEqual([], self.files(), size)

    def test_other_methods_and_paths(self):
        self.assertEqual(405, self.put(None, method='GET')[0])
        self.assertEqual(404, self.put(b'x', path='/xenimage/other')[0])
        self.assertIsNone(self.rx.result)

    def test_a_wrong_path_is_answered_before_any_header(self):
        sock = ssl_socket(self.rx)
        sock.sendall(b'PUT /xenimage/guess HTTP/1.1\r\n')   # and no more
        self.assertIn(b' 404 ', sock.recv(4096))

    def test_strangers_never_end_the_receiver(self):
        for _ in range(20):
            self.assertEqual(403, self.put(b'x', token='guess')[0])
            self.assertEqual(404, self.put(b'x', path='/x')[0])
        self.assertFalse(self.rx.finished)
        self.assertEqual(201, self.put(b'data')[0])
        self.assertEqual(40, self.rx.refused)

    def test_close_removes_the_file_unless_kept(self):
        self.put(b'data')
        path = self.rx.result.path
        self.rx.close()
        self.assertFalse(os.path.exists(path))
        rx = self.receiver()
        conn = self.connect(rx)
        conn.request('PUT', rx.path, body=b'kept',
                     headers={'Authorization': 'Bearer ' + rx.token})
        conn.getresponse().read()
        rx.close(keep=True)
        self.assertEqual(['kept'], [open(rx.result.path).read()])

    def test_close_breaks_off_a_stalled_upload(self):
        conn = self.connect()
        conn.putrequest('PUT', self.rx.path)
        conn.putheader('Authorization', 'Bearer ' + self.rx.token)
        conn.putheader('Content-Length', '100000')
        conn.endheaders()
        conn.send(b'x' * 1000)
        deadline = time.monotonic() + 5
        while not self.files() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(1, len(self.files()))
        start = time.monotonic()
        self.rx.close()
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual([], self.files())

    def test_no_free_port(self):
        port = int(self.rx.url.split(':')[2].split('/')[0])
        e = self.assertRaises(exception.ConversionFailed, self.receiver,
                              (port, port))
        self.assertIn('receiver_port_range', str(e))

    def test_a_silent_client_does_not_block_forever(self):
        sock = socket.create_connection(self.rx._listener.server_address)
        self.addCleanup(sock.close)
        # The handshake waits at most receiver.SOCKET_TIMEOUT; closing the
        # receiver does not wait for it.
        start = time.monotonic()
        self.rx.close()
        self.assertLess(time.monotonic() - start, receiver.SOCKET_TIMEOUT)
