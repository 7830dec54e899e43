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

"""Where dom0 finds this node's receiver, and the proof that it can.

The receiver's advertised address (never a guess), its certificate (the
configured one or a fresh self-signed one, pinned by dom0), and the probe:
dom0 of the SR's host opens TLS to the receiver before anything is
created on the pool, so an unreachable node fails in seconds.
"""

import ipaddress
import socket

from xenimage_import import exception
from xenimage_import.helpers.xenserver import dom0
from xenimage_import.helpers.xenserver import opts as xs_opts
from xenimage_import.helpers.xenserver import receiver as receiver_mod
from xenimage_import.helpers.xenserver import tls
from xenimage_import.helpers.xenserver import xapi


def advertised_address(group):
    """The address dom0 is told to send the tarball to.

    ``receiver_address``, else a specific ``receiver_bind_host``, else this
    node's name, but only when that name resolves to exactly one address
    that is not loopback: dom0 cannot be sent to a guess.

    :raises exception.ConversionFailed: no unambiguous address.
    """
    if group.receiver_address:
        return group.receiver_address
    if group.receiver_bind_host not in ('0.0.0.0', '::', ''):
        return group.receiver_bind_host
    hostname = socket.gethostname()
    resolved = {}
    # NOTE: the fully qualified name first; where /etc/hosts maps the host
    # name to a loopback address, getfqdn() answers "localhost", and the
    # name the operator knows is the host name.
    for name in dict.fromkeys((socket.getfqdn(hostname), hostname)):
        try:
            found = {info[4][0] for info in socket.getaddrinfo(
                name, None, proto=socket.IPPROTO_TCP)}
        except OSError:
            found = set()
        resolved[name] = found
        usable = {a for a in found if not ipaddress.ip_address(
            a.split('%')[0]).is_loopback}
        if len(usable) == 1:
            return name
    raise exception.ConversionFailed(
        'set [xenimage_xenserver] receiver_address to an address dom0 can '
        'reach: this node\'s name %s' % '; '.join(
            '%s resolves to %s' % (name, ', '.join(sorted(found))
                                   or 'nothing')
            for name, found in resolved.items()))


def receiver_certificate(group):
    """The configured receiver certificate, or a fresh self-signed one."""
    if group.receiver_cert_file:
        return tls.ServerCertificate.from_files(group.receiver_cert_file,
                                                group.receiver_key_file)
    return tls.ServerCertificate.ephemeral(advertised_address(group))


# How long dom0 may take to open TLS to the receiver: a reachable node
# answers in well under a second, while a firewall that drops packets makes
# the connect wait the whole time. Always shorter than the XAPI call that
# carries the probe, so the probe's own reason (and its hint) comes back,
# not the call's timeout.
PROBE_SECONDS = 15


def probe_seconds(group):
    """The probe's deadline: PROBE_SECONDS, within the XAPI call's."""
    return max(1, min(PROBE_SECONDS, group.receiver_timeout,
                      group.api_timeout * 2 // 3))


def open_receiver(group, work_dir, prefix, max_bytes):
    """A one-shot receiver at the advertised address, on a free port."""
    return receiver_mod.OneShotReceiver(
        work_dir, prefix, group.receiver_bind_host,
        advertised_address(group),
        xs_opts.port_range(group.receiver_port_range),
        receiver_certificate(group), max_bytes=max_bytes)


def probe(session, pool, rx, group):
    """dom0 of the SR's host opens TLS to ``rx`` and checks its pin.

    Nothing is sent; an unreachable receiver fails here in seconds, with
    what to change, instead of after the import.
    """
    try:
        session.call('host.call_plugin', pool.host, dom0.PLUGIN_NAME,
                     dom0.FN_PROBE, {
                         'url': rx.url,
                         'cert_sha256': rx.certificate.fingerprint,
                         'timeout': str(probe_seconds(group)),
                     })
    except xapi.XapiError as e:
        raise exception.ConversionFailed(
            '%s; dom0 must reach %s (set receiver_address to an address '
            'dom0 can resolve and open receiver_port_range %s in the '
            'firewall)' % (e, rx.address, group.receiver_port_range))
