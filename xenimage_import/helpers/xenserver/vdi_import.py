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

"""Upload a VHD into a VDI with XAPI's ``PUT /import_raw_vdi``.

xapi answers ``200 OK`` (with a ``task-id`` header) *before* it reads the
body, then streams the body through vhd-tool into the VDI and records the
outcome in the task; a bad VHD shows up only as the task's
``VDI_IO_ERROR``. So this client sends the headers, reads xapi's answer,
sends the body only after a 200, and leaves the verdict to the task.
``format=vhd`` needs a Content-Length (xapi refuses chunked VHD). A host
that cannot see the SR answers 302 to the one that can; that is followed
once.
"""

import contextlib
import functools
import os
import select
import socket
import ssl
import urllib.parse

from xenimage_import import cleanup
from xenimage_import import exception
from xenimage_import.helpers.xenserver import xapi

_CHUNK = 1024 * 1024
_HEAD_LIMIT = 64 * 1024
# xapi answers before reading the body; a server that waits for the body
# first still works, after this pause.
_ANSWER_WAIT = 10.0


class _Answer(object):
    def __init__(self, status, headers):
        self.status = status
        self.headers = headers


def _read_answer(sock):
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > _HEAD_LIMIT:
            break
    head = data.split(b'\r\n\r\n', 1)[0].decode('latin-1')
    lines = head.split('\r\n')
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        raise exception.ConversionFailed('import_raw_vdi: no HTTP answer')
    headers = {}
    for line in lines[1:]:
        if ':' in line:
            key, value = line.split(':', 1)
            headers[key.strip().lower()] = value.strip()
    return _Answer(status, headers)


def _open(url, trust, timeout):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == 'https':
        # NOTE: the port is absent in xapi's redirect to a member: 443.
        return trust.connect(parts.hostname, parts.port or 443, timeout)
    return socket.create_connection((parts.hostname, parts.port or 80),
                                    timeout=timeout)


def _send_file(sock, path, progress):
    with open(path, 'rb') as f:
        while True:
            data = f.read(_CHUNK)
            if not data:
                return
            sock.sendall(data)
            if progress:
                progress(len(data))


def _cut(sock):
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def upload_vhd(session, vdi, task, path, progress=None, redirects=1):
    """PUT the VHD at ``path`` into ``vdi``; the task tells the outcome."""
    base = session.url
    query = urllib.parse.urlencode({'session_id': session.handle,
                                    'task_id': task, 'vdi': vdi,
                                    'format': 'vhd'})
    target = urllib.parse.urljoin(base, '/import_raw_vdi?' + query)
    size = os.path.getsize(path)
    for _ in range(redirects + 1):
        parts = urllib.parse.urlsplit(target)
        try:
            sock = _open(target, session.trust, session.timeout)
        except OSError as e:
            raise exception.ConversionFailed(
                'XenServer (host %s): cannot connect for import_raw_vdi: '
                '%s' % (session.name, xapi.connection_error(e)))
        # A signal ends the upload first, so that xapi ends the import and
        # frees the VDI the other undo actions destroy.
        closer = ('import_raw_vdi', id(sock))
        cleanup.add_action(closer, functools.partial(_cut, sock))
        try:
            request = ('PUT %s?%s HTTP/1.1\r\nHost: %s\r\n'
                       'Content-Type: application/octet-stream\r\n'
                       'Content-Length: %d\r\nConnection: close\r\n\r\n'
                       % (parts.path, parts.query, parts.netloc, size))
            sock.sendall(request.encode('latin-1'))
            if not select.select([sock], [], [], _ANSWER_WAIT)[0]:
                _send_file(sock, path, progress)
                answer = _read_answer(sock)
                if answer.status != 200:
                    _refused(session, answer)
                return
            answer = _read_answer(sock)
            if answer.status == 302 and answer.headers.get('location'):
                target = answer.headers['location']
                continue
            if answer.status != 200:
                _refused(session, answer)
            try:
                _send_file(sock, path, progress)
                if not isinstance(sock, ssl.SSLSocket):
                    # NOTE: over TLS a half-close drops the TLS layer
                    # without close_notify, which stunnel in front of xapi
                    # may take for a truncated stream; Content-Length
                    # already tells xapi where the body ends.
                    sock.shutdown(socket.SHUT_WR)
                # xapi closes once the VDI is written and the task done.
                while sock.recv(4096):
                    pass
            except OSError:
                # The connection dropped: the task says why (VDI_IO_ERROR).
                pass
            return
        except OSError as e:
            raise exception.ConversionFailed(
                'XenServer (host %s): import_raw_vdi broke off: %s'
                % (session.name, xapi.connection_error(e)))
        finally:
            cleanup.discard_action(closer)
            sock.close()
    raise exception.ConversionFailed(
        'XenServer (host %s): import_raw_vdi redirected more than %d times'
        % (session.name, redirects))


_STATUS = {401: 'the session was refused (401)',
           400: 'the request was refused (400)',
           404: 'the VDI or format was refused (404)'}


def _refused(session, answer):
    raise exception.ConversionFailed(
        'XenServer (host %s): import_raw_vdi failed: %s'
        % (session.name, _STATUS.get(answer.status,
                                     'HTTP %d' % answer.status)))
