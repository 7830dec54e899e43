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

"""xenimage-dom0-plugin: install the XAPI plugin the xenserver helper calls.

From the Glance node, over ssh (the usual way)::

    xenimage-dom0-plugin script | ssh root@xenserver sh

or in dom0 itself, with the package installed there::

    xenimage-dom0-plugin install --python /usr/bin/python3
"""

import argparse
import sys

from xenimage_import.cmd import common
from xenimage_import.helpers.xenserver import dom0


def _parser():
    p = argparse.ArgumentParser(
        prog='xenimage-dom0-plugin',
        description="Install xenimage_import's XAPI plugin (%s) in a "
                    "XenServer host's %s." % (dom0.PLUGIN_NAME,
                                              dom0.PLUGIN_DIR))
    common.add_version(p)
    sub = p.add_subparsers(dest='command', required=True)
    sub.add_parser('script', help='print a shell script that installs the '
                   'plugin where it runs (pipe it to ssh root@host sh)')
    install = sub.add_parser('install', help='install the plugin on this '
                             'machine (run in dom0)')
    install.add_argument('--dest', default=dom0.PLUGIN_DIR,
                         help='plugin directory (default %(default)s)')
    install.add_argument('--python', default=dom0.PYTHON3,
                         help='interpreter for the shebang: %s (XenServer 8, '
                         'XCP-ng 8.3 python3 builds) or %s (python 2.7 '
                         'dom0s); default %%(default)s'
                         % (dom0.PYTHON3, dom0.PYTHON2))
    show = sub.add_parser('show', help='print the plugin itself')
    show.add_argument('--python', default=dom0.PYTHON3)
    sub.add_parser('version', help='print the plugin version')
    return p


@common.command
def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        if args.command == 'script':
            sys.stdout.write(dom0.installer_script())
        elif args.command == 'show':
            sys.stdout.write(dom0.plugin_source(args.python))
        elif args.command == 'version':
            print(dom0.plugin_version())
        else:
            print('installed %s' % dom0.install(args.dest, args.python))
    except OSError as e:
        return common.fail(e)
    return 0


if __name__ == '__main__':
    sys.exit(main())
