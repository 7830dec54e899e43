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

"""xenimage-catalogue: audit the images a cloud has, repair the fixable.

``audit`` gives each image a verdict (boots on XenServer as it is,
fixable, not convertible, or nothing to judge) and why; ``repair`` makes
a corrected copy of each fixable one through the import API. Both log in
as every OpenStack client does (``--os-cloud`` and clouds.yaml, or the
``OS_*`` variables).

Exit status: 0 nothing left to repair (audit) or nothing failed
(repair); 1 fixable images remain, or a repair failed; 2 usage error;
3 Glance or Keystone could not be used; 130 interrupted (a rerun
resumes).
"""

import argparse
import csv
import json
import logging
import signal
import sys
import threading

from xenimage_import.catalogue import api
from xenimage_import.catalogue import audit
from xenimage_import.catalogue import repair
from xenimage_import.catalogue import verdict as V
from xenimage_import.cmd import common

# Fixable images remain (audit), or a repair failed.
EXIT_ATTENTION = 1
EXIT_USAGE = 2          # argparse's own
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130
FORMATS = ('table', 'json', 'csv', 'value')
AUDIT_COLUMNS = ('id', 'name', 'verdict', 'reasons')
REPAIR_COLUMNS = ('id', 'name', 'action', 'copy', 'detail')


def _parser(argv):
    from openstack import config
    p = argparse.ArgumentParser(
        prog='xenimage-catalogue',
        description='Audit the images of a Glance catalogue for XenServer '
                    'and repair the fixable ones through the import API.')
    cloud_config = config.OpenStackConfig()
    cloud_config.register_argparse_arguments(p, argv)
    common.add_version(p)
    p.add_argument('-v', '--verbose', action='store_true',
                   help='log each step on stderr')
    commands = p.add_subparsers(dest='command', metavar='COMMAND')
    commands.required = True
    for name, text in (
            ('audit', 'give every image a verdict: boots, fixable, '
                      'not-convertible, unjudged or repaired'),
            ('repair', 'make a corrected copy of every fixable image')):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument('images', nargs='*', metavar='IMAGE',
                         help='only these image ids (default: every image '
                              'the filters select)')
        sub.add_argument('--project', dest='owner', metavar='PROJECT_ID',
                         help='only images owned by this project')
        sub.add_argument('--visibility', choices=(
            'public', 'private', 'shared', 'community', 'all'),
            help='only images of this visibility (default: all)')
        sub.add_argument('--name', help='only images of this exact name')
        sub.add_argument('--status', help='only images in this status')
        sub.add_argument('--concurrency', type=common.count(1), default=4,
                         help='images read at once (default: 4)')
        sub.add_argument('--page-size', type=common.count(1),
                         default=api.PAGE_SIZE,
                         help='images per listing request (default: %d)'
                              % api.PAGE_SIZE)
        sub.add_argument('-f', '--format', choices=FORMATS,
                         default='table', help='output format')
    audit_p = commands.choices['audit']
    audit_p.add_argument('--deep', action='store_true',
                         help='read every byte: check every VHD block '
                              'and each image\'s checksum')
    repair_p = commands.choices['repair']
    repair_p.add_argument('--dry-run', action='store_true',
                          help='say what would be done; change nothing')
    originals = repair_p.add_mutually_exclusive_group()
    originals.add_argument('--hide-original', action='store_true',
                           help='hide the original (os_hidden) once its '
                                'copy is active')
    originals.add_argument('--deactivate-original', action='store_true',
                           help='deactivate the original once its copy is '
                                'active')
    # NOTE: not --timeout: that is openstacksdk's, per API request.
    repair_p.add_argument('--import-timeout', type=common.count(1),
                          default=3600, metavar='SECONDS',
                          help='seconds to wait for one import (default: '
                               '3600; a later run waits for it again)')
    return p, cloud_config


def _glance(cloud_config, args):
    cloud = cloud_config.get_one(argparse=args)
    session = cloud.get_session()
    endpoint = cloud.get_session_endpoint('image')
    return api.Glance(session, endpoint, page_size=args.page_size)


def _images(glance, args):
    if args.images:
        return (glance.image(i) for i in args.images)
    filters = {k: getattr(args, k) for k in audit.FILTERS
               if getattr(args, k)}
    return glance.images(**filters)


class _Deep(object):
    """Bytes read across the images, on a progress bar."""

    def __init__(self):
        self.bar = common.ProgressBar()
        self.lock = threading.Lock()
        self.done = self.total = 0

    def listed(self, image):
        with self.lock:
            self.total += image.get('size') or 0

    def __call__(self, nbytes):
        with self.lock:
            self.done += nbytes
            self.bar('read', self.done, max(self.total, self.done))

    def close(self):
        """Show the end: images judged from their record read nothing."""
        self.bar('read', self.done, self.done)
        self.bar.close()


def _audit(glance, args):
    deep = _Deep() if args.deep else None

    def listed():
        for image in _images(glance, args):
            if deep:
                deep.listed(image)
            yield image
    rows = list(audit.audit(glance, listed(), deep=args.deep,
                            concurrency=args.concurrency, counted=deep))
    if deep:
        deep.close()
    _print([dict(r.as_dict(), reasons='; '.join(r.verdict.reasons))
            for r in rows], AUDIT_COLUMNS, args.format,
           [r.as_dict() for r in rows])
    counts = {v: sum(r.verdict.verdict == v for r in rows)
              for v in V.VERDICTS}
    print(', '.join('%d %s' % (n, v) for v, n in counts.items() if n)
          or 'no images', file=sys.stderr)
    return EXIT_ATTENTION if counts[V.FIXABLE] else 0


def _repair(glance, args):
    repairer = repair.Repairer(glance, dry_run=args.dry_run,
                               hide=args.hide_original,
                               deactivate=args.deactivate_original,
                               timeout=args.import_timeout)
    results = []
    try:
        for row in audit.audit(glance, _images(glance, args),
                               concurrency=args.concurrency):
            results.append(repairer.repair(row.image, row.verdict))
    except KeyboardInterrupt:
        repairer.abandon()
        if results:
            _print([r.as_dict() for r in results], REPAIR_COLUMNS,
                   args.format)
        return common.fail('interrupted: run the same command again to '
                           'resume', EXIT_INTERRUPTED)
    _print([r.as_dict() for r in results], REPAIR_COLUMNS, args.format)
    failed = sum(r.action == repair.FAILED for r in results)
    return EXIT_ATTENTION if failed else 0


def _print(rows, columns, fmt, full=None):
    if fmt == 'json':
        print(json.dumps(full if full is not None else rows, indent=2))
    elif fmt == 'csv':
        out = csv.writer(sys.stdout)
        out.writerow(columns)
        out.writerows([_cell(r.get(c)) for c in columns] for r in rows)
    elif fmt == 'value':
        for r in rows:
            print(' '.join(_cell(r.get(c)) for c in columns))
    else:
        print(_table(columns, [[_cell(r.get(c)) for c in columns]
                               for r in rows]))


def _cell(value):
    return '' if value is None else str(value)


def _table(columns, rows):
    widths = [max([len(c)] + [len(r[i]) for r in rows])
              for i, c in enumerate(columns)]
    rule = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

    def line(cells):
        return '| ' + ' | '.join(c.ljust(w) for c, w in
                                 zip(cells, widths)) + ' |'
    return '\n'.join([rule, line(columns), rule]
                     + [line(r) for r in rows] + [rule])


def _interrupt(signum, frame):
    raise KeyboardInterrupt()


@common.command
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    from openstack import exceptions as sdk_exceptions
    try:
        parser, cloud_config = _parser(argv)
    except sdk_exceptions.ConfigException as e:
        # --os-cloud names no cloud of clouds.yaml, or it cannot be read.
        return common.fail(e, EXIT_USAGE)
    args = parser.parse_args(argv)
    common.setup_logging(False)
    if args.verbose:
        # Each step of ours; not the HTTP libraries' debug.
        logging.getLogger('xenimage_import').setLevel(logging.INFO)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    from keystoneauth1 import exceptions as ks_exceptions
    try:
        glance = _glance(cloud_config, args)
        run = _audit if args.command == 'audit' else _repair
        return run(glance, args)
    except KeyboardInterrupt:
        return common.fail('interrupted', EXIT_INTERRUPTED)
    except (api.GlanceError, ks_exceptions.ClientException,
            sdk_exceptions.SDKException) as e:
        return common.fail(e, EXIT_UNREACHABLE)


if __name__ == '__main__':
    sys.exit(main())
