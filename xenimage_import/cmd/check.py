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

Exit status: 0 valid, 1 invalid (one line per failed check), 2 unreadable.
"""

import argparse
import json
import sys

from xenimage_import import archive
from xenimage_import import check
from xenimage_import.cmd import common

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2


def main(argv=None):
    p = argparse.ArgumentParser(
        prog='xenimage-check',
        description='Check a XenServer image tarball (.tgz) or VHD the way '
                    'XenServer and Nova\'s dom0 plugins do.')
    p.add_argument('path', metavar='PATH')
    p.add_argument('--json', action='store_true',
                   help='print the report as JSON')
    args = p.parse_args(argv)
    common.setup_logging(False)
    try:
        report = check.check_path(args.path)
    except archive.Unreadable as e:
        if args.json:
            print(json.dumps({'path': args.path, 'valid': False,
                              'unreadable': str(e)}))
        return common.fail('unreadable: %s' % e, EXIT_UNREADABLE)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
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
