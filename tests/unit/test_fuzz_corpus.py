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

"""Replay every input the fuzzer kept: none may raise an undocumented
error (crashes found by python -m tests.fuzz stay here as regressions).
"""

import os

import testtools

from tests.fuzz import targets

CORPUS = os.path.join(os.path.dirname(__file__), '..', 'fuzz', 'corpus')


class FuzzCorpusTest(testtools.TestCase):

    def replay(self, target):
        directory = os.path.join(CORPUS, target)
        names = sorted(os.listdir(directory))
        self.assertGreater(len(names), 0, 'empty corpus for %s' % target)
        for name in names:
            with open(os.path.join(directory, name), 'rb') as f:
                data = f.read()
            try:
                targets.TARGETS[target](data)
            except Exception as e:
                self.fail('%s/%s: %r' % (target, name, e))

    def test_vhd_corpus(self):
        self.replay('vhd')

    def test_tarball_corpus(self):
        self.replay('tarball')

    def test_inspect_corpus(self):
        self.replay('inspect')
