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

"""Progress: byte counts in, shown now and then."""

import io

import testtools

from xenimage_import.cmd import common
from xenimage_import import progress


class _Recorded(progress.Progress):

    def __init__(self, interval, show_final=False):
        super().__init__()
        self.interval = interval
        self.show_final = show_final
        self.shown = []

    def show(self, phase, done, total, rate):
        self.shown.append((phase, done, total))


class ProgressTest(testtools.TestCase):

    def test_a_counter_adds_bytes_from_zero(self):
        seen = []
        count = progress.counter(lambda *a: seen.append(a), 'convert', 10)
        count(4)
        count(6)
        self.assertEqual([('convert', 0, 10), ('convert', 4, 10),
                          ('convert', 10, 10)], seen)

    def test_no_callback_no_counter(self):
        self.assertIsNone(progress.counter(None, 'convert', 10))

    def test_nothing_is_shown_within_the_interval(self):
        shown = _Recorded(interval=3600)
        for done in (1, 5, 10):
            shown('convert', done, 10)
        self.assertEqual([], shown.shown)

    def test_the_final_state_is_shown_when_asked(self):
        shown = _Recorded(interval=3600, show_final=True)
        shown('convert', 5, 10)
        shown('convert', 10, 10)
        self.assertEqual([('convert', 10, 10)], shown.shown)

    def test_every_state_past_the_interval_is_shown(self):
        shown = _Recorded(interval=0)
        shown('import', 1, 2)
        shown('import', 2, 2)
        self.assertEqual([('import', 1, 2), ('import', 2, 2)], shown.shown)

    def test_the_bar_draws_only_on_a_terminal(self):
        class Tty(io.StringIO):
            def isatty(self):
                return True
        for stream, drawn in ((io.StringIO(), False), (Tty(), True)):
            bar = common.ProgressBar(stream)
            bar('convert', 5, 10)
            bar.close()
            self.assertEqual(drawn, '50%' in stream.getvalue())
