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

"""Snapshot chains: their names, and their links as XenServer checks them."""

import fixtures
import testtools

from tests import vhdchain
from xenimage_import import exception
from xenimage_import.vhd import chain

MiB = 1024 * 1024


class OrderTest(testtools.TestCase):

    def test_numbered_layers_come_leaf_first(self):
        self.assertEqual(['0.vhd', '1.vhd', '2.vhd'],
                         chain.order(['2.vhd', '0.vhd', '1.vhd']))

    def test_old_style_names_keep_their_order(self):
        self.assertEqual(['snap.vhd', 'image.vhd', 'base.vhd'],
                         chain.order(['base.vhd', 'snap.vhd', 'image.vhd']))

    def test_a_gap_is_refused_by_the_missing_name(self):
        error = self.assertRaises(exception.InvalidImage, chain.order,
                                  ['0.vhd', '2.vhd'])
        self.assertIn('1.vhd is missing', str(error))

    def test_mixed_naming_is_refused(self):
        self.assertRaises(exception.InvalidImage, chain.order,
                          ['0.vhd', 'base.vhd'])

    def test_deeper_than_xenserver_takes_is_refused(self):
        names = ['%d.vhd' % i for i in range(chain.MAX_DEPTH + 1)]
        error = self.assertRaises(exception.InvalidImage, chain.order, names)
        self.assertIn('at most %d' % chain.MAX_DEPTH, str(error))


class LinksTest(testtools.TestCase):

    def open(self, layers):
        d = self.useFixture(fixtures.TempDir()).path
        paths = vhdchain.write_layers(d, layers)
        names = ['%d.vhd' % i for i in range(len(paths))]
        return chain.open_chain(dict(zip(names, paths)), names)

    def layers(self, depth=2):
        return vhdchain.link([vhdchain.Layer(4 * MiB, {})
                              for _ in range(depth)])

    def test_a_linked_chain_opens_leaf_first(self):
        leaf, base = self.layers()
        opened = self.open([leaf, base])
        self.assertEqual(['0.vhd', '1.vhd'], [layer.name for layer in opened])

    def test_a_child_naming_another_parent_is_refused(self):
        leaf, base = self.layers()
        leaf.parent_id = b'\x01' * 16
        error = self.assertRaises(exception.InvalidImage, self.open,
                                  [leaf, base])
        self.assertIn('names parent', str(error))

    def test_a_parent_larger_than_its_child_is_refused(self):
        leaf, base = self.layers()
        base.size = 8 * MiB
        error = self.assertRaises(exception.InvalidImage, self.open,
                                  [leaf, base])
        self.assertIn('is larger than its child', str(error))

    def test_a_hidden_leaf_is_refused(self):
        leaf, base = self.layers()
        leaf.hidden = 1
        error = self.assertRaises(exception.InvalidImage, self.open,
                                  [leaf, base])
        self.assertIn('is hidden', str(error))
