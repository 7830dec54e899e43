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
conversion's random path and token (``Authorization: Bearer``), chunked
or with a Content-Length, up to a size cap, and writes it into the
staging directory as ``<image_id>.<random>.part``. The file is the
caller's once ``result`` is set, and removed by ``close`` otherwise.

The port is reachable by whoever shares dom0's network, so the receiver
belongs to dom0's PUT alone: connections are served concurrently, at
most :data:`MAX_STRANGERS` not yet authenticated (the oldest is dropped
for a new one); each has one deadline, :data:`HEADER_SECONDS`, for its
TLS handshake and its request line and headers together, not per read;
a request line that is not ``PUT <the secret path>`` is answered at once,
before any header is read. Nothing a stranger sends ends the receiver or
slows the upload: only the authenticated PUT does, by completing or
failing.
"""

import collections
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
import time

from xenimage_import import cleanup
from xenimage_import import exception
from xenimage_import import workfiles

LOG = logging.getLogger(__name__)

PATH_PREFIX = '/xenimage/'
READ_CHUNK = 1024 * 1024
# Per read once the PUT is authenticated: dom0 streams as it exports.
SOCKET_TIMEOUT = 60.0
# TLS handshake, request line and headers, together, per connection.
HEADER_SECONDS = 10.0
# Connections not yet authenticated, served at once.
MAX_STRANGERS = 64
# What a refused client may still send before the connection closes.
LINGER_SECONDS = 1.0
LINGER_BYTES = 1024 * 1024
# Refusals kept for messages (all are counted).
KEPT_REFUSALS = 16
_HEX = re.compile(rb'[0-9A-Fa-f]{1,16}')
_POLL = 0.25


@dataclasses.dataclass
class ReceivedFile(object):
    path: str
    size: int
    sha256: str


class _BodyTooLarge(Exception):
    pass


class _Connection(object):
    """One accepted socket, its deadline, and whether it proved itself."""

    def __init__(self, sock, address):
        self.sock = sock
        self.address = address
        self.deadline = time.monotonic() + HEADER_SECONDS
        self.authenticated = False

    def cut(self):
        """Break off whatever the serving thread is blocked in."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Listener(object):
    """The listening socket; the handler finds its receiver here."""

    def __init__(self, address, receiver):
        self.receiver = receiver
        family = socket.AF_INET6 if ':' in address[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            # NOTE: the receiver closes each connection first, so every
            # port it used sits in TIME-WAIT for a minute; without
            # SO_REUSEADDR the port range would cap conversions per
            # minute. On Linux it never lets two listeners share a port
            # (that is SO_REUSEPORT, not set).
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(address)
            self.socket.listen(MAX_STRANGERS)
        except OSError:
            self.socket.close()
            raise
        self.socket.settimeout(_POLL)
        self.server_address = self.socket.getsockname()


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
        self.server.receiver.note_refused(self.client_address[0], code,
                                          message)
        self._reply(code, {'error': message})

    def parse_request(self):
        """Judge the request line before reading any header."""
        words = self.raw_requestline.split()
        receiver = self.server.receiver
        self.requestline = str(self.raw_requestline[:200], 'iso-8859-1'
                               ).rstrip('\r\n')
        if len(words) != 3 or not words[2].startswith(b'HTTP/1.'):
            self.request_version = 'HTTP/1.1'
            self._refuse(400, 'malformed request line')
            return False
        self.command, self.request_version = 'PUT', 'HTTP/1.1'
        if words[0] != b'PUT':
            self._refuse(405, 'only PUT is accepted')
            return False
        if not hmac.compare_digest(words[1], receiver.path.encode()):
            self._refuse(404, 'unknown upload')
            return False
        return super().parse_request()

    def do_PUT(self):
        receiver = self.server.receiver
        auth = self.headers.get('Authorization', '')
        expected = 'Bearer ' + receiver.token
        if not hmac.compare_digest(auth.encode(), expected.encode()):
            return self._refuse(403, 'bad or missing token')
        if not receiver.claim(self.server.connection):
            return self._refuse(409, 'already received')
        self.connection.settimeout(SOCKET_TIMEOUT)
        if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
            body = self._chunks()
        elif self.headers.get('Content-Length', '').isdigit():
            length = int(self.headers['Content-Length'])
            if length > receiver.max_bytes:
                return self._fail(413, 'upload of %d bytes is above the '
                                  'cap of %d' % (length, receiver.max_bytes))
            body = self._sized(length)
        else:
            return self._fail(411, 'Content-Length or chunked required')
        try:
            received = receiver.store(body)
        except _BodyTooLarge:
            return self._fail(413, 'upload is above the cap of %d bytes'
                              % receiver.max_bytes)
        except (OSError, ValueError) as e:
            # A broken or slow sender: nothing kept, the sender sees it.
            self.close_connection = True
            receiver.fail(self.client_address[0], 400, str(e))
            return
        self._reply(201, {'bytes': received.size,
                          'sha256': received.sha256})

    def _fail(self, code, message):
        """The authenticated upload cannot be taken: the receiver ends."""
        self.server.receiver.fail(self.client_address[0], code, message)
        self._reply(code, {'error': message})

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


class _Context(object):
    """What a handler sees as its server: the receiver, its connection."""

    def __init__(self, receiver, connection):
        self.receiver = receiver
        self.connection = connection


def _linger(sock):
    """Read what a refused client still sends, briefly, before closing.

    Closing with unread data resets the connection, and the client would
    lose the answer it was sent.
    """
    deadline = time.monotonic() + LINGER_SECONDS
    left = LINGER_BYTES
    while left > 0 and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(min(left, 16384))
        if not data:
            return
        left -= len(data)


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
        # Why the authenticated upload failed, if it did.
        self.failure = None
        self.refused = 0
        self.refusals = collections.deque(maxlen=KEPT_REFUSALS)
        self._partial = None
        self._lock = threading.Lock()
        self._connections = []          # _Connection, oldest first
        self._owner = None              # the authenticated connection
        self._done = threading.Event()
        self.started = threading.Event()
        self._stop = threading.Event()
        self._listener = self._bind(bind_host, ports)
        port = self._listener.server_address[1]
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
                return _Listener((host, port), self)
            except OSError as e:
                error = e
        raise exception.ConversionFailed(
            'no free port for the receiver on %s in %d-%d (%s); widen '
            '[xenimage_xenserver] receiver_port_range' % (
                host, first, last, getattr(error, 'strerror', error)))

    # -- connections ---------------------------------------------------------

    def _serve(self):
        """Accept, and cut whoever outstays the header deadline."""
        try:
            while not (self._stop.is_set() or self._done.is_set()):
                self._reap()
                try:
                    sock, address = self._listener.socket.accept()
                except socket.timeout:
                    continue
                except OSError:
                    if self._stop.is_set():
                        return
                    continue
                self._admit(_Connection(sock, address))
        finally:
            self._listener.socket.close()
            with self._lock:
                everyone = list(self._connections)
            for connection in everyone:
                if connection is not self._owner or self._stop.is_set():
                    connection.cut()

    def _admit(self, connection):
        with self._lock:
            strangers = [c for c in self._connections
                         if not c.authenticated]
            if len(strangers) >= MAX_STRANGERS:
                strangers[0].cut()      # the oldest makes room
            self._connections.append(connection)
        threading.Thread(target=self._handle, args=(connection,),
                         daemon=True, name='xenimage-receiver-conn').start()

    def _reap(self):
        now = time.monotonic()
        with self._lock:
            late = [c for c in self._connections
                    if not c.authenticated and c.deadline < now]
        for connection in late:
            connection.cut()

    def _handle(self, connection):
        try:
            connection.sock.settimeout(HEADER_SECONDS)
            tls = self.certificate.context.wrap_socket(
                connection.sock, server_side=True,
                do_handshake_on_connect=False)
            connection.sock = tls
            if self._stop.is_set():
                return
            tls.do_handshake()
            _Handler(tls, connection.address, _Context(self, connection))
            if connection is not self._owner or self.result is None:
                _linger(tls)            # refused: let the answer arrive
        except (OSError, ValueError) as e:
            LOG.debug('receiver: connection from %s ended: %s',
                      connection.address[0], e)
        finally:
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)
            try:
                connection.sock.close()
            except OSError:
                pass

    def claim(self, connection):
        """Make ``connection`` the upload's; False if one already is."""
        with self._lock:
            if self._owner is not None or self.result is not None:
                return False
            self._owner = connection
            connection.authenticated = True
        self.started.set()
        return True

    # -- the upload ----------------------------------------------------------

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

    def fail(self, client, code, message):
        """The authenticated upload failed: the receiver ends, says why."""
        LOG.warning('receiver: the upload from %s failed (%d %s)', client,
                    code, message)
        self._remove_partial()
        self.failure = message
        self._done.set()

    def note_refused(self, client, code, message):
        """A request without the path or token: refused, never more."""
        self.refused += 1
        self.refusals.append((code, message))
        LOG.debug('receiver: refused a request from %s (%d %s)', client,
                  code, message)

    def wait(self, timeout):
        """True once the upload arrived or failed."""
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
        with self._lock:
            everyone = list(self._connections)
        for connection in everyone:
            connection.cut()
        self._thread.join(SOCKET_TIMEOUT + 5)
        if self.refused:
            LOG.info('receiver: refused %d request(s) from others',
                     self.refused)
        if not keep and self.result is not None:
            cleanup.remove(self.result.path)
            self.result = None
        self._remove_partial()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
