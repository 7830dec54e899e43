#!/usr/bin/env python3
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

"""Whole imports through a real glance-api: what an operator waits for.

``--compare``: one image (default the benchmark's ``fs.qcow2``, 4 GiB
virtual, 1.3 GB of files) imported with ``glance-direct`` into Glances
that differ only in their import plugins, alternated run by run:
xenimage_import; Glance's own ``image_conversion`` to raw and to qcow2;
and no plugin (stored as uploaded). Per import, from glance-api's own log
lines: the conversion (xenimage_import's "converting staged" to its
"converted" line; for ``image_conversion`` the flow's start to Glance's
"Got image data uri" line, where the store phase starts), the store phase
(Glance's copy and hash, to the task's "success" line) and the whole flow;
from the client: the staging upload (``image-stage``), import to
``active`` (the image read over HTTP every 0.2 s, no client process per
poll) and the total; and the stored bytes.

``--versus-cli``: the same image converted by ``xenimage-convert`` (a
whole process, wall clock, on a fresh copy of the image as the plugin
converts a fresh upload) and by the plugin inside a glance-api (from its
"converting staged" log line to its "converted" one), alternated run by
run, for each release given with ``--releases`` (``newest``: Glance 33
under uWSGI; ``ussuri``: Glance 20 under its eventlet server, with that
virtualenv's xenimage-convert).

``--load``: N imports at once (N = 1, 2, 4, 8) on one node for
``max_concurrent_conversions`` = 1, 2, 4, Glance on PostgreSQL: images
per minute and the p50/p95 time from the start of the upload to
``active``.

Not part of the test run. Build the images first with ``python -m
tools.benchmark --cases fs`` (or pass ``--image``).

    python -m tools.glance_benchmark --compare --runs 3
    python -m tools.glance_benchmark --versus-cli --releases newest,ussuri
    python -m tools.glance_benchmark --load
"""

import argparse
import concurrent.futures
import datetime
import os
import re
import shutil
import statistics
import tempfile
import time

from lab import glance_server
from lab import postgres_server
from tools import benchmark

# The plugin's log lines that start and end its conversion.
_PLUGIN_STARTS = r'Image %s: converting staged'
_PLUGIN_ENDS = r'Image %s: \w+ image converted'
COMPARED = {
    'xenimage': (('xenimage_import',), {}),
    'image_conversion-raw': (('image_conversion',),
                             {'image_conversion': {'output_format': 'raw'}}),
    'image_conversion-qcow2': (('image_conversion',), {
        'image_conversion': {'output_format': 'qcow2'}}),
    'no-plugin': ((), {}),
}


def _log_time(line):
    stamp = ' '.join(line.split()[:2])
    return datetime.datetime.strptime(
        stamp, '%Y-%m-%d %H:%M:%S.%f').timestamp()


def write_page(result, path):
    """The figures as the RST fragment the docs include, dated."""
    m = result['machine']
    flags = ['--' + k.replace('_', '-') for k in ('compare', 'versus_cli')
             if k in result]
    if 'versus_cli' in result:
        flags.append('--releases ' + ','.join(result['releases']))
    lines = ['Measured on %s with ``python -m tools.glance_benchmark %s '
             '--runs %d`` on: %s cores (%s), %.0f GiB, Python %s; the image '
             '%s.' % (result['date'][:10], ' '.join(flags), result['runs'],
                      m.get('cpus'), m.get('cpu', '?'),
                      m.get('memory_kb', 0) / 1024 ** 2, m.get('python'),
                      os.path.basename(result['image'])), '']
    for key in ('compare', 'versus_cli'):
        if key in result:
            lines += ['::', '']
            lines += ['    ' + line for line in _table(
                result[key]).splitlines()]
            lines.append('')
    with open(path, 'w') as f:
        f.write('\n'.join(lines))
    print('page: %s' % path)


def phases(server, image_id, kind):
    """An import's phases from glance-api's own log lines, in seconds.

    The task is found by the staged data's URI in Glance's "Got image
    data uri" line (the store phase's start); the task's "processing"
    line starts the flow and its "success" line ends it.
    """
    deadline = time.monotonic() + 30
    while True:
        # The task logs its success just after the image turned active.
        with open(server.api_log) as f:
            text = f.read()
        found = re.search(r'Task ([0-9a-f-]{36}): Got image data uri '
                          r'\S*%s' % image_id, text)
        if found and 'Task [%s] status changing from processing to ' \
                'success' % found.group(1) in text:
            break
        if time.monotonic() > deadline:
            raise RuntimeError('no end of task in the log for %s'
                               % image_id)
        time.sleep(0.2)
    task = found.group(1)

    def at(pattern):
        match = re.search(r'^(\S+ \S+) .*%s' % pattern, text, re.M)
        return _log_time(match.group(0)) if match else None

    started = at(r'Task \[%s\] status changing from pending to '
                 r'processing' % task)
    stored_from = at(r'Task %s: Got image data uri' % task)
    ended = at(r'Task \[%s\] status changing from processing to '
               r'success' % task)
    if kind == 'xenimage':
        convert = (at(_PLUGIN_ENDS % image_id)
                   - at(_PLUGIN_STARTS % image_id))
    elif kind == 'image_conversion':
        convert = stored_from - started
    else:
        convert = None
    return {'convert_s': convert, 'store_s': ended - stored_from,
            'flow_s': ended - started}


def one_import(server, path, kind):
    """Stage, import, wait for active: the phases in seconds."""
    proc = server.glance('image-create', '--disk-format', 'qcow2',
                         '--container-format', 'bare', '--name',
                         os.path.basename(path))
    image_id = glance_server.image_id_of(proc)
    start = time.time()
    server.glance('image-stage', '--file', path, image_id)
    staged = time.time()
    server.glance('image-import', '--import-method', 'glance-direct',
                  image_id)
    image = wait_active(server, image_id)
    active = time.time()
    result = phases(server, image_id, kind)
    server.glance('image-delete', image_id)
    result.update(upload_s=staged - start,
                  import_to_active_s=active - staged,
                  total_s=active - start,
                  stored_bytes=int(image['size']),
                  disk_format=image['disk_format'])
    return result


def compare(work, image, runs):
    servers = {}
    try:
        for name, (plugins, conf) in COMPARED.items():
            servers[name] = glance_server.GlanceServer(
                os.path.join(work, name), plugins=plugins, plugin_conf=conf)
            servers[name].start()
        samples = {name: [] for name in servers}
        for _ in range(runs):
            for name, server in servers.items():
                kind = name.split('-')[0]
                samples[name].append(one_import(server, image, kind))
    finally:
        for server in servers.values():
            server.stop()
    rows = []
    for name, runs_ in samples.items():
        row = {'method': name, 'runs': len(runs_),
               'disk_format': runs_[0]['disk_format'],
               'stored_bytes': runs_[0]['stored_bytes']}
        for key in ('upload_s', 'convert_s', 'store_s', 'flow_s',
                    'import_to_active_s', 'total_s'):
            values = [r[key] for r in runs_ if r[key] is not None]
            row[key] = round(statistics.median(values), 2) \
                if values else None
        rows.append(row)
    return rows


def versus_cli(work, image, runs, release_names):
    """The plugin's conversion against the command's, per release."""
    rows = []
    for name in release_names:
        release = glance_server.RELEASES[name]
        server = glance_server.GlanceServer(
            os.path.join(work, 'versus-%s' % name), release=release,
            multi_store=release is glance_server.NEWEST)
        cli = os.path.join(release.venv, 'bin', 'xenimage-convert')
        cli_s, plugin_s = [], []
        try:
            server.start()
            for _ in range(runs):
                # As inside Glance, where the source was just written to
                # disk (staged), the command converts a fresh copy.
                fresh = os.path.join(work, 'versus.qcow2')
                shutil.copyfile(image, fresh)
                os.sync()
                out = os.path.join(work, 'versus.tgz')
                start = time.monotonic()
                benchmark.run_measured([cli, '--json', fresh, out])
                cli_s.append(time.monotonic() - start)
                os.unlink(out)
                os.unlink(fresh)
                image_id = _import_only(server, image)
                plugin_s.append(
                    phases(server, image_id, 'xenimage')['convert_s'])
                server.glance('image-delete', image_id)
        finally:
            server.stop()
        cli_m, plugin_m = statistics.median(cli_s), statistics.median(
            plugin_s)
        rows.append({'release': release.name, 'server': release.server,
                     'runs': runs,
                     'cli_s': [round(x, 2) for x in cli_s],
                     'plugin_s': [round(x, 2) for x in plugin_s],
                     'cli_median_s': round(cli_m, 2),
                     'plugin_median_s': round(plugin_m, 2),
                     'plugin_vs_cli': round(plugin_m / cli_m, 2)})
        print(rows[-1], flush=True)
    return rows


def _import_only(server, path):
    """Import ``path``; return the image id once it is active."""
    proc = server.glance('image-create-via-import', '--disk-format', 'qcow2',
                         '--container-format', 'bare', '--name',
                         os.path.basename(path), '--file', path)
    image_id = glance_server.image_id_of(proc)
    wait_active(server, image_id)
    return image_id


def wait_active(server, image_id, timeout=600):
    """The image record once active; an import that failed raises.

    Back to ``queued`` (after the first seconds, when it may not have
    started yet) means the import failed.
    """
    start = time.monotonic()
    while True:
        image = server.image(image_id)
        if image['status'] == 'active':
            return image
        waited = time.monotonic() - start
        if image['status'] == 'queued' and waited > 10:
            raise RuntimeError('import of %s failed: %s' % (
                image_id, server.glance('image-tasks', image_id).stdout))
        if waited > timeout:
            raise RuntimeError('import of %s did not end' % image_id)
        time.sleep(0.2)


def load(work, image, concurrencies, slot_counts):
    rows = []
    for slots in slot_counts:
        postgres = postgres_server.PostgresServer().start()
        server = glance_server.GlanceServer(
            os.path.join(work, 'load-%d' % slots), threads=10,
            database_url=postgres.url,
            plugin_conf={'max_concurrent_conversions': slots})
        try:
            server.start()
            for n in concurrencies:
                start = time.time()
                with concurrent.futures.ThreadPoolExecutor(n) as pool:
                    done = list(pool.map(
                        lambda _: one_import(server, image, 'xenimage'),
                        range(n)))
                wall = time.time() - start
                totals = sorted(d['total_s'] for d in done)
                rows.append({
                    'slots': slots, 'concurrent': n,
                    'wall_s': round(wall, 2),
                    'images_per_min': round(n * 60 / wall, 2),
                    'p50_s': round(statistics.median(totals), 2),
                    'p95_s': round(totals[min(len(totals) - 1, int(
                        round(0.95 * (len(totals) - 1))))], 2)})
                print(rows[-1], flush=True)
        finally:
            server.stop()
            postgres.stop()
    return rows


def _cell(value):
    return '-' if value is None else str(value)


def _table(rows):
    rows = [{k: _cell(v) for k, v in r.items()} for r in rows]
    keys = list(rows[0])
    widths = [max(len(str(k)), *(len(str(r[k])) for r in rows))
              for k in keys]
    lines = ['  '.join(str(k).ljust(w) for k, w in zip(keys, widths)),
             '  '.join('-' * w for w in widths)]
    lines += ['  '.join(str(r[k]).ljust(w) for k, w in zip(keys, widths))
              for r in rows]
    return '\n'.join(line.rstrip() for line in lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work', default='/var/tmp/xenimage-bench')
    p.add_argument('--image', default=None,
                   help='qcow2 to import (default WORK/fs.qcow2)')
    p.add_argument('--compare', action='store_true')
    p.add_argument('--load', action='store_true')
    p.add_argument('--versus-cli', action='store_true')
    p.add_argument('--releases', default='newest',
                   help='for --versus-cli: comma-separated, of %s'
                        % ', '.join(sorted(glance_server.RELEASES)))
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--concurrency', default='1,2,4,8')
    p.add_argument('--slots', default='1,2,4')
    p.add_argument('--json', default=None)
    p.add_argument('--page', default=None,
                   help='also write the figures as an RST fragment here')
    args = p.parse_args()
    releases = args.releases.split(',')
    unknown = set(releases) - set(glance_server.RELEASES)
    if unknown:
        p.error('unknown release(s): %s' % ', '.join(sorted(unknown)))
    image = args.image or os.path.join(args.work, 'fs.qcow2')
    scratch = tempfile.mkdtemp(prefix='glance-bench-', dir=args.work)
    result = {'image': image, 'runs': args.runs}
    try:
        if args.compare:
            result['compare'] = compare(scratch, image, args.runs)
            print(_table(result['compare']))
        if args.versus_cli:
            result['releases'] = releases
            result['versus_cli'] = versus_cli(scratch, image, args.runs,
                                              releases)
            print(_table(result['versus_cli']))
        if args.load:
            result['load'] = load(
                scratch, image,
                [int(n) for n in args.concurrency.split(',')],
                [int(n) for n in args.slots.split(',')])
            print(_table(result['load']))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result = benchmark.write_results(result, args.json or os.path.join(
        args.work, 'glance-results.json'))
    if args.page:
        write_page(result, args.page)


if __name__ == '__main__':
    main()
