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

"""Options of the ``xenserver`` helper: ``[xenimage_xenserver]`` and the
Nova discovery of hosts, ``[xenimage_nova]``.

Registered only when the helper is loaded; ``list_opts`` is the
``xenimage_import.xenserver`` namespace of oslo-config-generator.
"""

from oslo_config import cfg

GROUP = 'xenimage_xenserver'
NOVA_GROUP = 'xenimage_nova'

xenserver_opts = [
    cfg.DictOpt('hosts',
                default={},
                help="""
XenServer hosts that may convert, as ``name:XAPI URL`` pairs.

The name is the host name Nova reports as ``hypervisor_hostname`` (used
when ``use_nova`` is set); the URL is the XAPI endpoint of the host or of
its pool master (``https://10.0.0.11``); a pool member answering
``HOST_IS_SLAVE`` is followed to the master. Each host needs the dom0
plugin (``xenimage-dom0-plugin script | ssh root@HOST sh``).

Example: ``hosts = xs-01:https://10.0.0.11,xs-02:https://10.0.0.12``
"""),
    cfg.StrOpt('username',
               default='root',
               help="""
XAPI user for every host without an entry in ``host_credentials``. It
needs the pool-admin role (``host.call_plugin``).
"""),
    cfg.StrOpt('password',
               secret=True,
               help='Password of ``username``.'),
    cfg.DictOpt('host_credentials',
                default={},
                secret=True,
                help="""
Per-host XAPI credentials as ``name:user/password`` pairs, for hosts whose
credentials differ from ``username`` and ``password``.
"""),
    cfg.StrOpt('sr_uuid',
               help="""
UUID of the storage repository images are written to. It must be a file
SR (type ``ext`` or ``nfs``): only those keep each VDI as a VHD file the
plugin can send. Unset: the pool's default SR.
"""),
    cfg.IntOpt('sr_free_space_margin',
               default=1024,
               min=0,
               help="""
MiB the SR must keep free beyond the image's VHD before a conversion
starts. Thin ext and nfs SRs never refuse ``VDI.create`` for lack of
space: running out shows only as ``VDI_IO_ERROR`` in the middle of the
import, after filling an SR that may hold running VMs' disks. So the
helper refuses up front, naming the SR and the numbers.
"""),
    cfg.StrOpt('ca_file',
               help="""
CA bundle that verifies the XAPI HTTPS certificate of hosts without an
entry in ``host_certificates``. Unset: the system CAs.
"""),
    cfg.DictOpt('host_certificates',
                default={},
                help="""
How to trust each XAPI host's HTTPS certificate, as ``address:trust``
pairs. Every XenServer host has its own self-signed certificate, and a
conversion may reach hosts that are not in ``hosts``: the pool master a
member names, and the member that holds a local SR, which XAPI names by
their ``address`` (``xe host-list params=address``). So the key is the
address as connected to (IPv4 address or name), and the trust either
``sha256:<fingerprint>`` of the host's certificate, colons allowed
(``openssl x509 -noout -fingerprint -sha256 -in
/etc/xensource/xapi-ssl.pem`` on the host), or the path of a CA file that
verifies it. Hosts without an entry are verified with ``ca_file`` (or not
at all with ``insecure``).

Example: ``host_certificates = 10.0.0.11:sha256:5E:0A:...,10.0.0.12:...``
"""),
    cfg.BoolOpt('insecure',
                default=False,
                help="""
Do not verify the XAPI HTTPS certificate of hosts without an entry in
``host_certificates`` (XenServer ships a self-signed one; prefer a pin).
For test pools only.
"""),
    cfg.IntOpt('api_timeout',
               default=60,
               min=1,
               help='Seconds one XAPI call may take.'),
    cfg.IntOpt('import_timeout',
               default=3600,
               min=1,
               help="""
Seconds the upload of the image into its VDI (``import_raw_vdi`` and its
task) may take.
"""),
    cfg.IntOpt('export_timeout',
               default=3600,
               min=1,
               help="""
Seconds the dom0 plugin may take to check the VHD and send the tarball
back. Past it the plugin task is cancelled and the import fails.
"""),
    cfg.StrOpt('transfer_format',
               default='vhd',
               choices=(('vhd', 'dom0 sends the SR\'s VHD file as it is (only '
                         'its allocated blocks); this node packs it with '
                         'its threaded compressor'),
                        ('tgz', 'dom0 packs and gzips the tarball on one of '
                         'its cores (dom0_compression_level) and sends '
                         'that')),
               help="""
How the converted VHD comes back from dom0. ``vhd`` moves about twice the
bytes of ``tgz`` over the network but spends no dom0 CPU on compression,
which on one dom0 core is the slowest step of a conversion; prefer ``tgz``
only when the link between dom0 and this node is slow (well under
1 Gbit/s) or metered.
"""),
    cfg.IntOpt('dom0_compression_level',
               default=1,
               min=1,
               max=9,
               help="""
gzip level dom0 compresses the tarball with, on one dom0 core, when
``transfer_format = tgz``. 1 is about three times faster than 6 (what
``tar -czf`` uses) for a tarball about a tenth larger.
"""),
    cfg.HostAddressOpt('receiver_address',
                       help="""
Address of this node that dom0 connects to when it sends the tarball back.
dom0 must be able to open a TCP connection to it on a port of
``receiver_port_range``. Unset: ``receiver_bind_host`` if it is not a
wildcard, else this host's name, but only if that name resolves to exactly
one address that is not loopback; otherwise the helper refuses to start
and says to set this option.
"""),
    cfg.HostAddressOpt('receiver_bind_host',
                       default='0.0.0.0',
                       help='Address the one-shot HTTPS receiver listens on.'),
    cfg.StrOpt('receiver_port_range',
               default='9690:9699',
               regex=r'^[0-9]{1,5}:[0-9]{1,5}$',
               help="""
Ports (``first:last``) the receiver may listen on: one per conversion in
progress on this node.
"""),
    cfg.IntOpt('receiver_timeout',
               default=300,
               min=1,
               help="""
Seconds dom0 has to start sending once the plugin was called; past it the
export is cancelled and the import fails.
"""),
    cfg.StrOpt('receiver_cert_file',
               help="""
PEM certificate of the receiver. dom0 pins it by its SHA-256 fingerprint,
which the driver passes in each plugin call, so a self-signed one is
enough. Unset: a self-signed certificate is made for each conversion.
"""),
    cfg.StrOpt('receiver_key_file',
               help='PEM private key of ``receiver_cert_file``.'),
    cfg.BoolOpt('use_nova',
                default=False,
                help="""
Choose among the XenServer hypervisors Nova reports as up and enabled
(credentials in ``[xenimage_nova]``), keeping only those named in
``hosts``. Off: every host in ``hosts`` is a candidate. Either way the
candidate with the most free space on its SR converts.
"""),
]

nova_opts = [
    cfg.StrOpt('region_name',
               help='Region of the compute endpoint.'),
    cfg.StrOpt('interface',
               default='public',
               choices=(('public', 'the public endpoint'),
                        ('internal', 'the internal endpoint'),
                        ('admin', 'the admin endpoint')),
               help='Endpoint interface of the compute service.'),
]


def register_opts(conf):
    """Options of the ``xenserver`` helper and its Nova discovery."""
    # NOTE: imported here: keystoneauth's loaders cost 0.1 s of start-up
    # that the local helper and the checker never need.
    from keystoneauth1 import loading as ks_loading
    conf.register_opts(xenserver_opts, group=GROUP)
    conf.register_opts(nova_opts, group=NOVA_GROUP)
    ks_loading.register_session_conf_options(conf, NOVA_GROUP)
    ks_loading.register_auth_conf_options(conf, NOVA_GROUP)


def list_opts():
    from keystoneauth1 import loading as ks_loading
    nova = (nova_opts + ks_loading.get_session_conf_options()
            + ks_loading.get_auth_common_conf_options()
            + ks_loading.get_auth_plugin_conf_options('password'))
    return [(GROUP, xenserver_opts), (NOVA_GROUP, nova)]


def port_range(value):
    """``first:last`` -> (first, last); nonsense is refused early."""
    try:
        first, last = (int(p) for p in value.split(':', 1))
    except ValueError:
        first = last = -1
    if not 0 < first <= last < 65536:
        raise ValueError('receiver_port_range %r is not first:last' % value)
    return first, last
