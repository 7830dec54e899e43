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

"""xenimage-convert: turn a disk image into a XenServer image tarball.

DEST ending in ``.tgz`` gets the tarball Glance/Nova want; DEST ending in
``.vhd`` gets the bare tap VHD, for ``xe vdi-import``. A thin adapter over
:mod:`xenimage_import.pipeline`, the Glance plugin's own: given the
plugin's configuration file (``--config-file glance-image-import.conf``)
it accepts and refuses exactly what the plugin does; flags only override.
"""

import argparse
import dataclasses
import json
import logging
import os
import sys
import time

from oslo_utils import units

from xenimage_import import cleanup
from xenimage_import.cmd import common
from xenimage_import import exception
from xenimage_import.guest import inspector as guest
from xenimage_import import helpers
from xenimage_import import pack
from xenimage_import import pipeline
from xenimage_import.source import formats
from xenimage_import.source import inspect
from xenimage_import.vhd import layout as L

LOG = logging.getLogger(__name__)
_OUTPUTS = {'.tgz': helpers.OUTPUT_TARBALL, '.vhd': helpers.OUTPUT_VHD}


def _parser():
    p = argparse.ArgumentParser(
        prog='xenimage-convert',
        description='Convert a raw, qcow2, vhd, vmdk, vhdx or vdi image into '
                    'a tap VHD as XenServer writes it, packed as 0.vhd in a '
                    'gzipped tarball (DEST.tgz) or bare (DEST.vhd).')
    p.add_argument('source', metavar='SOURCE', nargs='?')
    p.add_argument('dest', metavar='DEST', nargs='?',
                   help='output path ending in .tgz or .vhd')
    p.add_argument('--source-format', default='auto',
                   choices=('auto',) + formats.SOURCE_FORMATS,
                   help='format the source must be (default: detect)')
    p.add_argument('--level', type=int, default=None,
                   choices=range(pack.MIN_LEVEL, pack.MAX_LEVEL + 1),
                   metavar='N',
                   help='gzip level %d-%d: 0-3 fastest (ISA-L), %d smallest '
                        '(zlib-ng, gzip -6 size; default: '
                        'compression_level, %d)'
                        % (pack.MIN_LEVEL, pack.MAX_LEVEL,
                           pack.SMALLEST_LEVEL, pack.DEFAULT_LEVEL))
    p.add_argument('--threads', type=common.count(0), default=None,
                   help='compression threads (default: '
                        'compression_threads, 0 = one per core)')
    p.add_argument('--max-size', type=common.count(1), default=None,
                   metavar='GiB',
                   help='refuse images whose virtual size is above this '
                        '(default: max_virtual_size, 1024)')
    p.add_argument('--helper', default=None,
                   help='conversion helper driver: local or xenserver '
                        '(convert on a XenServer host; needs '
                        '--config-file) (default: helper, local)')
    p.add_argument('--no-guest-inspection', dest='inspect_guest',
                   action='store_false', default=None,
                   help='do not read the partition table and filesystems '
                        'while converting (the output is the same; only '
                        'the report lacks the guest lines) (default: '
                        'inspect_guest, on)')
    p.add_argument('--config-file', action='append', default=[],
                   metavar='FILE',
                   help='oslo.config file with the [xenimage_import] '
                        'options (and the helper\'s, such as '
                        '[xenimage_xenserver]): glance-image-import.conf '
                        'gives the plugin\'s verdicts; flags override it '
                        '(repeatable)')
    p.add_argument('--preflight', action='store_true',
                   help='convert nothing: check Glance\'s configuration '
                        'when the --config-file list holds '
                        'glance-image-import.conf (plugin order, allowed '
                        'formats, import methods; give glance-api.conf too) '
                        'and the helper\'s setup (for xenserver: every '
                        'configured host, its SR, plugin, certificates and '
                        'the way back to this node); print the verdicts and '
                        'exit 0 when all are ready')
    p.add_argument('--json', action='store_true',
                   help='print the result as JSON')
    p.add_argument('-v', '--verbose', action='store_true',
                   help='log what happens (debug level)')
    common.add_version(p)
    return p


def _summary(args, outcome, seconds):
    rate = outcome.virtual_size / max(seconds, 1e-6)
    result = outcome.result
    source = '%s (%s' % (args.source, outcome.source_format)
    if result:
        source += ', %s virtual' % exception.human_size(
            result.requested_size)
    lines = [
        ('source', source + ')'),
        ('action', outcome.action),
        ('virtual size', '%d bytes (%s)%s' % (
            outcome.virtual_size, exception.human_size(outcome.virtual_size),
            ', rounded up by %d bytes to whole 2 MiB blocks'
            % result.rounded_up if result and result.rounded_up else '')),
    ]
    if result:
        skipped = result.blocks_total - result.blocks_stored
        lines.append(('blocks', '%d stored, %d skipped (zero or '
                      'unallocated) of %d' % (result.blocks_stored, skipped,
                                              result.blocks_total)))
    output = '%s: %s' % (args.dest, exception.human_size(outcome.size))
    if result:
        output += ' (VHD %s)' % exception.human_size(result.vhd_size)
    lines.append(('output', output))
    lines.append(('time', '%.2f s (%s/s of virtual disk)' % (
        seconds, exception.human_size(rate))))
    if outcome.guest:
        lines.insert(-1, ('guest', guest.summary(outcome.guest)))
        for part in outcome.guest['partitions']:
            lines.insert(-1, ('  partition %d' % part['number'], '%s, %s at '
                              '%d' % (part['filesystem'] or 'unknown',
                                      exception.human_size(part['size']),
                                      part['start'])))
    width = max(len(k) for k, _ in lines)
    return '\n'.join('%-*s  %s' % (width, k, v) for k, v in lines)


def _as_dict(args, outcome, seconds):
    data = outcome.result.as_dict() if outcome.result else {}
    data.update(action=outcome.action, source_format=outcome.source_format,
                virtual_size=outcome.virtual_size, output_size=outcome.size,
                source=args.source, destination=args.dest)
    data.setdefault('seconds', seconds)
    return data


def _describe(args, start):
    """What main prints, built before the output is placed."""
    def describe(outcome):
        seconds = time.monotonic() - start
        if args.json:
            return json.dumps(_as_dict(args, outcome, seconds), indent=2)
        return _summary(args, outcome, seconds)
    return describe


def _request(args, progress, describe=None):
    """The pipeline request: the configuration files, overridden by flags.

    Without files nothing is read and oslo.config is not even imported
    (start-up counts for small images): the request keeps its own
    defaults, which the options take theirs from (tests/unit/test_cli.py
    holds the two equal).
    """
    settings = {'policy': inspect.Policy()}
    if args.config_file:
        from xenimage_import import conf as xconf
        settings = xconf.request_settings(xconf.load(args.config_file))
    if args.max_size is not None:
        settings['policy'] = dataclasses.replace(
            settings['policy'], max_virtual_size=min(
                args.max_size * units.Gi, L.MAX_VHD_SIZE))
    for name in ('helper', 'level', 'threads', 'inspect_guest'):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    return pipeline.Request(
        path=args.source, destination=args.dest, claimed=args.source_format,
        output=_OUTPUTS[args.dest[-4:].lower()], progress=progress,
        describe=describe, **settings)


def _errors():
    """The errors reported as one line: verdicts, I/O and configuration."""
    return ((exception.XenImageError, OSError) +
            exception.configuration_errors())


def _preflight_report(glance, verdicts):
    lines = []
    everything = ([glance] if glance else []) + verdicts
    width = max([len(c.name) for v in everything for c in v.checks] or [0])
    for verdict in everything:
        lines.append('%s (%s)' % (verdict.name, verdict.url))
        for c in verdict.checks:
            lines.append('  %-*s  %-7s  %s' % (width, c.name, c.status,
                                               c.detail))
        lines.append('  verdict: %s'
                     % ('ready' if verdict.ready else 'NOT READY'))
    if verdicts:
        lines.append('%d of %d host(s) ready' % (
            sum(v.ready for v in verdicts), len(verdicts)))
    return '\n'.join(lines)


def _glance_verdict(conf):
    """Glance's configuration judged, where the files configure its import.

    Only when they hold ``[image_import_opts]`` (glance-image-import.conf)
    and Glance is installed here: elsewhere its defaults would be judged.
    """
    if 'image_import_opts' not in conf.list_all_sections():
        return None
    from xenimage_import.glance import neighbours
    if not neighbours.register_glance_opts(conf):
        return None
    return neighbours.configuration_verdict(conf)


def _preflight(args):
    try:
        from xenimage_import import conf as xconf
        conf = xconf.load(args.config_file)
        glance = _glance_verdict(conf)
        helper = helpers.load(args.helper or conf.xenimage_import.helper,
                              conf=conf)
        try:
            verdicts = helper.preflight()
        except exception.NoPreflightChecks:
            if glance is None:
                raise
            verdicts = []
    except _errors() as e:
        return common.fail(e, as_json=args.json)
    if args.json:
        report = {'hosts': [v.as_dict() for v in verdicts]}
        if glance:
            report['glance'] = glance.as_dict()
        print(json.dumps(report, indent=2))
    else:
        print(_preflight_report(glance, verdicts))
    ready = all(v.ready for v in ([glance] if glance else []) + verdicts)
    return 0 if ready else 1


@common.command
def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    common.setup_logging(args.verbose)
    if args.preflight:
        if args.source or args.dest:
            parser.error('--preflight takes no SOURCE or DEST')
        return _preflight(args)
    if not args.dest:
        parser.error('SOURCE and DEST are required')
    ext = args.dest[-4:].lower()
    if ext not in _OUTPUTS:
        return common.fail('DEST must end in .tgz or .vhd: %s' % args.dest,
                           as_json=args.json)
    progress = common.ProgressBar() if not args.json else None
    work_dir = os.path.dirname(os.path.abspath(args.dest))
    if not os.path.isdir(work_dir) or not os.access(work_dir, os.W_OK):
        return common.fail('%s: its directory does not exist or is not '
                           'writable' % args.dest, as_json=args.json)
    cleanup.exit_on_signal()
    start = time.monotonic()
    try:
        outcome = pipeline.run(_request(args, progress,
                                        _describe(args, start)))
    except exception.OutputFailed as e:
        return common.fail('%s: %s' % (args.dest, e), as_json=args.json)
    except _errors() as e:
        return common.fail(e, as_json=args.json)
    except KeyboardInterrupt:
        return common.fail('interrupted', code=130, as_json=args.json)
    except Exception as e:
        # A bug, not a verdict on the image: still one line, and the
        # traceback with --verbose.
        LOG.debug('unexpected error', exc_info=True)
        return common.fail('unexpected error (please report it): %s: %s'
                           % (type(e).__name__, e), as_json=args.json)
    finally:
        if progress:
            progress.close()
    print(outcome.description)
    return 0


if __name__ == '__main__':
    sys.exit(main())
