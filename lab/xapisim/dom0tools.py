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

"""Simulator stand-ins for dom0's ``vhd-util`` and ``tap-ctl``.

blktap is not packaged for Debian, so these answer the few sub-commands
the dom0 plugin runs, with blktap's output shapes and exit codes
(``F is valid``; ``F has no parent``; ``hidden: N``; the ``read -p``
footer summary; ``tap-ctl list`` lines with ``args=vhd:PATH``). The
validity verdict is xenimage_import's reader, which implements
``vhd-util check``'s rules (doc/source/reference/tap-vhd.rst) plus two
that vhd-util does not apply and that are dropped here: the creator must
be tap and the VHD must not be hidden.

``install(root)`` writes executable wrappers at ROOT/usr/bin/vhd-util and
ROOT/usr/sbin/tap-ctl; ``tap-ctl list`` prints ROOT/run/tapdisks.
"""

import os
import sys

from xenimage_import.vhd import layout as L
from xenimage_import.vhd import reader

EINVAL = 22
# Checks of our reader that are not vhd-util check's.
_NOT_VHD_UTIL_CHECKS = ('footer.creator', 'footer.hidden', 'footer.disk_type',
                        'header.parent')
TAPDISKS = 'run/tapdisks'


def _footer(path):
    with open(path, 'rb') as f:
        f.seek(-L.FOOTER_SIZE, os.SEEK_END)
        return reader.parse_footer(f.read(L.FOOTER_SIZE))


def _check(path):
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        report = reader.validate_vhd(f, size)
    problems = [p for p in report.problems
                if p.check not in _NOT_VHD_UTIL_CHECKS]
    if problems:
        for p in problems:
            print('%s: %s' % (p.check, p.message))
        print('%s appears invalid; dumping metadata' % path)
        return EINVAL
    print('%s is valid' % path)
    return 0


def _query(path, flags):
    footer = _footer(path)
    if footer is None:
        print('error opening %s: -22' % path)
        return EINVAL
    for flag in flags:
        if flag == '-v':
            print(footer.current_size >> 20)
        elif flag == '-s':
            print(os.path.getsize(path))
        elif flag == '-p':
            if footer.disk_type == L.DISK_TYPE_DIFFERENCING:
                print(os.path.join(os.path.dirname(path), 'parent.vhd'))
            else:
                print('%s has no parent' % path)
        elif flag == '-f':
            print('hidden: %d' % footer.hidden)
    return 0


def _read_footer(path):
    footer = _footer(path)
    if footer is None:
        print('error opening %s: -22' % path)
        return EINVAL
    creator = footer.creator_application.rstrip(b'\0').decode('latin-1')
    version = footer.creator_version
    print('VHD Footer Summary:\n-------------------')
    print('Cookie              : %s' % footer.cookie.decode('latin-1'))
    print('Features            : (0x%08x)' % footer.features)
    print('Data offset         : %d' % footer.data_offset)
    print("Creator Application : '%s'" % creator)
    print('Creator version     : Major: %d, Minor: %d'
          % (version >> 16, version & 0xffff))
    print('Original disk size  : %d MB (%d Bytes)'
          % (footer.original_size >> 20, footer.original_size))
    print('Current disk size   : %d MB (%d Bytes)'
          % (footer.current_size >> 20, footer.current_size))
    print('Disk type           : %s hard disk'
          % L.DISK_TYPES.get(footer.disk_type, 'unknown').capitalize())
    print('Hidden              : %d' % footer.hidden)
    return 0


def vhd_util(argv):
    if len(argv) < 3 or '-n' not in argv:
        print('usage: vhd-util COMMAND -n NAME', file=sys.stderr)
        return EINVAL
    command = argv[0]
    path = argv[argv.index('-n') + 1]
    flags = [a for a in argv[1:] if a.startswith('-') and a != '-n']
    if not os.path.isfile(path):
        print('error opening %s: -2' % path)
        return 2
    if command == 'check':
        return _check(path)
    if command == 'query':
        return _query(path, flags)
    if command == 'read' and '-p' in flags:
        return _read_footer(path)
    print('vhd-util stand-in: %s not simulated' % command, file=sys.stderr)
    return EINVAL


def tap_ctl(argv, root):
    if argv[:1] != ['list']:
        print('tap-ctl stand-in: only list is simulated', file=sys.stderr)
        return EINVAL
    try:
        with open(os.path.join(root, TAPDISKS)) as f:
            sys.stdout.write(f.read())
    except FileNotFoundError:
        pass
    return 0


_WRAPPER = '''#!%(python)s
import sys
sys.path.insert(0, %(repo)r)
from lab.xapisim import dom0tools
sys.exit(dom0tools.%(call)s)
'''


def install(root):
    """Write the wrappers under ``root`` (the plugin's test root)."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    for rel, call in (('usr/bin/vhd-util', 'vhd_util(sys.argv[1:])'),
                      ('usr/sbin/tap-ctl', 'tap_ctl(sys.argv[1:], %r)'
                       % root)):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(_WRAPPER % {'python': sys.executable, 'repo': repo,
                                'call': call})
        os.chmod(path, 0o755)
