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
outcome, findings included once fixed) is judged again: one-line refusal
or a faithful conversion, bounded memory, nothing left behind, GNU tar
agreeing with the checker.
"""

import os
import shutil
import tempfile

import testtools

from tests.fuzz import pipeline

CORPUS = os.path.join(os.path.dirname(__file__), '..', 'fuzz', 'corpus',
                      'pipeline')


class PipelineCorpusTest(testtools.TestCase):

    def test_every_corpus_input_keeps_the_promises(self):
        names = sorted(os.listdir(CORPUS))
        self.assertGreater(len(names), 20)
        scratch = tempfile.mkdtemp(prefix='xenimage-replay-')
        self.addCleanup(shutil.rmtree, scratch, True)
        outcomes = set()
        for name in names:
            with open(os.path.join(CORPUS, name), 'rb') as f:
                data = f.read()
            try:
                outcomes.add(pipeline.judge(data, os.path.join(scratch,
                                                               name)))
            except AssertionError as e:
                self.fail('%s: %s' % (name, e))
        # The corpus covers conversions and many kinds of refusal.
        self.assertIn('converted', outcomes)
        self.assertGreater(len(outcomes), 10)
