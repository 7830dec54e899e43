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

"""Per-host trust of XAPI certificates, against real TLS servers."""

import os
import shutil
import socket
import ssl
import tempfile
import threading

import fixtures
import testtools

from xenimage_import.helpers.xenserver import tls
from xenimage_import.helpers.xenserver import trust


class _OneTlsServer(object):
    """Accepts TLS connections on 127.0.0.1 with ``certificate``."""

    def __init__(self, certificate):
        self.sock = socket.create_server(('127.0.0.1', 0))
        self.port = self.sock.getsockname()[1]
        self.certificate = certificate
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.certificate.context.wrap_socket(
                        conn, server_side=True) as s:
                    s.recv(1)
            except (OSError, ssl.SSLError):
                pass

    def close(self):
        self.sock.close()


class TrustTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.cert = tls.ServerCertificate.ephemeral('xs', ('127.0.0.1',))
        self.server = _OneTlsServer(self.cert)
        self.addCleanup(self.server.close)

    def connect(self, t):
        sock = t.connect('127.0.0.1', self.server.port, 5)
        sock.close()

    def other_ca(self):
        """A CA file that vouches for another certificate, not this one."""
        self.dir = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(self.dir, 'other-ca.pem')
        with open(path, 'wb') as f:
            f.write(tls.ServerCertificate.ephemeral('xs2').cert_pem)
        return path

    def test_pin_forms(self):
        fp = self.cert.fingerprint
        colons = ':'.join(fp[i:i + 2].upper() for i in range(0, 64, 2))
        for value in ('sha256:' + fp, 'SHA256:' + colons):
            self.connect(trust.Trust(per_host={'127.0.0.1': value}))

    def test_pin_mismatch(self):
        other = tls.ServerCertificate.ephemeral('xs2').fingerprint
        t = trust.Trust(per_host={'127.0.0.1': 'sha256:' + other})
        e = self.assertRaises(trust.UntrustedCertificate, self.connect, t)
        # Shown as openssl x509 -fingerprint prints it, for comparing.
        colons = ':'.join(self.cert.fingerprint[i:i + 2].upper()
                          for i in range(0, 64, 2))
        self.assertIn('certificate sha256:%s is not the one pinned'
                      % colons, str(e))

    def test_an_untrusted_certificate_names_what_did_not_vouch(self):
        for kwargs, source in (({}, "this node's system CAs"),
                               ({'ca_file': self.other_ca()},
                                '[xenimage_xenserver] ca_file'),
                               ({'per_host': {'127.0.0.1': self.other_ca()}},
                                'its host_certificates CA file')):
            e = self.assertRaises(trust.UntrustedCertificate, self.connect,
                                  trust.Trust(**kwargs))
            self.assertIn('not trusted (self-signed certificate) by %s'
                          % source, str(e))
            self.assertNotIn(self.dir, str(e))

    def test_pin_is_per_address(self):
        # A pin for another address does not vouch for this one.
        t = trust.Trust(per_host={'127.0.0.2': 'sha256:' +
                                  self.cert.fingerprint})
        e = self.assertRaises(trust.UntrustedCertificate, self.connect, t)
        self.assertIn('127.0.0.1: its certificate is not trusted', str(e))

    def test_ca_file_per_address(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        path = d + '/ca.pem'
        with open(path, 'wb') as f:
            f.write(self.cert.cert_pem)
        self.connect(trust.Trust(per_host={'127.0.0.1': path}))
        self.connect(trust.Trust(ca_file=path))

    def test_insecure_only_where_nothing_is_pinned(self):
        self.connect(trust.Trust(insecure=True))
        other = tls.ServerCertificate.ephemeral('xs2').fingerprint
        t = trust.Trust(insecure=True,
                        per_host={'127.0.0.1': 'sha256:' + other})
        self.assertRaises(trust.UntrustedCertificate, self.connect, t)

    def test_bad_entries(self):
        for value, text in (('sha256:abcd', 'not a sha256: fingerprint'),
                            ('sha256:' + 'g' * 64, 'not a sha256:'),
                            ('/nonexistent/ca.pem', 'neither sha256'),
                            ('/etc/hostname', 'neither sha256')):
            e = self.assertRaises(ValueError, trust.Trust,
                                  per_host={'xs-01': value})
            self.assertIn('host_certificates entry for xs-01', str(e))
            self.assertIn(text, str(e))
            self.assertNotIn('/', str(e))


class ServerCertificateTest(testtools.TestCase):
    """The receiver's key is loaded without leaving a file behind."""

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.useFixture(fixtures.MonkeyPatch('tempfile.tempdir', self.tmp))

    def test_the_key_never_reaches_a_filesystem(self):
        # memfd files vanish with the process, even one killed midway.
        opened = []
        real_open = os.open
        self.useFixture(fixtures.MonkeyPatch(
            'os.open', lambda path, *a: opened.append(path)
            or real_open(path, *a)))
        cert = tls.ServerCertificate.ephemeral('node', ['127.0.0.1'])
        self.assertEqual(64, len(cert.fingerprint))
        self.assertEqual([], os.listdir(self.tmp))
        self.assertEqual([], [p for p in opened
                              if str(p).endswith('key.pem')])

    def test_without_memfd_a_private_directory_is_removed(self):
        self.useFixture(fixtures.MonkeyPatch('os.memfd_create', None))
        delattr(os, 'memfd_create')
        cert = tls.ServerCertificate.ephemeral('node', ['127.0.0.1'])
        self.assertEqual(64, len(cert.fingerprint))
        self.assertEqual([], os.listdir(self.tmp))
