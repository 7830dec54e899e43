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

import argparse
import functools
import json
import logging
import os
import sys

from xenimage_import import exception
from xenimage_import import progress


def setup_logging(verbose):
    """Keep library warnings quiet unless asked for.

    Errors are reported once, as the tool's one-line reason.
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.CRITICAL,
                        format='%(levelname)s %(name)s: %(message)s')


class _Version(argparse.Action):
    """Print the installed version; looked up only when asked for."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0,
                         help='print the version and exit')

    def __call__(self, parser, namespace, values, option_string=None):
        # importlib.metadata costs a fifth of start-up: only --version
        # pays it.
        import importlib.metadata
        print('%s %s' % (parser.prog,
                         importlib.metadata.version('xenimage_import')))
        parser.exit()


def add_version(parser):
    """``--version``: the installed package's version (pbr sets it)."""
    parser.add_argument('--version', action=_Version)


def count(minimum):
    """An argparse type: a whole number of at least ``minimum``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError('%r is not a whole number'
                                             % text)
        if value < minimum:
            raise argparse.ArgumentTypeError('%d is below %d'
                                             % (value, minimum))
        return value
    return parse


def command(main):
    """``main`` as a console script: quiet when its reader leaves early.

    ``xenimage-check *.tgz | head`` closes stdout under the command;
    Python would print a traceback, and another at exit when it flushes.
    The work is done by then (outputs are placed before anything is
    printed), so the command ends as tools do on a closed pipe.
    """
    @functools.wraps(main)
    def run(argv=None):
        try:
            code = main(argv)
            sys.stdout.flush()
            return code
        except BrokenPipeError:
            # stdout stays open on /dev/null, for the flush at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            return BROKEN_PIPE
    return run


# What a shell reports for a command killed by SIGPIPE (128 + 13).
BROKEN_PIPE = 141


def fail(error, code=1, as_json=False):
    """Print a one-line reason to stderr and return the exit code.

    With ``as_json`` the reason is also printed on stdout as
    ``{"error": ...}``, for callers that parse the output.
    """
    if isinstance(error, OSError) and error.filename:
        message = '%s: %s' % (error.filename, error.strerror or error)
    else:
        message = str(error)
    line = message.splitlines()[0] if message else 'failed'
    if as_json:
        print(json.dumps({'error': line, 'exit_code': code}))
    prog = os.path.basename(sys.argv[0]) or 'xenimage'
    print('%s: error: %s' % (prog, line), file=sys.stderr)
    return code


class ProgressBar(progress.Progress):
    """A one-line progress bar on stderr, only when it is a terminal."""

    WIDTH = 30
    interval = 0.2
    show_final = True

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.last = 0.0             # the first state shows at once
        self._shown = False

    def __call__(self, phase, done, total):
        if self.enabled:
            super().__call__(phase, done, total)

    def show(self, phase, done, total, rate):
        frac = done / total if total else 1.0
        filled = int(frac * self.WIDTH)
        self.stream.write('\r%-5s [%s%s] %3d%% %s/s ' % (
            phase, '#' * filled, '.' * (self.WIDTH - filled), frac * 100,
            exception.human_size(rate)))
        self.stream.flush()
        self._shown = True

    def close(self):
        if self._shown:
            self.stream.write('\n')
            self.stream.flush()
