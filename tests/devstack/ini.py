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

"""INI edits for the devstack shim: set, get, delete-section."""

import configparser
import os
import sys


def _load(path):
    parser = configparser.RawConfigParser(strict=False,
                                          default_section='__none__')
    parser.optionxform = str
    if os.path.exists(path):
        parser.read(path)
    return parser


def main(argv):
    command, path, section = argv[1:4]
    parser = _load(path)
    if command == 'get':
        if parser.has_option(section, argv[4]):
            print(parser.get(section, argv[4]))
        return 0
    if command == 'set':
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, argv[4], argv[5])
    elif command == 'delete-section':
        parser.remove_section(section)
    with open(path, 'w') as f:
        parser.write(f)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
