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

"""Which XAPI certificate the helper believes, host by host.

Every XenServer host makes its own self-signed certificate when it is
installed, and one conversion may talk to three hosts: the one in the host
table, the pool master a member names in ``HOST_IS_SLAVE``, and the member
``import_raw_vdi`` redirects to when the SR is local to it. Both answers
name a host by its XAPI ``address``. So trust is looked up by the address
connected to: a ``sha256:`` pin of the certificate (the DER encoding's
SHA-256, as ``openssl x509 -fingerprint -sha256`` prints it) or a CA file
for that address (``host_certificates``); else ``ca_file`` or the system
CAs; else, with ``insecure``, nothing.
"""

import re
import socket
import ssl

from xenimage_import import exception
from xenimage_import.helpers.xenserver import tls as tls_mod

PIN_PREFIX = 'sha256:'
_HEX = re.compile(r'^[0-9a-f]{64}$')


class UntrustedCertificate(exception.ConversionFailed):
    pass


def parse_pin(value):
    """``sha256:AB:CD:...`` (colons optional) -> 64 lower-case hex digits.

    :raises ValueError: not a SHA-256 pin.
    """
    digits = value[len(PIN_PREFIX):].replace(':', '').strip().lower()
    if not value.lower().startswith(PIN_PREFIX) or not _HEX.match(digits):
        raise ValueError('not a sha256: fingerprint of 32 bytes')
    return digits


def shown(digits):
    """A fingerprint as ``openssl x509 -fingerprint`` prints it.

    ``AB:CD:...``: the form operators compare and paste (any form is
    accepted back, see :func:`parse_pin`).
    """
    return ':'.join(digits[i:i + 2] for i in range(0, len(digits), 2)).upper()


def client_context(ca_file=None, insecure=False):
    """A client context: verified by ``ca_file``/the system, or not."""
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=ca_file)


class Trust(object):
    """Per-address trust of XAPI's HTTPS certificates.

    :param per_host: ``{address: 'sha256:<hex>' or CA file}``.
    :raises ValueError: an entry that is neither, naming its address.
    """

    def __init__(self, ca_file=None, insecure=False, per_host=None):
        self._default = client_context(ca_file, insecure)
        # What vouches for a host without an entry of its own, for messages.
        self._default_source = ('[xenimage_xenserver] ca_file' if ca_file
                                else "this node's system CAs")
        self._pins = {}
        self._contexts = {}
        for address, value in (per_host or {}).items():
            address = address.strip().strip('[]').lower()
            value = value.strip()
            if value.lower().startswith(PIN_PREFIX):
                try:
                    self._pins[address] = parse_pin(value)
                except ValueError as e:
                    raise ValueError('host_certificates entry for %s: %s'
                                     % (address, e))
            else:
                try:
                    self._contexts[address] = client_context(value)
                except (OSError, ssl.SSLError):
                    raise ValueError(
                        'host_certificates entry for %s is neither '
                        'sha256:<hex> nor a readable CA file' % address)

    @classmethod
    def from_group(cls, group):
        return cls(group.ca_file, group.insecure, group.host_certificates)

    def wrap(self, sock, address):
        """TLS over ``sock`` to ``address``, its certificate checked.

        :raises UntrustedCertificate: a pin that does not match, or a
            certificate its CA does not vouch for.
        """
        key = address.strip('[]').lower()
        pin = self._pins.get(key)
        if pin is not None:
            # NOTE: a pinned certificate is the host's own self-signed one:
            # nothing to verify it against but the pin, checked before any
            # byte (session ids, passwords) is sent.
            context = client_context(insecure=True)
        else:
            context = self._contexts.get(key, self._default)
        source = ('its host_certificates CA file' if key in self._contexts
                  else self._default_source)
        try:
            tls = context.wrap_socket(sock, server_hostname=address.strip(
                '[]'))
        except ssl.SSLCertVerificationError as e:
            sock.close()
            raise UntrustedCertificate(
                'XenServer host %s: its certificate is not trusted (%s) by '
                '%s; pin it in [xenimage_xenserver] host_certificates as '
                '%s:sha256:<its fingerprint>' % (
                    address, e.verify_message or e.reason, source, address))
        if pin is not None:
            found = tls_mod.fingerprint(tls.getpeercert(binary_form=True))
            if found != pin:
                tls.close()
                raise UntrustedCertificate(
                    'XenServer host %s: certificate sha256:%s is not the one '
                    'pinned in host_certificates (sha256:%s); refused' % (
                        address, shown(found), shown(pin)))
        return tls

    def connect(self, host, port, timeout):
        """A TLS connection to ``host``:``port``, checked as ``wrap``."""
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            return self.wrap(sock, host)
        except BaseException:
            sock.close()
            raise
