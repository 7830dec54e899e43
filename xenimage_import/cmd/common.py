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

"""What the command-line tools share: one-line errors, a progress bar."""

import logging
import os
import sys
import time

from xenimage_import import exception


def setup_logging(verbose):
    """Keep library warnings quiet unless asked for.

    Errors are reported once, as the tool's one-line reason.
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.CRITICAL,
                        format='%(levelname)s %(name)s: %(message)s')


def fail(error, code=1):
    """Print a one-line reason to stderr and return the exit code."""
    if isinstance(error, OSError) and error.filename:
        message = '%s: %s' % (error.filename, error.strerror or error)
    else:
        message = str(error)
    prog = os.path.basename(sys.argv[0]) or 'xenimage'
    print('%s: error: %s' % (prog, message.splitlines()[0] if message
                             else 'failed'), file=sys.stderr)
    return code


class ProgressBar(object):
    """A one-line progress bar on stderr, only when it is a terminal."""

    WIDTH = 30
    INTERVAL = 0.2

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._last = 0.0
        self._start = time.monotonic()
        self._shown = False

    def update(self, phase, done, total):
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < self.INTERVAL and done < total:
            return
        self._last = now
        frac = done / total if total else 1.0
        filled = int(frac * self.WIDTH)
        rate = done / max(now - self._start, 1e-6)
        self.stream.write('\r%-5s [%s%s] %3d%% %s/s ' % (
            phase, '#' * filled, '.' * (self.WIDTH - filled), frac * 100,
            exception.human_size(rate)))
        self.stream.flush()
        self._shown = True

    def close(self):
        if self._shown:
            self.stream.write('\n')
            self.stream.flush()
