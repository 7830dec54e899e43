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

"""Which XenServer host converts: a configured table, optionally Nova.

The table (``[xenimage_xenserver] hosts``) is the only source of XAPI URLs
and credentials: Nova never exposes them (a hypervisor's ``host_ip`` is
the compute domU, not dom0). With ``use_nova``, Nova's hypervisor list
narrows the table to XenServer hypervisors that are up and enabled; a
host Nova lists but the table does not name is never used (fail closed).
"""

import dataclasses
import logging

from xenimage_import import exception
from xenimage_import.helpers.xenserver import opts as xs_opts

LOG = logging.getLogger(__name__)

# Nova's XenAPI driver reports 'XenServer'; drivers before it said 'xen'.
XENSERVER_TYPES = ('xenserver', 'xen')
# 2.1 has every field used here and is served by every Nova that still
# had the XenAPI driver (removed in Victoria).
NOVA_MICROVERSION = '2.1'


class NoHostAvailable(exception.XenImageError):
    pass


@dataclasses.dataclass
class XenServerHost(object):
    name: str
    url: str
    username: str
    password: str = dataclasses.field(repr=False, default='')


def configured_hosts(group):
    """``[xenimage_xenserver]`` -> {name: XenServerHost}; never empty."""
    if not group.hosts:
        raise NoHostAvailable('no XenServer host is configured; set '
                              '[xenimage_xenserver] hosts')
    hosts = {}
    for name, url in sorted(group.hosts.items()):
        username, password = group.username, group.password or ''
        if name in group.host_credentials:
            username, _, password = group.host_credentials[name].partition(
                '/')
        hosts[name] = XenServerHost(name, url.strip(), username, password)
    return hosts


def nova_hypervisors(conf):
    """Host names of the XenServer hypervisors Nova has up and enabled.

    One ``GET /os-hypervisors/detail`` through a keystoneauth1 session:
    microversion 2.1 lists every hypervisor in one page and has answered
    the same since Nova 14.
    """
    from keystoneauth1 import loading

    group = xs_opts.NOVA_GROUP
    try:
        auth = loading.load_auth_from_conf_options(conf, group)
        sess = loading.load_session_from_conf_options(conf, group,
                                                      auth=auth)
        found = sess.get('/os-hypervisors/detail', endpoint_filter={
            'service_type': 'compute', 'interface': conf[group].interface,
            'region_name': conf[group].region_name}, headers={
            'OpenStack-API-Version': 'compute %s' % NOVA_MICROVERSION,
            'X-OpenStack-Nova-API-Version': NOVA_MICROVERSION,
        }).json()['hypervisors']
    except Exception as e:
        raise NoHostAvailable('cannot list hypervisors from Nova: %s; check '
                              '[%s]' % (e, group))
    names = []
    for hv in found:
        kind = (hv.get('hypervisor_type') or '').lower()
        if kind not in XENSERVER_TYPES:
            continue
        if hv.get('state') != 'up' or hv.get('status') != 'enabled':
            LOG.info('Nova hypervisor %s is %s/%s; not used',
                     hv.get('hypervisor_hostname'), hv.get('state'),
                     hv.get('status'))
            continue
        names.append(hv.get('hypervisor_hostname'))
    return names


def candidates(conf):
    """The hosts that may convert, before ranking by free SR space."""
    group = conf[xs_opts.GROUP]
    table = configured_hosts(group)
    if not group.use_nova:
        return list(table.values())
    listed = nova_hypervisors(conf)
    chosen = [table[n] for n in listed if n in table]
    unmapped = sorted(set(listed) - set(table))
    if unmapped:
        LOG.info('Nova XenServer hypervisors without an entry in '
                 '[xenimage_xenserver] hosts, not used: %s',
                 ', '.join(unmapped))
    if not chosen:
        raise NoHostAvailable(
            'Nova reports no up and enabled XenServer hypervisor named in '
            '[xenimage_xenserver] hosts (Nova lists: %s)'
            % (', '.join(listed) or 'none'))
    return chosen


def rank(hosts, free_space):
    """Hosts by free SR space, most first; unreachable ones dropped.

    :param free_space: ``free_space(host)`` -> bytes; raises
        XenImageError when the host cannot be asked.
    """
    ranked = []
    errors = []
    for host in hosts:
        try:
            ranked.append((free_space(host), host))
        except exception.XenImageError as e:
            LOG.warning('XenServer host %s is not usable: %s', host.name, e)
            errors.append(str(e))
    if not ranked:
        raise NoHostAvailable('no configured XenServer host is usable: %s'
                              % '; '.join(errors))
    ranked.sort(key=lambda item: -item[0])
    return [host for _, host in ranked]
