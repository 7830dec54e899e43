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

"""The receiver's TLS certificate: configured, or made for one conversion.

dom0 pins the certificate by the SHA-256 of its DER encoding, which the
driver passes in the plugin call, so a self-signed certificate made here
is as trustworthy as one from a CA, without any CA to manage.
"""

import datetime
import hashlib
import ipaddress
import os
import ssl
import tempfile

from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography import x509
from cryptography.x509.oid import NameOID

EPHEMERAL_LIFETIME = datetime.timedelta(days=2)


def fingerprint(der):
    """What a certificate is pinned by: the SHA-256 of its DER, in hex."""
    return hashlib.sha256(der).hexdigest()


def _load_cert_chain(context, cert_pem, key_pem):
    """``context.load_cert_chain`` from memory.

    It reads files only. On Linux they are anonymous memory files
    (memfd), named through /proc: the key never reaches a filesystem and
    nothing outlives the process, even one killed with SIGKILL midway.
    Elsewhere, a 0700 directory holds them for the moment it takes.
    """
    if hasattr(os, 'memfd_create') and os.path.isdir('/proc/self/fd'):
        fds = []
        try:
            for data in (cert_pem, key_pem):
                fds.append(os.memfd_create('xenimage-tls', os.MFD_CLOEXEC))
                with os.fdopen(os.dup(fds[-1]), 'wb') as f:
                    f.write(data)
            context.load_cert_chain(*('/proc/self/fd/%d' % fd
                                      for fd in fds))
        finally:
            for fd in fds:
                os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix='xenimage-tls-') as d:
        paths = []
        for name, data in (('cert.pem', cert_pem), ('key.pem', key_pem)):
            paths.append(os.path.join(d, name))
            fd = os.open(paths[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o600)
            with os.fdopen(fd, 'wb') as f:
                f.write(data)
        context.load_cert_chain(*paths)


class ServerCertificate(object):
    """A server-side SSL context and the fingerprint dom0 pins."""

    def __init__(self, cert_pem, key_pem):
        self.cert_pem = cert_pem
        der = ssl.PEM_cert_to_DER_cert(cert_pem.decode('ascii'))
        self.fingerprint = fingerprint(der)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        _load_cert_chain(self.context, cert_pem, key_pem)

    @classmethod
    def from_files(cls, cert_file, key_file):
        with open(cert_file, 'rb') as c, open(key_file, 'rb') as k:
            cert = c.read()
            key = k.read()
        # Only the first certificate of a chain is what dom0 sees first.
        first = cert.split(b'-----END CERTIFICATE-----', 1)[0]
        return cls(first + b'-----END CERTIFICATE-----\n', key)

    @classmethod
    def ephemeral(cls, name, addresses=()):
        """A fresh self-signed P-256 certificate for ``name``.

        :param addresses: IP addresses it is also valid for (subject
            alternative names, for clients that verify the host name).
        """
        # NOTE: the backend argument is required by cryptography before
        # 3.1 (Ussuri ships 2.9) and ignored after.
        backend = default_backend()
        key = ec.generate_private_key(ec.SECP256R1(), backend)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder()
                   .subject_name(subject).issuer_name(subject)
                   .public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + EPHEMERAL_LIFETIME))
        if addresses:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(a))
                 for a in addresses]), critical=False)
        cert = builder.sign(key, hashes.SHA256(), backend)
        return cls(cert.public_bytes(serialization.Encoding.PEM),
                   key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
