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

"""What checking and flattening cost on metadata that declares much.

Each case is an upload of at most a few hundred KiB whose headers declare
far more than it holds: a snapshot chain of the largest VHDs holding
nothing, as deep as the expansion budget lets it be; the same chain with
a block of data in every layer; a single 2040 GiB tap VHD holding
nothing; a tap VHD whose BAT is far longer than its disk needs. Each
runs through ``xenimage-convert``, ``xenimage-check`` and the Glance
plugin's worker (``python -m xenimage_import.glance.worker``, the job on
its stdin as the plugin writes it), and the table gives each process's
peak RSS and CPU time beside those of a 1 MiB raw disk (the baseline).
The targets: at most 32 MB and 1 s of CPU above the baseline.

    python -m tools.metadata_costs [--json out.json] [--page FILE]
"""

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from lab import images
from tests import hostile
from tests import vhdchain
from xenimage_import.vhd import layout as L

MiB = 1024 * 1024
RSS_TARGET = 32 * MiB
CPU_TARGET = 1.0


def _baseline(d):
    path = os.path.join(d, 'baseline.raw')
    with open(path, 'wb') as f:
        f.truncate(MiB)
    return path


def _deepest(d, name, layer):
    """The deepest chain of ``layer()`` the expansion budget accepts."""
    for depth in range(30, 1, -1):
        path = vhdchain.write_tarball(
            d, vhdchain.link([layer() for _ in range(depth)]),
            out=os.path.join(d, name))
        rc = subprocess.run(_commands(path, d)['convert'][0],
                            capture_output=True).returncode
        if rc == 0:
            return path
    raise AssertionError('no chain of %s fits the budget' % name)


def _deepest_empty_chain(d):
    return _deepest(d, 'empty.tgz', lambda: vhdchain.Layer(L.MAX_VHD_SIZE,
                                                           {}))


def _chain_with_a_block_each(d):
    # Eight sectors of data in the last block of the largest disk.
    data = (b'data' * 1024).ljust(L.BLOCK_SIZE, b'\0')
    block = L.MAX_BAT_ENTRIES - 1
    return _deepest(d, 'data.tgz', lambda: vhdchain.Layer(
        L.MAX_VHD_SIZE, {block: (vhdchain.bitmap_of(range(8)), data)}))


def _single_empty(d):
    return hostile._gzip_file(d, 'single.tgz', hostile.tar_bytes(
        hostile._tap_vhd_bytes(L.MAX_VHD_SIZE)))


def _long_bat(d):
    """A 16 MiB disk whose BAT has the entries of a 2040 GiB one."""
    vhd = bytearray(hostile._tap_vhd_bytes(L.MAX_VHD_SIZE))
    footer = L.FOOTER.unpack(vhd[-L.FOOTER_SIZE:])._replace(
        current_size=16 * MiB, original_size=16 * MiB,
        disk_geometry=L.chs_geometry(16 * MiB))
    raw = L.pack_with_checksum(L.FOOTER, footer)
    vhd[:L.FOOTER_SIZE] = vhd[-L.FOOTER_SIZE:] = raw
    return hostile._gzip_file(d, 'longbat.tgz', hostile.tar_bytes(
        bytes(vhd)))


CASES = [('baseline (1 MiB raw)', _baseline),
         ('empty chain of 2040 GiB layers', _deepest_empty_chain),
         ('chain of 2040 GiB layers, a block each',
          _chain_with_a_block_each),
         ('one 2040 GiB VHD holding nothing', _single_empty),
         ('16 MiB disk, 2040 GiB BAT', _long_bat)]


# The worker leaves at once unless its parent is the one the job names:
# this stand-in for the plugin names itself, and reports the worker's
# exit code and peak RSS as images.run_measured does.
_AS_PLUGIN = """
import json, os, sys
job = json.loads(sys.stdin.read())
job['parent'] = os.getpid()
r, w = os.pipe()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ,
                      file_actions=[(os.POSIX_SPAWN_DUP2, r, 0)])
os.close(r)
os.write(w, json.dumps(job).encode())
os.close(w)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], 'w') as f:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024], f)
"""


def _worker(argv, job):
    """(exit, out, err, peak RSS) of the plugin's worker on ``job``."""
    with tempfile.NamedTemporaryFile('r') as result:
        proc = subprocess.run([sys.executable, '-S', '-c', _AS_PLUGIN,
                               result.name] + argv, input=job, text=True,
                              capture_output=True, timeout=600)
        rc, rss = json.load(result)
    return rc, proc.stdout, proc.stderr, rss


def _measure(argv, stdin=None):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    if stdin is None:
        rc, out, err, rss = images.run_measured(argv, timeout=600)
    else:
        rc, out, err, rss = _worker(argv, stdin)
        if rc == 0 and '"outcome"' not in out:
            rc = -1
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime
           - before.ru_utime - before.ru_stime)
    return {'exit': rc, 'rss': rss, 'cpu': round(cpu, 3),
            'error': (err.strip().splitlines() or [''])[-1][:120]}


def _commands(path, d):
    dest = os.path.join(d, 'out.tgz')
    conf = os.path.join(d, 'worker.conf')
    with open(conf, 'w') as f:
        f.write('[xenimage_import]\nmax_virtual_size = 2040\n')
    job = json.dumps({'path': path, 'destination': dest, 'claimed': 'auto',
                      'work_prefix': 'bench.', 'parent': 0})
    return {
        'convert': ([sys.executable, '-m', 'xenimage_import.cmd.convert',
                     '--max-size', '2040', path, dest], None),
        'check': ([sys.executable, '-m', 'xenimage_import.cmd.check', path],
                  None),
        'worker': ([sys.executable, '-m', 'xenimage_import.glance.worker',
                    '--config-file', conf], job),
    }


def measure_case(build, d):
    """One row: the upload's size and each command's exit, RSS and CPU."""
    path = build(d)
    row = {'upload': os.path.getsize(path)}
    for command, (argv, stdin) in _commands(path, d).items():
        row[command] = _measure(argv, stdin)
        out = os.path.join(d, 'out.tgz')
        if os.path.exists(out):
            os.unlink(out)
    return row


def run():
    d = tempfile.mkdtemp(prefix='xenimage-metadata-')
    try:
        return [dict(measure_case(build, d), case=name)
                for name, build in CASES]
    finally:
        shutil.rmtree(d, ignore_errors=True)


def table(rows):
    base = rows[0]
    lines = ['%-40s %9s  %-22s %-22s %-22s' % (
        'case', 'upload', 'convert: RSS+, CPU+', 'check: RSS+, CPU+',
        'worker: RSS+, CPU+')]
    for row in rows:
        cells = []
        for command in ('convert', 'check', 'worker'):
            m, b = row[command], base[command]
            cells.append('%+5.1f MB %+5.2f s %s' % (
                (m['rss'] - b['rss']) / MiB, m['cpu'] - b['cpu'],
                'ok' if m['exit'] == 0 else 'exit %d' % m['exit']))
        lines.append('%-40s %7d K  %-22s %-22s %-22s' % (
            row['case'], row['upload'] // 1024, *cells))
    return '\n'.join(lines)


def within_targets(rows):
    base = rows[0]
    return all(row[c]['rss'] - base[c]['rss'] <= RSS_TARGET
               and row[c]['cpu'] - base[c]['cpu'] <= CPU_TARGET
               for row in rows[1:] for c in ('convert', 'check', 'worker'))


def page(rows, when):
    body = table(rows).splitlines()
    return '\n'.join(
        ['.. Generated by python -m tools.metadata_costs on %s (%s, %d '
         'cores). Do not edit.' % (when, platform.node(), os.cpu_count()),
         '', '::', ''] + ['    ' + line for line in body] + [
            '', 'Within targets (32 MB, 1 s above the baseline): %s. '
            '``xenimage-check`` exits 1 on the raw disk and the chains: '
            'neither is an image Nova boots as it is.'
            % ('yes' if within_targets(rows) else 'NO'), ''])


def main():
    p = argparse.ArgumentParser(prog='python -m tools.metadata_costs')
    p.add_argument('--json')
    p.add_argument('--page')
    args = p.parse_args()
    rows = run()
    print(table(rows))
    print('within targets: %s' % within_targets(rows))
    when = time.strftime('%Y-%m-%d')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'date': when, 'rows': rows}, f, indent=2)
    if args.page:
        with open(args.page, 'w') as f:
            f.write(page(rows, when))
    return 0 if within_targets(rows) else 1


if __name__ == '__main__':
    sys.exit(main())
