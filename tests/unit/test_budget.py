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

"""The expansion budget: the map an honest image could have."""

import testtools

from xenimage_import import exception
from xenimage_import.source import budget

MiB = 1024 * 1024


class BudgetTest(testtools.TestCase):

    def test_stored_extents_inside_the_file_and_apart_are_accepted(self):
        judge = budget.Budget('qcow2', 10 * MiB, 400)
        judge.add(0, 4 * MiB, offset=MiB)
        judge.add(64 * MiB, 4 * MiB, offset=5 * MiB)
        self.assertEqual(8 * MiB, judge.stored)

    def test_data_past_the_end_of_the_file_is_damage(self):
        judge = budget.Budget('qcow2', 10 * MiB, 400)
        error = self.assertRaises(exception.InvalidImage, judge.add,
                                  0, 2 * MiB, offset=9 * MiB)
        self.assertIn('past its end', str(error))

    def test_two_extents_sharing_file_bytes_are_refused(self):
        judge = budget.Budget('vmdk', 10 * MiB, 400)
        judge.add(0, 2 * MiB, offset=MiB)
        error = self.assertRaises(exception.UnsafeImage, judge.add,
                                  32 * MiB, 2 * MiB, offset=MiB)
        self.assertIn('already used by other disk bytes', str(error))

    def test_more_stored_than_the_file_holds_is_refused(self):
        # The second extent covers no whole chunk (no claim collides), so
        # the total-size rule is what refuses it.
        judge = budget.Budget('vhd', 4 * MiB, 400)
        judge.add(0, 4 * MiB, offset=0)
        self.assertRaises(exception.UnsafeImage, judge.add,
                          8 * MiB, 300, offset=100)

    def test_compressed_data_is_held_to_the_expansion_ratio(self):
        judge = budget.Budget('qcow2', MiB, 4)
        judge.add(0, 4 * MiB)
        error = self.assertRaises(exception.UnsafeImage, judge.add,
                                  4 * MiB, 1)
        self.assertIn('max_expansion_ratio', str(error))


class BlocksTest(testtools.TestCase):

    def test_each_touched_block_is_listed_once_in_order(self):
        blocks = budget._Blocks()
        blocks.add(0, 1)                    # block 0
        blocks.add(MiB, 2 * MiB)            # blocks 0 (again) and 1
        blocks.add(10 * MiB, 4 * MiB + 1)   # blocks 5, 6 and 7
        self.assertEqual([0, 1, 5, 6, 7], list(blocks.indexes))
