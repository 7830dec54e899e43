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

"""A real stunnel in front of a plain-HTTP simulated host.

On a XenServer host xapi itself speaks plain HTTP; stunnel terminates TLS
on port 443 in front of it, with the host's self-signed certificate. This
runs Debian's stunnel4 the same way, so the client's TLS behaviour (how it
ends a request body, how it reads the answer until the close) meets the
real TLS terminator, not Python's.
"""

import os
import shutil
import socket
import ssl
import subprocess
import time

from xenimage_import.helpers.xenserver import tls

BINARY = shutil.which('stunnel4') or shutil.which('stunnel')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Stunnel(object):
    """TLS on 127.0.0.1:``port`` -> plain ``target_port``.

    ``fingerprint`` is its certificate's SHA-256 (a fresh self-signed
    P-256 certificate made by ``openssl req``, as gencert makes one per
    host).
    """

    def __init__(self, directory, target_port):
        self.directory = directory
        cert = os.path.join(directory, 'xapi-ssl.pem')
        subprocess.run(
            ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
             '-subj', '/CN=xs-stunnel', '-addext',
             'subjectAltName=IP:127.0.0.1', '-keyout', cert, '-out',
             cert + '.crt'], check=True, capture_output=True)
        with open(cert + '.crt') as f:
            pem = f.read()
        with open(cert, 'a') as f:
            f.write(pem)
        self.fingerprint = tls.fingerprint(ssl.PEM_cert_to_DER_cert(pem))
        self.port = _free_port()
        self.log = os.path.join(directory, 'stunnel.log')
        conf = os.path.join(directory, 'stunnel.conf')
        with open(conf, 'w') as f:
            f.write('foreground = yes\npid =\noutput = %s\ndebug = 5\n'
                    '[xapi]\naccept = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\n'
                    'cert = %s\n' % (self.log, self.port, target_port, cert))
        self.proc = subprocess.Popen([BINARY, conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self._wait_listening()
        self.url = 'https://127.0.0.1:%d/' % self.port

    def _wait_listening(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('stunnel exited: see %s' % self.log)
            try:
                sock = socket.create_connection(('127.0.0.1', self.port), 1)
            except OSError:
                time.sleep(0.1)
                continue
            # A whole TLS handshake and close_notify: a clean line in the
            # log, so the tests can require that every connection is one.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            with context.wrap_socket(sock) as tls_sock:
                tls_sock.unwrap()
            return
        raise RuntimeError('stunnel did not listen within 10 s')

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
