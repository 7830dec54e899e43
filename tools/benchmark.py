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

"""Benchmark xenimage-convert against the manual procedure.

Reference images are built once, deterministically, from files on this
machine (no network) and kept in the work directory:

* ``fs``: a 4 GiB ext4 disk holding ~1.3 GB of files, holes dug, and its
  qcow2 conversion (the input of the ``fs`` case);
* ``sparse``: 20 GiB virtual, 200 MiB of data in 8 regions; ``sparse-data``
  holds the same 200 MiB densely (what the data alone costs);
* ``random``: 1 GiB of incompressible data;
* ``dense``: a 1 GiB ext4 disk holding ~700 MB of shared libraries, as
  qcow2 (a dense image: little to skip);
* ``sparse64``: 64 GiB virtual with the same 200 MiB (memory check only).

Per case the methods run alternately, ``--runs`` times each:
``xenimage-convert`` at its default and its smallest-output level, the
manual procedure (``qemu-img convert -O vpc`` + ``tar -czf``), and
``qemu-img convert -O vpc`` + ``tar | pigz -1 -p2`` when pigz is
installed, and the floor: ISA-L's threaded gzip writer, at the same
level and threads, in a process importing nothing else, over the case's
allocated data alone (``REFERENCE.data``, its extents as ``qemu-img
map`` reports them, back to back). Wall time (median,
min-max), CPU time, peak RSS of the process tree, "core" time (the
command's own work, without interpreter start-up), output size, and
ratios to the manual procedure and to the floor are printed as a table
and written as JSON. Every xenimage output is checked with xenimage-check
and ``qemu-img compare`` against its source.

With ``--xenserver`` the fs case also runs ``xenimage-convert --helper
xenserver`` against the XAPI simulator of lab/xapisim (started in this
process; no XenServer can run here): dom0 sending the VHD file for this
node to pack (``transfer_format = vhd``), and dom0 gzipping the tarball at
levels 1 and 6 (``tgz``). Its import step includes the simulator's own
stand-in for XenServer's storage (lab/xapisim/tapdisk.py); CPU and RSS
count the converter only, not the simulator or the dom0 plugin it runs.
Traffic is on loopback; ``--shape 1gbit`` puts a token bucket on ``lo``
for the run (root), so the source upload and dom0's transfer back cross a
link of that rate, as between a Glance node and a pool.

    python -m tools.benchmark [--work DIR] [--runs 3] [--json out.json]
        [--cases fs] [--methods xenimage,floor] [--xenserver [--shape R]]
"""

import argparse
import collections
import compileall
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from lab import images
import xenimage_import
from xenimage_import import pack

MiB = images.MiB
GiB = images.GiB
BIN = os.path.dirname(os.path.abspath(sys.executable))


def build_references(work):
    """Create the reference images that are not there yet."""
    def need(name):
        return not os.path.exists(os.path.join(work, name))

    def path(name):
        return os.path.join(work, name)

    if need('fs.qcow2'):
        print('building fs.raw (4 GiB ext4, ~1.3 GB of local files)...',
              flush=True)
        images.make_ext4(path('fs.raw'), 4 * GiB, int(1.3e9))
        images.qemu_convert(path('fs.raw'), path('fs.qcow2'), 'qcow2')
    regions = images.scattered_regions(20 * GiB, 8, 25 * MiB)
    if need('sparse.raw'):
        print('building sparse.raw (20 GiB, 200 MiB of data)...', flush=True)
        images.make_sparse(path('sparse.raw'), 20 * GiB, regions)
    if need('sparse-data.raw'):
        dense = [(n * 25 * MiB, 25 * MiB) for n in range(8)]
        images.make_sparse(path('sparse-data.raw'), 200 * MiB, dense)
    if need('sparse64.raw'):
        images.make_sparse(path('sparse64.raw'), 64 * GiB,
                           images.scattered_regions(64 * GiB, 8, 25 * MiB))
    if need('random.raw'):
        print('building random.raw (1 GiB)...', flush=True)
        images.make_random(path('random.raw'), 1 * GiB)
    if need('dense.qcow2'):
        print('building dense.raw (1 GiB ext4, ~700 MB of shared '
              'libraries)...', flush=True)
        images.make_ext4(path('dense.raw'), 1 * GiB, int(700e6),
                         trees=('/usr/lib',))
        images.qemu_convert(path('dense.raw'), path('dense.qcow2'), 'qcow2')
    for _src, _fmt, _methods, reference in CASES.values():
        if 'floor' in _methods and need(reference + '.data'):
            write_allocated_data(path(reference), path(reference + '.data'))


def write_allocated_data(raw, out):
    """The data extents of ``raw`` (as qemu-img maps them), back to back.

    What any converter must at least read and compress.
    """
    extents = json.loads(subprocess.run(
        ['qemu-img', 'map', '--output=json', '-f', 'raw', raw],
        check=True, stdout=subprocess.PIPE, text=True).stdout)
    with open(raw, 'rb') as src, open(out, 'wb') as dst:
        for extent in extents:
            if not extent['data']:
                continue
            src.seek(extent['start'])
            left = extent['length']
            while left:
                chunk = src.read(min(left, 8 * MiB))
                dst.write(chunk)
                left -= len(chunk)


# What one run of a method cost; "core" is None for shell pipelines.
Sample = collections.namedtuple('Sample', 'wall cpu rss core user')


def run_measured(cmd, cwd=None):
    """Run ``cmd``; return its :class:`Sample` (seconds, RSS bytes).

    User CPU is the steadiest figure on a VM: system time includes the
    host backing guest pages on first touch, which varies run to run.

    "core s" is the time the command reports for its own work, without
    interpreter start-up (the ``seconds`` of xenimage-convert --json);
    None for the others.
    """
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    stdout = proc.stdout.read().decode(errors='replace')
    stderr = proc.stderr.read().decode(errors='replace')
    proc.stdout.close()
    proc.stderr.close()
    # A wait status is 0 exactly when the command exited 0 (Python 3.8
    # has no os.waitstatus_to_exitcode).
    if status:
        raise RuntimeError('%s failed: %s' % (' '.join(cmd), stderr))
    try:
        core = float(json.loads(stdout)['seconds'])
    except (ValueError, KeyError, TypeError):
        core = None
    return Sample(wall, usage.ru_utime + usage.ru_stime,
                  usage.ru_maxrss * 1024, core, usage.ru_utime)


def _convert(level):
    def cmd(src, fmt, out_dir):
        return ([os.path.join(BIN, 'xenimage-convert'), '--json', '--level',
                 str(level), '--source-format', fmt, src,
                 os.path.join(out_dir, 'out.tgz')], None)
    return cmd


def _manual(compressor):
    def cmd(src, fmt, out_dir):
        qfmt = {'vhd': 'vpc'}.get(fmt, fmt)
        script = ('qemu-img convert -f %s -O vpc "$1" 0.vhd && %s && '
                  'rm -f 0.vhd' % (qfmt, compressor))
        return (['bash', '-c', script, 'manual', src], out_dir)
    return cmd


def _floor(level):
    """The best threaded gzip there is, alone over the data extents.

    ISA-L's threaded writer at the same level and thread count as
    xenimage-convert's default, in a process that imports nothing else:
    what reading the data, compressing it on every core and writing the
    result costs, with Python's start-up and nothing of this project.
    """
    def cmd(src, fmt, out_dir):
        code = ('import shutil, sys\n'
                'from isal import igzip_threaded\n'
                'with open(sys.argv[1], "rb") as i, igzip_threaded.open(\n'
                '        sys.argv[2], "wb", compresslevel=%d, threads=%d,\n'
                '        block_size=%d) as o:\n'
                '    shutil.copyfileobj(i, o, %d)\n'
                % (level, pack.default_threads(), pack.JOB_SIZE,
                   pack.JOB_SIZE))
        return ([sys.executable, '-c', code, src,
                 os.path.join(out_dir, 'out.tgz')], None)
    return cmd


def _xenserver(transfer, dom0_level=1):
    """xenimage-convert --helper xenserver, against the simulator."""
    def cmd(src, fmt, out_dir):
        conf = os.path.join(out_dir, 'xenserver-%s-%d.conf' % (
            transfer, dom0_level))
        with open(conf, 'w') as f:
            f.write('[xenimage_xenserver]\nhosts = sim:%s\npassword = %s\n'
                    'receiver_bind_host = 127.0.0.1\n'
                    'receiver_port_range = 19690:19699\n'
                    'transfer_format = %s\n'
                    'dom0_compression_level = %d\n'
                    % (_SIMULATOR['url'], _SIMULATOR['password'],
                       transfer, dom0_level))
        return ([os.path.join(BIN, 'xenimage-convert'), '--json', '--helper',
                 'xenserver', '--config-file', conf, '--source-format', fmt,
                 src, os.path.join(out_dir, 'out.tgz')], None)
    return cmd


# The XAPI simulator's address, once --xenserver started it.
_SIMULATOR = {}
XENSERVER_METHODS = ['xenserver-vhd', 'xenserver-dom0-1',
                     'xenserver-dom0-6']
SMALLEST = pack.SMALLEST_LEVEL
METHODS = {
    'xenimage': _convert(pack.DEFAULT_LEVEL),
    'xenimage-smallest': _convert(SMALLEST),
    'manual': _manual('tar -czf out.tgz 0.vhd'),
    'pigz-1': _manual('tar -cf - 0.vhd | pigz -1 -p2 > out.tgz'),
    # The floor: the best threaded gzip, at the same level and threads,
    # over the case's allocated data alone (REFERENCE.data), in the same
    # run, timed as a whole process like every other row.
    'floor': _floor(pack.DEFAULT_LEVEL),
    # dom0 sends the VHD file, this node packs it (transfer_format = vhd)
    'xenserver-vhd': _xenserver('vhd'),
    # dom0 gzips the tarball on one core (transfer_format = tgz)
    'xenserver-dom0-1': _xenserver('tgz', 1),
    'xenserver-dom0-6': _xenserver('tgz', 6),
}

# case: (source file, format, methods, raw reference for qemu-img compare)
CASES = {
    'fs': ('fs.qcow2', 'qcow2',
           ['xenimage', 'floor', 'xenimage-smallest', 'manual', 'pigz-1'],
           'fs.raw'),
    'dense': ('dense.qcow2', 'qcow2', ['xenimage', 'floor', 'manual'],
              'dense.raw'),
    'sparse': ('sparse.raw', 'raw',
               ['xenimage', 'floor', 'xenimage-smallest', 'manual',
                'pigz-1'], 'sparse.raw'),
    'sparse-data': ('sparse-data.raw', 'raw', ['xenimage'],
                    'sparse-data.raw'),
    'random': ('random.raw', 'raw',
               ['xenimage', 'floor', 'xenimage-smallest', 'manual',
                'pigz-1'], 'random.raw'),
    'sparse64': ('sparse64.raw', 'raw', ['xenimage'], 'sparse64.raw'),
}


@contextlib.contextmanager
def shaped_loopback(rate):
    """Limit loopback traffic to ``rate`` (tc syntax: 1gbit) while inside.

    A token bucket on ``lo`` (root or CAP_NET_ADMIN): the simulator, the
    source upload to it and dom0's transfer back all cross it, as they
    would cross the link between a Glance node and a XenServer pool.
    """
    if not rate:
        yield
        return
    # NOTE: the bucket must hold what a 250 Hz timer tick lets through at
    # 10 Gbit/s (5 MB), or tbf cannot reach the rate.
    subprocess.run(['tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'handle',
                    '1:', 'tbf', 'rate', rate, 'burst', '8mb', 'latency',
                    '100ms'], check=True)
    try:
        yield
    finally:
        subprocess.run(['tc', 'qdisc', 'del', 'dev', 'lo', 'root'],
                       check=False)


def verify(out, reference):
    check = subprocess.run([os.path.join(BIN, 'xenimage-check'), out],
                           stdout=subprocess.PIPE, text=True)
    if check.returncode:
        raise RuntimeError('xenimage-check failed: %s' % check.stdout)
    d = tempfile.mkdtemp(dir=os.path.dirname(out))
    try:
        vhd = images.extract_member(out, d)
        same, message = images.qemu_compare(vhd, 'vpc', reference, 'raw')
        if not same:
            raise RuntimeError('qemu-img compare: %s' % message)
    finally:
        shutil.rmtree(d)
    return True


def bench_case(work, name, runs, extra_methods=(), only=None):
    src, fmt, methods, reference = CASES[name]
    methods = methods + list(extra_methods)
    if only:
        methods = [m for m in methods if m in only]
    src = os.path.join(work, src)
    if not shutil.which('pigz'):
        methods = [m for m in methods if m != 'pigz-1']
    samples = {m: [] for m in methods}
    sizes = {}
    verified = {}
    out_dir = tempfile.mkdtemp(prefix='bench-', dir=work)
    try:
        for _ in range(runs):
            for method in methods:       # alternate, in the same run
                source = src
                if method == 'floor':
                    source = os.path.join(work, reference + '.data')
                cmd, cwd = METHODS[method](source, fmt, out_dir)
                # Each run starts with the previous run's output written
                # back: its writeback would otherwise slow whichever
                # method runs next.
                os.sync()
                samples[method].append(run_measured(cmd, cwd or out_dir))
                out = os.path.join(out_dir, 'out.tgz')
                sizes[method] = os.path.getsize(out)
                if method.startswith(('xenimage', 'xenserver')) and \
                        method not in verified:
                    verified[method] = verify(out,
                                              os.path.join(work, reference))
                os.unlink(out)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    rows = []
    manual = statistics.median(s.wall for s in samples['manual']) \
        if 'manual' in samples else None
    manual_size = sizes.get('manual')
    for method in methods:
        runs_ = samples[method]
        walls = [r.wall for r in runs_]
        cores = [r.core for r in runs_ if r.core is not None]
        median = statistics.median(walls)
        rows.append({
            'case': name, 'method': method, 'runs': len(walls),
            'wall_median_s': round(median, 3),
            'wall_min_s': round(min(walls), 3),
            'wall_max_s': round(max(walls), 3),
            'core_median_s': round(statistics.median(cores), 3)
            if cores else None,
            'cpu_median_s': round(statistics.median(r.cpu for r in runs_),
                                  3),
            'user_median_s': round(statistics.median(r.user for r in runs_),
                                   3),
            'peak_rss_mb': round(max(r.rss for r in runs_) / 1e6, 1),
            'output_bytes': sizes[method],
            'speedup_vs_manual': round(manual / median, 2)
            if manual else None,
            'size_vs_manual': round(sizes[method] / manual_size, 4)
            if manual_size else None,
            'verified': verified.get(method),
        })
    floor = [r for r in rows if r['method'] == 'floor']
    # The minima too: this VM's noise (fresh guest pages backed by the host
    # on first touch) only ever adds time.
    for ratio, figure in (('vs_floor', 'wall_median_s'),
                          ('vs_floor_min', 'wall_min_s'),
                          ('user_vs_floor', 'user_median_s')):
        for r in rows:
            r[ratio] = round(r[figure] / floor[0][figure], 2) \
                if floor else None
    return rows


def table_lines(rows):
    """The results as aligned text lines, a rule under the heading."""
    head = ('case', 'method', 'wall s (min-max)', 'core s', 'cpu s (user)',
            'rss MB', 'output bytes', 'x manual', 'x floor (min)',
            'size/gzip-6')
    lines = [head]
    for r in rows:
        lines.append((
            r['case'], r['method'],
            '%.2f (%.2f-%.2f)' % (r['wall_median_s'], r['wall_min_s'],
                                  r['wall_max_s']),
            '%.2f' % r['core_median_s'] if r['core_median_s'] else '-',
            '%.2f (%.2f)' % (r['cpu_median_s'], r['user_median_s']),
            '%.0f' % r['peak_rss_mb'],
            '{:,}'.format(r['output_bytes']),
            '%.1f' % r['speedup_vs_manual']
            if r['speedup_vs_manual'] else '-',
            '%.2f (%.2f)' % (r['vs_floor'], r['vs_floor_min'])
            if r['vs_floor'] else '-',
            '%.3f' % r['size_vs_manual'] if r['size_vs_manual'] else '-'))
    widths = [max(len(str(line[i])) for line in lines)
              for i in range(len(head))]
    text = ['  '.join(str(v).ljust(w) for v, w in zip(line, widths)).rstrip()
            for line in lines]
    text.insert(1, '  '.join('-' * w for w in widths))
    return text


def print_table(rows):
    print('\n'.join(table_lines(rows)))


def write_page(result, path):
    """Write the figures as the RST fragment the docs include.

    Dated, with the machine they come from; the docs' prose says how to
    read them.
    """
    m = result['machine']
    machine_line = '%s cores (%s), %.0f GiB, Python %s, %s' % (
        m.get('cpus'), m.get('cpu', 'unknown CPU'),
        m.get('memory_kb', 0) / 1024 ** 2, m.get('python'),
        m.get('qemu_img', 'qemu-img ?'))
    lines = ['Latest figures', '~~~~~~~~~~~~~~', '',
             'Measured on %s with ``python -m tools.benchmark --runs %d`` '
             'on: %s.%s' % (result['date'][:10], result['runs'],
                            machine_line,
                            ' Loopback shaped to %s.' % result['shape']
                            if result.get('shape') else ''),
             '', '::', '']
    lines += ['    ' + line for line in table_lines(result['results'])]
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('page: %s' % path)


def machine():
    info = {'cpus': os.cpu_count(), 'python': sys.version.split()[0]}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    info['cpu'] = line.split(':', 1)[1].strip()
                    break
        with open('/proc/meminfo') as f:
            info['memory_kb'] = int(f.readline().split()[1])
    except OSError:
        pass
    info['qemu_img'] = subprocess.run(
        ['qemu-img', '--version'], stdout=subprocess.PIPE,
        text=True).stdout.splitlines()[0]
    return info


def write_results(result, path):
    """Write ``result`` as JSON with this machine and the date."""
    result = dict(result, machine=machine(),
                  date=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    with open(path, 'w') as f:
        json.dump(result, f, indent=2)
    print('\nJSON: %s' % path)
    return result


def main():
    p = argparse.ArgumentParser(description='Benchmark xenimage-convert '
                                'against the manual procedure.')
    p.add_argument('--work', default='/var/tmp/xenimage-bench',
                   help='where reference images are built and kept')
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--cases', default=','.join(CASES),
                   help='comma-separated subset of: %s' % ', '.join(CASES))
    p.add_argument('--json', default=None,
                   help='write results here (default WORK/results.json)')
    p.add_argument('--methods', default=None,
                   help='comma-separated subset of the methods to run')
    p.add_argument('--xenserver', action='store_true',
                   help='also run the xenserver helper on the fs case, '
                        'against the XAPI simulator')
    p.add_argument('--shape', metavar='RATE', default=None,
                   help='with --xenserver: limit loopback to RATE (tc '
                        'syntax, e.g. 1gbit) for the run; needs root')
    p.add_argument('--page', metavar='PATH', default=None,
                   help='also write the figures as the RST fragment the '
                        'docs include (doc/source/performance-figures.inc)')
    p.add_argument('--from-json', metavar='FILE', default=None,
                   help='run nothing: render --page (and the table) from '
                        'a saved result')
    args = p.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            result = json.load(f)
        print_table(result['results'])
        if args.page:
            write_page(result, args.page)
        return
    os.makedirs(args.work, exist_ok=True)
    # An installed package has its bytecode compiled; a source checkout
    # (PYTHONDONTWRITEBYTECODE, editable install) would otherwise compile
    # every module at each start and count that as start-up.
    compileall.compile_dir(os.path.dirname(xenimage_import.__file__),
                           quiet=1)
    build_references(args.work)
    sim = None
    if args.xenserver:
        from lab.xapisim import server
        sim = server.XapiSimulator(tempfile.mkdtemp(prefix='xapi-sim-',
                                                    dir=args.work)).start()
        _SIMULATOR.update(url=sim.url, password=sim.password)
    rows = []
    try:
        only = args.methods.split(',') if args.methods else None
        with shaped_loopback(args.shape):
            for name in args.cases.split(','):
                print('running case %s...' % name, flush=True)
                extra = XENSERVER_METHODS if sim and name == 'fs' else ()
                rows.extend(bench_case(args.work, name, args.runs, extra,
                                       only))
    finally:
        if sim:
            sim.stop()
            shutil.rmtree(sim.base, ignore_errors=True)
    print()
    print_table(rows)
    result = write_results(
        {'runs': args.runs, 'shape': args.shape, 'results': rows},
        args.json or os.path.join(args.work, 'results.json'))
    if args.page:
        write_page(result, args.page)


if __name__ == '__main__':
    main()
