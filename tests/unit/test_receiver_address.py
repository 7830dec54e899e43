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

"""Which address dom0 is told to send to: never a guess."""

import socket

import fixtures
from oslo_config import cfg
import testtools

from xenimage_import import exception
from xenimage_import.helpers.xenserver import endpoint
from xenimage_import.helpers.xenserver import opts as xs_opts


def _addrinfo(*addresses):
    def resolve(name, port, proto=0):
        return [(socket.AF_INET6 if ':' in a else socket.AF_INET,
                 socket.SOCK_STREAM, proto, '', (a, 0)) for a in addresses]
    return resolve


class AdvertisedAddressTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.conf = cfg.ConfigOpts()
        xs_opts.register_opts(self.conf)
        self.conf([])
        self.naming('glance-01', 'glance-01.example')

    def naming(self, hostname, fqdn):
        self.useFixture(fixtures.MonkeyPatch('socket.gethostname',
                                             lambda: hostname))
        self.useFixture(fixtures.MonkeyPatch('socket.getfqdn',
                                             lambda name='': fqdn))

    def resolving(self, *addresses, **per_name):
        resolve = _addrinfo(*addresses)
        self.useFixture(fixtures.MonkeyPatch(
            'socket.getaddrinfo', lambda name, port, proto=0: (
                _addrinfo(*per_name[name])(name, port, proto)
                if name in per_name else resolve(name, port, proto))))

    def address(self, **options):
        for key, value in options.items():
            self.conf.set_override(key, value, xs_opts.GROUP)
        return endpoint.advertised_address(self.conf[xs_opts.GROUP])

    def test_explicit_address_and_specific_bind_host_win(self):
        self.resolving()
        self.assertEqual('10.0.0.5', self.address(receiver_address='10.0.0.5'))
        self.conf.clear_override('receiver_address', xs_opts.GROUP)
        self.assertEqual('10.0.0.6',
                         self.address(receiver_bind_host='10.0.0.6'))

    def test_name_with_one_routable_address(self):
        self.resolving('10.0.0.7', '10.0.0.7')
        self.assertEqual('glance-01.example', self.address())

    def test_ambiguous_loopback_or_unresolved_name_is_refused(self):
        for addresses in (('10.0.0.7', '192.168.1.7'), ('127.0.1.1',),
                          ('::1',), ()):
            self.resolving(*addresses)
            error = self.assertRaises(exception.ConversionFailed,
                                      self.address)
            self.assertIn('set [xenimage_xenserver] receiver_address',
                          str(error))
            self.assertIn('glance-01.example resolves to', str(error))

    def test_a_host_name_behind_localhost_is_found_and_named(self):
        # /etc/hosts mapping the host name to 127.0.1.1 makes getfqdn()
        # answer "localhost": the host name itself is what dom0 is given,
        # or named when it does not resolve either.
        self.naming('glance-01', 'localhost')
        self.resolving(localhost=('127.0.0.1',), **{'glance-01':
                                                    ('10.0.0.7',)})
        self.assertEqual('glance-01', self.address())
        self.resolving(localhost=('127.0.0.1',), **{'glance-01':
                                                    ('127.0.1.1',)})
        error = self.assertRaises(exception.ConversionFailed, self.address)
        self.assertIn('localhost resolves to 127.0.0.1; glance-01 resolves '
                      'to 127.0.1.1', str(error))
