#!/usr/bin/python3
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

"""xenimage_helper: XAPI host plugin that sends a VDI's own tap VHD out.

Installed in dom0 as /etc/xapi.d/plugins/xenimage_helper (mode 0755, see
``xenimage-dom0-plugin``) and called by xenimage_import's ``xenserver``
helper with ``Async.host.call_plugin``. XAPI executes this file with one
XML-RPC methodCall as argv[1] and reads the methodResponse from stdout
(XenAPIPlugin.dispatch does both).

One source for every dom0: Python 2.7 (XenServer 7, Citrix Hypervisor 8.2,
XCP-ng 8.2/8.3) and Python 3.6+ (XenServer 8): no f-strings, no
subprocess.run, bytes written explicitly.

Arguments are strings only, results a JSON string, expected errors
``XenAPIPlugin.Failure('XENIMAGE_...', [...])``; nothing is pickled.
"""

import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import zlib

try:
    import http.client as httplib
    from urllib.parse import urlsplit
except ImportError:  # Python 2.7
    import httplib
    from urlparse import urlsplit

VERSION = '1.2.1'

# NOTE: only the simulator in xenimage_import's tests sets this; XAPI runs
# plugins with a fixed environment, so in dom0 every path is the real one.
_ROOT = os.environ.get('XENIMAGE_DOM0_TEST_ROOT', '')
VHD_UTIL = _ROOT + '/usr/bin/vhd-util'
TAP_CTL = _ROOT + '/usr/sbin/tap-ctl'
TAR = '/bin/tar'
# SM's MOUNT_BASE; releases before 8.x used /var/run (a symlink to /run).
SR_MOUNT_BASES = (_ROOT + '/run/sr-mount', _ROOT + '/var/run/sr-mount')

CHUNK = 256 * 1024
SOCKET_TIMEOUT = 90
DEFAULT_TIMEOUT = 3600
DEFAULT_LEVEL = 6
MEMBER = '0.vhd'
TAP_CREATOR = 'tap'
UUID_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-'
                     r'[0-9a-f]{4}-[0-9a-f]{12}$')
SHA256_RE = re.compile(r'^[0-9a-f]{64}$')
SECONDS_RE = re.compile(r'^[0-9]{1,6}$')
# What export sends: a gzipped tarball made here, or the VHD file as is.
TRANSFER_TGZ = 'tgz'
TRANSFER_VHD = 'vhd'
TRANSFER_RE = re.compile(r'^(tgz|vhd)$')
# A probe only connects: it never needs long.
MAX_PROBE_SECONDS = 60


class PluginError(Exception):
    """An expected refusal: becomes ``Failure(code, [message])``."""

    def __init__(self, code, message):
        message = _ascii(message)
        Exception.__init__(self, message)
        self.code = code
        self.message = message


def _ascii(text):
    """``text`` with anything not ASCII escaped.

    xapi runs plugins with only PATH set: Python 3.6 then writes in the C
    locale, where one non-ASCII character in a reply fails the call.
    """
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    return text.encode('ascii', 'backslashreplace').decode('ascii')


def _arg(args, name, pattern=None, default=None):
    value = args.get(name, default)
    if value is None or value == '':
        raise PluginError('XENIMAGE_BAD_ARGUMENT', 'missing argument %s'
                          % name)
    if pattern is not None and not pattern.match(value):
        raise PluginError('XENIMAGE_BAD_ARGUMENT', 'malformed argument %s'
                          % name)
    return value


def _run(argv):
    """(exit code, stdout text, stderr text) of a command."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, close_fds=True)
    out, err = proc.communicate()
    return (proc.returncode, out.decode('utf-8', 'replace'),
            err.decode('utf-8', 'replace'))


def _first_line(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ''


def sr_path(sr_uuid):
    """The SR's mount directory; only file SRs (ext, nfs) have one."""
    for base in SR_MOUNT_BASES:
        path = os.path.join(base, sr_uuid)
        if os.path.isdir(path):
            return path
    raise PluginError('XENIMAGE_SR_NOT_MOUNTED',
                      'SR %s is not a file SR mounted on this host' % sr_uuid)


def vdi_file(sr_dir, vdi_uuid):
    """The VDI's VHD file: a regular file, never a symlink."""
    path = os.path.join(sr_dir, vdi_uuid + '.vhd')
    try:
        st = os.lstat(path)
    except OSError:
        # XCP-ng 8.3 SRs may keep a VDI as <uuid>.qcow2: say what is there.
        others = sorted(name for name in os.listdir(sr_dir)
                        if name.startswith(vdi_uuid + '.'))
        raise PluginError('XENIMAGE_VDI_NOT_FOUND',
                          'VDI %s has no VHD file in its SR (found: %s); '
                          'the SR must store VDIs as VHD' % (
                              vdi_uuid, ', '.join(others) or 'nothing'))
    if not (st.st_mode & 0o170000) == 0o100000:
        raise PluginError('XENIMAGE_VDI_NOT_FOUND',
                          'VDI %s is not a regular file' % vdi_uuid)
    return path


def check_not_attached(path):
    """Refuse a VHD that a tapdisk has open (the VDI is plugged)."""
    code, out, err = _run([TAP_CTL, 'list'])
    if code != 0:
        raise PluginError('XENIMAGE_TOOL_FAILED', 'tap-ctl list failed: %s'
                          % _first_line(err or out))
    name = os.path.basename(path)
    for line in out.splitlines():
        for field in line.split():
            if field.startswith('args=') and field.endswith('/' + name):
                raise PluginError('XENIMAGE_VDI_IN_USE',
                                  'VDI %s is attached (%s)'
                                  % (name[:-4], line.strip()))


def _query(path, flag):
    code, out, err = _run([VHD_UTIL, 'query', '-n', path, flag])
    if code != 0:
        raise PluginError('XENIMAGE_VHD_INVALID', 'vhd-util query %s: %s'
                          % (flag, _first_line(err or out)))
    return out.strip()


def describe_vhd(path):
    """What vhd-util says of the file; refuses anything but a tap base."""
    code, out, err = _run([VHD_UTIL, 'check', '-n', path])
    if code != 0 or 'is valid' not in out:
        raise PluginError('XENIMAGE_VHD_INVALID', 'vhd-util check: %s'
                          % _first_line(err or out))
    parent = _query(path, '-p')
    if 'has no parent' not in parent:
        raise PluginError('XENIMAGE_VDI_HAS_PARENT',
                          'VHD is a differencing disk (parent %s)'
                          % parent.split('/')[-1])
    hidden = _query(path, '-f')
    if hidden.replace(' ', '') != 'hidden:0':
        raise PluginError('XENIMAGE_VHD_INVALID', 'VHD is hidden (%s)'
                          % hidden)
    try:
        virtual_mb = int(_query(path, '-v'))
        physical = int(_query(path, '-s'))
    except ValueError:
        raise PluginError('XENIMAGE_VHD_INVALID',
                          'unexpected vhd-util query output')
    code, out, err = _run([VHD_UTIL, 'read', '-p', '-n', path])
    match = re.search(r"Creator Application\s*:\s*'([^']*)'", out)
    if code != 0 or not match:
        raise PluginError('XENIMAGE_VHD_INVALID', 'vhd-util read: %s'
                          % _first_line(err or out))
    creator = match.group(1)
    if creator.strip() != TAP_CREATOR:
        raise PluginError('XENIMAGE_NOT_TAP', 'VHD creator is %r, not %r'
                          % (creator, TAP_CREATOR))
    return {'virtual_size': virtual_mb * 1024 * 1024,
            'physical_size': physical, 'creator': creator.strip()}


def _tls_context():
    # NOTE: the receiver's certificate is self-signed and pinned by its
    # SHA-256 fingerprint (checked before anything is sent), so the chain
    # and host name are not verified here.
    context = ssl.SSLContext(getattr(ssl, 'PROTOCOL_TLS',
                                     ssl.PROTOCOL_SSLv23))
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Deadline(object):
    def __init__(self, seconds):
        self.end = time.time() + seconds

    def remaining(self):
        left = self.end - time.time()
        if left <= 0:
            raise PluginError('XENIMAGE_TIMEOUT', 'export took longer than '
                              'the deadline given by the caller')
        return left


def open_receiver(url, fingerprint, deadline):
    """An HTTPS connection whose certificate matches the pinned one."""
    parts = urlsplit(url)
    if parts.scheme != 'https' or not parts.hostname:
        raise PluginError('XENIMAGE_BAD_ARGUMENT', 'url must be https://')
    conn = httplib.HTTPSConnection(
        parts.hostname, parts.port or 443,
        timeout=min(SOCKET_TIMEOUT, deadline.remaining()),
        context=_tls_context())
    try:
        conn.connect()
        der = conn.sock.getpeercert(True)
    except (socket.error, ssl.SSLError) as e:
        conn.close()
        raise PluginError('XENIMAGE_RECEIVER_UNREACHABLE',
                          'cannot reach %s:%s: %s'
                          % (parts.hostname, parts.port, e))
    if hashlib.sha256(der or b'').hexdigest() != fingerprint:
        conn.close()
        raise PluginError('XENIMAGE_RECEIVER_UNTRUSTED',
                          'the receiver certificate does not match the '
                          'pinned fingerprint')
    path = parts.path or '/'
    return conn, path


def _response_status(conn):
    try:
        response = conn.getresponse()
        body = response.read(4096).decode('utf-8', 'replace')
        return response.status, body
    except (socket.error, httplib.HTTPException):
        return None, ''


def send_stream(stream, conn, path, token, deadline, content_type):
    """Chunked PUT of ``stream``; (bytes, sha256) of what was sent."""
    digest = hashlib.sha256()
    sent = 0
    try:
        conn.putrequest('PUT', path, skip_accept_encoding=True)
        conn.putheader('Authorization', 'Bearer ' + token)
        conn.putheader('Content-Type', content_type)
        conn.putheader('Transfer-Encoding', 'chunked')
        conn.endheaders()
        while True:
            data = stream.read(CHUNK)
            deadline.remaining()
            if not data:
                break
            digest.update(data)
            sent += len(data)
            conn.send(('%x\r\n' % len(data)).encode('ascii') + data +
                      b'\r\n')
        conn.send(b'0\r\n\r\n')
    except (socket.error, ssl.SSLError) as e:
        # The receiver may have answered (403, 413) and closed early.
        status, body = _response_status(conn)
        if status is None:
            raise PluginError('XENIMAGE_UPLOAD_FAILED',
                              'connection to the receiver broke after %d '
                              'bytes: %s' % (sent, e))
    else:
        status, body = _response_status(conn)
    if status not in (200, 201, 204):
        raise PluginError('XENIMAGE_UPLOAD_FAILED', 'receiver answered %s: '
                          '%s' % (status, body.strip()[:200]))
    return sent, digest.hexdigest()


class GzipStream(object):
    """``read()`` of ``raw`` gzipped as one member at ``level``.

    gzip in this process rather than ``tar -z``: dom0's gzip binary only
    does level 6 at one core's speed; level 1 is about three times
    faster for a slightly larger tarball.
    """

    def __init__(self, raw, level):
        self.raw = raw
        # wbits 31: zlib writes the gzip header and trailer itself.
        self.deflate = zlib.compressobj(level, zlib.DEFLATED, 31)
        self.done = False

    def read(self, size):
        while not self.done:
            data = self.raw.read(size)
            if data:
                out = self.deflate.compress(data)
            else:
                out = self.deflate.flush()
                self.done = True
            if out:
                return out
        return b''


def stream_tarball(staging, conn, path, token, deadline, level):
    """tar of ``0.vhd``, gzipped as one member, sent to the receiver."""
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen([TAR, '-C', staging, '-cf', '-', MEMBER],
                            stdout=subprocess.PIPE, stderr=err,
                            close_fds=True)
    try:
        sent = send_stream(GzipStream(proc.stdout, level), conn, path,
                           token, deadline, 'application/gzip')
    except BaseException:
        proc.kill()
        raise
    finally:
        # NOTE: after its output ends tar is exiting, not yet gone: it is
        # waited for, never killed then (that made a complete transfer
        # look like a tar failure when dom0 was busy).
        proc.stdout.close()
        code = proc.wait()
    if code != 0:
        err.seek(0)
        raise PluginError('XENIMAGE_TAR_FAILED', 'tar failed: %s'
                          % _first_line(err.read().decode('utf-8',
                                                          'replace')))
    return sent


def stream_vhd(path, conn, url_path, token, deadline):
    """The VHD file itself, uncompressed: the receiver's node packs it.

    A VHD file holds only allocated blocks, so nothing sparse is sent; the
    node's threaded compressor then does what one dom0 core would.
    """
    with open(path, 'rb') as f:
        return send_stream(f, conn, url_path, token, deadline,
                           'application/octet-stream')


def export(args):
    """Validate a VDI's VHD and send it back.

    ``transfer``: ``tgz`` (default), ``0.vhd`` in a tarball gzipped here at
    ``level``; or ``vhd``, the VHD file as it is.
    """
    started = time.time()
    sr_uuid = _arg(args, 'sr_uuid', UUID_RE)
    vdi_uuid = _arg(args, 'vdi_uuid', UUID_RE)
    url = _arg(args, 'url')
    token = _arg(args, 'token')
    fingerprint = _arg(args, 'cert_sha256', SHA256_RE)
    try:
        deadline = Deadline(int(args.get('timeout') or DEFAULT_TIMEOUT))
        level = int(args.get('level') or DEFAULT_LEVEL)
    except ValueError:
        raise PluginError('XENIMAGE_BAD_ARGUMENT', 'malformed timeout or '
                          'level')
    if not 1 <= level <= 9:
        raise PluginError('XENIMAGE_BAD_ARGUMENT', 'level must be 1-9')
    transfer = _arg(args, 'transfer', TRANSFER_RE, TRANSFER_TGZ)
    sr_dir = sr_path(sr_uuid)
    path = vdi_file(sr_dir, vdi_uuid)
    check_not_attached(path)
    summary = describe_vhd(path)
    conn, url_path = open_receiver(url, fingerprint, deadline)
    if transfer == TRANSFER_VHD:
        try:
            sent, sha256 = stream_vhd(path, conn, url_path, token, deadline)
        finally:
            conn.close()
        summary.update(bytes=sent, sha256=sha256, plugin_version=VERSION,
                       transfer=transfer,
                       seconds=round(time.time() - started, 3))
        return summary
    # A hard link inside the SR (same file system): the tarball's member
    # is named 0.vhd without copying a byte, and the VDI file is untouched.
    staging = tempfile.mkdtemp(prefix='.xenimage-export-', dir=sr_dir)
    try:
        os.link(path, os.path.join(staging, MEMBER))
        sent, sha256 = stream_tarball(staging, conn, url_path, token,
                                      deadline, level)
    finally:
        conn.close()
        shutil.rmtree(staging, ignore_errors=True)
    summary.update(bytes=sent, sha256=sha256, plugin_version=VERSION,
                   transfer=transfer,
                   seconds=round(time.time() - started, 3))
    return summary


def get_version(session, args):
    return json.dumps({'version': VERSION, 'python': sys.version.split()[0]})


def probe(args):
    """TLS to the receiver and the pinned certificate; nothing sent."""
    url = _arg(args, 'url')
    fingerprint = _arg(args, 'cert_sha256', SHA256_RE)
    seconds = int(_arg(args, 'timeout', SECONDS_RE, '30'))
    conn, _path = open_receiver(url, fingerprint, Deadline(
        max(1, min(seconds, MAX_PROBE_SECONDS))))
    conn.close()
    return {'reachable': True}


def probe_receiver(session, args):
    try:
        return json.dumps(probe(args), sort_keys=True)
    except PluginError as e:
        raise XenAPIPlugin.Failure(e.code, [e.message])


def export_tap_vhd(session, args):
    try:
        return json.dumps(export(args), sort_keys=True)
    except PluginError as e:
        raise XenAPIPlugin.Failure(e.code, [e.message])


if __name__ == '__main__':
    import XenAPIPlugin
    XenAPIPlugin.dispatch({'get_version': get_version,
                           'probe': probe_receiver,
                           'export_tap_vhd': export_tap_vhd})
