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

"""Replay the pipeline fuzzer's corpus through the real commands.

Every input kept by ``python -m tests.fuzz.pipeline`` (one per kind of
outcome, findings included once fixed) is judged again, one test per
input: one-line refusal or a faithful conversion, bounded memory,
nothing left behind, GNU tar agreeing with the checker.
"""

import os
import shutil
import tempfile

import testtools

from tests.fuzz import pipeline

CORPUS = os.path.join(os.path.dirname(__file__), '..', 'fuzz', 'corpus',
                      'pipeline')


class PipelineCorpusTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.scratch = tempfile.mkdtemp(prefix='xenimage-replay-')
        self.addCleanup(shutil.rmtree, self.scratch, True)

    def replay(self, name):
        with open(os.path.join(CORPUS, name), 'rb') as f:
            data = f.read()
        try:
            return pipeline.judge(data, os.path.join(self.scratch, 'run'))
        except AssertionError as e:
            self.fail('%s: %s' % (name, e))

    def test_corpus_covers_conversions_and_refusals(self):
        kinds = {name.split('.', 1)[1].rsplit('-', 1)[0]
                 for name in os.listdir(CORPUS)}
        for seed in ('raw', 'qcow2', 'vhd', 'vmdk', 'vdi', 'vhdx', 'tgz',
                     'disk'):
            self.assertIn(seed, kinds)


def _add_replays():
    for name in sorted(os.listdir(CORPUS)):
        def test(self, name=name):
            self.replay(name)
        setattr(PipelineCorpusTest, 'test_replay_%s' % name.replace(
            '.', '_').replace('-', '_'), test)


_add_replays()
