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

"""A conversion's progress: one callback shape, one way to show it.

Everything that does work reports ``progress(phase, done, total)`` in
bytes; :func:`counter` turns a stream of byte counts into such calls.
:class:`Progress` is what receives them: it measures the rate and shows
the state at most every ``interval`` seconds, as a log line (the Glance
plugin) or a terminal bar (the commands).
"""

import time


class Progress(object):
    """Receives ``(phase, done, total)``; shows it now and then."""

    # Seconds between two showings.
    interval = 5.0
    # Show the last state (done == total) even within the interval.
    show_final = False

    def __init__(self):
        self.start = self.last = time.monotonic()

    def __call__(self, phase, done, total):
        now = time.monotonic()
        if now - self.last < self.interval and not (
                self.show_final and done >= total):
            return
        self.last = now
        self.show(phase, done, total, done / max(now - self.start, 1e-6))

    def show(self, phase, done, total, rate):
        raise NotImplementedError

    def close(self):
        """The work ended: tidy what showing it left (a bar's line)."""


class _Counter(object):
    """Feed byte counts to a ``progress(phase, done, total)`` callback."""

    def __init__(self, callback, phase, total):
        self.callback = callback
        self.phase = phase
        self.total = total
        self.done = 0
        callback(phase, 0, total)

    def __call__(self, nbytes):
        self.done += nbytes
        self.callback(self.phase, self.done, self.total)


def counter(callback, phase, total):
    """A byte counter feeding ``callback``, or None without one."""
    return _Counter(callback, phase, total) if callback else None
