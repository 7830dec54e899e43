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

"""xenimage-check: would XenServer accept this image tarball or VHD?

Exit status: 0 valid, 1 invalid (one line per failed check), 2 usage
error, 3 unreadable.
"""

import argparse
import json
import sys

from xenimage_import import archive
from xenimage_import import check
from xenimage_import.cmd import common
from xenimage_import import exception
from xenimage_import.source import headers

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2          # argparse's own
EXIT_UNREADABLE = 3


def _looks_like(path):
    """What a file that is no VHD is, for a message users can act on."""
    try:
        with open(path, 'rb') as f:
            kind = archive.container(f.read(archive.TAR_BLOCK))
        if kind in archive.UNREAD_COMPRESSION:
            return kind
        name = headers.sniff(path).name
    except (OSError, exception.XenImageError):
        return None
    return None if name in ('raw', 'vhd') else name


def _not_a_vhd(path, other):
    """The verdict line for a file that is something else."""
    if other in archive.UNREAD_COMPRESSION:
        what = '%s %s-compressed file' % ('an' if other == 'xz' else 'a',
                                          other)
        advice = 're-pack its tarball with tar -czf'
    else:
        what = 'a %s image' % other
        advice = 'convert it with xenimage-convert'
    return '%s: FAIL this is %s, not a VHD or an image tarball (%s)' % (
        path, what, advice)


@common.command
def main(argv=None):
    p = argparse.ArgumentParser(
        prog='xenimage-check',
        description='Check a XenServer image tarball (.tgz) or VHD the way '
                    'XenServer and Nova\'s dom0 plugins do.')
    p.add_argument('path', metavar='PATH')
    p.add_argument('--json', action='store_true',
                   help='print the report as JSON')
    common.add_version(p)
    args = p.parse_args(argv)
    common.setup_logging(False)
    try:
        report = check.check_path(args.path)
    except exception.Unreadable as e:
        if args.json:
            print(json.dumps({'path': args.path, 'valid': False,
                              'unreadable': str(e)}))
        return common.fail('unreadable: %s' % e, EXIT_UNREADABLE)
    other = None
    if report.kind == 'vhd' and not report.vhd.creator:
        other = _looks_like(args.path)
    if args.json:
        print(json.dumps(dict(report.as_dict(), detected=other), indent=2))
    else:
        if other:
            print(_not_a_vhd(args.path, other))
        for problem in report.all_problems():
            print('%s: FAIL %s' % (args.path, problem))
        if report.valid:
            vhd = report.vhd
            print('%s: OK %s, tap dynamic VHD, virtual size %d, %d of %d '
                  'blocks allocated' % (args.path, report.kind,
                                        vhd.virtual_size,
                                        vhd.blocks_allocated,
                                        vhd.blocks_total))
    return EXIT_VALID if report.valid else EXIT_INVALID


if __name__ == '__main__':
    sys.exit(main())
