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

"""A one-shot HTTPS endpoint that takes the tarball dom0 sends.

One conversion, one receiver: bound to a configured address and a port
from a configured range, it accepts exactly one PUT carrying the
conversion's random token (``Authorization: Bearer``), chunked or with a
Content-Length, up to a size cap and before a deadline, and writes it
into the staging directory as ``<image_id>.<random>.part``. Requests
without the token are answered 403 and counted; a few of them end the
receiver. The file is the caller's once ``result`` is set, and removed
by ``close`` otherwise.
"""

import dataclasses
import hashlib
import hmac
import http.server
import json
import logging
import os
import re
import secrets
import socket
import threading

from xenimage_import import cleanup
from xenimage_import import exception
from xenimage_import import workfiles

LOG = logging.getLogger(__name__)

PATH_PREFIX = '/xenimage/'
READ_CHUNK = 1024 * 1024
# Idle time allowed inside one request (TLS handshake, headers, a chunk).
SOCKET_TIMEOUT = 60.0
MAX_BAD_REQUESTS = 5
# A chunk size: 1 to 16 hex digits (RFC 9112), nothing else.
_HEX = re.compile(rb'[0-9A-Fa-f]{1,16}')
_POLL = 0.25


@dataclasses.dataclass
class ReceivedFile(object):
    path: str
    size: int
    sha256: str


class _BodyTooLarge(Exception):
    pass


class _Server(http.server.HTTPServer):
    """HTTPServer that speaks TLS, one request at a time."""

    # NOTE: the receiver closes each connection first, so every port it
    # used sits in TIME-WAIT for a minute; without SO_REUSEADDR the port
    # range would cap conversions per minute. On Linux the option never
    # lets two listeners share a port (that is SO_REUSEPORT, not set).
    allow_reuse_address = True

    def __init__(self, address, receiver):
        self.receiver = receiver
        super().__init__(address, _Handler)
        self.timeout = _POLL
        self.active = None

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.settimeout(SOCKET_TIMEOUT)
        tls_sock = self.receiver.certificate.context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False)
        self.active = tls_sock
        if self.receiver.stopping:
            tls_sock.close()
            raise OSError('receiver closed')
        # Bounded by the socket timeout, and by abort_active().
        tls_sock.do_handshake()
        return tls_sock, addr

    def abort_active(self):
        """Break off the request in progress, if any."""
        if self.active is not None:
            try:
                self.active.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        LOG.warning('receiver: request from %s failed', client_address[0],
                    exc_info=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'xenimage-receiver'
    sys_version = ''

    def log_message(self, fmt, *args):
        LOG.debug('receiver: %s %s', self.client_address[0], fmt % args)

    def _reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Connection', 'close')
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def _refuse(self, code, message):
        self.server.receiver.note_bad_request(self.client_address[0],
                                              code, message)
        self._reply(code, {'error': message})

    def do_GET(self):
        self._refuse(405, 'only PUT is accepted')

    do_POST = do_HEAD = do_DELETE = do_GET

    def do_PUT(self):
        receiver = self.server.receiver
        if self.path != receiver.path:
            return self._refuse(404, 'unknown upload')
        auth = self.headers.get('Authorization', '')
        expected = 'Bearer ' + receiver.token
        if not hmac.compare_digest(auth.encode(), expected.encode()):
            return self._refuse(403, 'bad or missing token')
        if receiver.result is not None:
            return self._refuse(409, 'already received')
        receiver.started.set()
        if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
            body = self._chunks()
        elif self.headers.get('Content-Length', '').isdigit():
            length = int(self.headers['Content-Length'])
            if length > receiver.max_bytes:
                return self._refuse(413, 'upload of %d bytes is above the '
                                    'cap of %d' % (length,
                                                   receiver.max_bytes))
            body = self._sized(length)
        else:
            return self._refuse(411, 'Content-Length or chunked required')
        try:
            received = receiver.store(body)
        except _BodyTooLarge:
            return self._refuse(413, 'upload is above the cap of %d bytes'
                                % receiver.max_bytes)
        except (OSError, ValueError) as e:
            # A broken or slow sender: nothing kept, the sender sees it.
            self.close_connection = True
            LOG.warning('receiver: upload from %s broke off: %s',
                        self.client_address[0], e)
            receiver.note_bad_request(self.client_address[0], 400, str(e))
            return
        self._reply(201, {'bytes': received.size,
                          'sha256': received.sha256})

    def _sized(self, length):
        left = length
        while left:
            data = self.rfile.read(min(READ_CHUNK, left))
            if not data:
                raise ValueError('body ended %d bytes early' % left)
            left -= len(data)
            yield data

    def _chunks(self):
        while True:
            line = self.rfile.readline(1024)
            if not line.endswith(b'\n'):
                raise ValueError('malformed chunk header')
            size = _chunk_size(line)
            if size == 0:
                # Trailer section: lines up to an empty one.
                while self.rfile.readline(1024).strip():
                    pass
                return
            left = size
            while left:
                data = self.rfile.read(min(READ_CHUNK, left))
                if not data:
                    raise ValueError('chunk ended early')
                left -= len(data)
                yield data
            if self.rfile.readline(3).strip():
                raise ValueError('malformed chunk trailer')


def _chunk_size(line):
    """A chunk header's size: hex digits only (no sign, no 0x, no _)."""
    digits = line.split(b';', 1)[0].strip()
    if not _HEX.fullmatch(digits):
        raise ValueError('malformed chunk size %r' % digits[:16])
    return int(digits, 16)


class OneShotReceiver(object):
    """Receive one tarball; see the module docstring.

    :param directory: the staging directory the file is written to.
    :param prefix: work file name prefix (``<image_id>.``).
    :param bind_host: address to listen on.
    :param advertise_host: address dom0 connects to (in ``url``).
    :param ports: (first, last) port range to bind in.
    :param certificate: a :class:`tls.ServerCertificate`.
    :param max_bytes: largest body accepted.
    """

    def __init__(self, directory, prefix, bind_host, advertise_host, ports,
                 certificate, max_bytes):
        self.directory = directory
        self.prefix = prefix
        self.certificate = certificate
        self.max_bytes = max_bytes
        self.token = secrets.token_urlsafe(32)
        self.path = PATH_PREFIX + secrets.token_hex(16)
        self.result = None
        self.bad_requests = []
        self._partial = None
        self._done = threading.Event()
        self.started = threading.Event()
        self._stop = threading.Event()
        self._server = self._bind(bind_host, ports)
        port = self._server.server_address[1]
        host = ('[%s]' % advertise_host if ':' in advertise_host
                else advertise_host)
        # What dom0 must reach (for messages), and the upload's URL.
        self.address = 'https://%s:%d' % (host, port)
        self.url = self.address + self.path
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name='xenimage-receiver')
        self._thread.start()

    def _bind(self, host, ports):
        first, last = ports
        error = None
        for port in range(first, last + 1):
            try:
                return _Server((host, port), self)
            except OSError as e:
                error = e
        raise exception.ConversionFailed(
            'no free port for the receiver on %s in %d-%d (%s); widen '
            '[xenimage_xenserver] receiver_port_range' % (
                host, first, last, getattr(error, 'strerror', error)))

    def _serve(self):
        try:
            while not (self._stop.is_set() or self._done.is_set()):
                self._server.handle_request()
        finally:
            self._server.server_close()

    def store(self, body):
        fd, path = workfiles.create(self.directory, self.prefix,
                                    workfiles.PARTIAL)
        self._partial = path
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, 'wb') as f:
            for data in body:
                size += len(data)
                if size > self.max_bytes:
                    raise _BodyTooLarge()
                digest.update(data)
                f.write(data)
        self.result = ReceivedFile(path, size, digest.hexdigest())
        self._done.set()
        return self.result

    def note_bad_request(self, client, code, message):
        LOG.warning('receiver: refused a request from %s (%d %s)', client,
                    code, message)
        self._remove_partial()
        self.bad_requests.append((code, message))
        if len(self.bad_requests) >= MAX_BAD_REQUESTS:
            self._done.set()

    def wait(self, timeout):
        """True once an upload arrived or the receiver gave up."""
        return self._done.wait(timeout)

    @property
    def stopping(self):
        return self._stop.is_set()

    @property
    def finished(self):
        return self._done.is_set()

    def _remove_partial(self):
        if self._partial and (self.result is None
                              or self.result.path != self._partial):
            cleanup.remove(self._partial)
        self._partial = None

    def close(self, keep=False):
        """Stop listening; remove the file unless ``keep``."""
        self._stop.set()
        if not self._done.is_set():
            self._server.abort_active()
        self._thread.join(SOCKET_TIMEOUT + 5)
        if not keep and self.result is not None:
            cleanup.remove(self.result.path)
            self.result = None
        self._remove_partial()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
