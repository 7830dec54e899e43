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

"""Structure-aware fuzzing of the whole pipeline, through the real commands.

Seeds are small real images of every accepted format (made by qemu-img
and GNU tar), the project's own tarballs (gzipped and bare), and
qemu-img's VHD as bsdtar and ``tar -S`` store it (sparse members, whose
maps are mutated). Each mutation targets what parsers trust: header
fields, table entries (found by parsing the seed), the file's length,
tar header fields, sparse maps and trailing data. Every mutated input
goes through ``xenimage-convert`` and ``xenimage-check`` as
subprocesses, and :func:`judge` holds them to the project's promises:

* exit 0, or exit 1 with exactly one line on stderr; never a traceback;
* no process runs past its deadline; peak RSS under 100 MB;
* nothing is left beside the input but the complete output;
* a converted disk is what qemu-img (or GNU tar, for a tarball) reads
  from the same input;
* a tarball the checker calls valid extracts under GNU tar to exactly
  the one ``0.vhd`` the checker read.

Run it from the repository root (``tox -e fuzz`` does)::

    python -m tests.fuzz.pipeline [--seconds N] [--jobs N] [--seed N]

An input with an outcome not seen before is kept in
tests/fuzz/corpus/pipeline (replayed by the functional tests); one that
breaks a promise goes to tests/fuzz/crashes with the reason. The run ends
with its figures: executions, time, findings.
"""

import argparse
import concurrent.futures
import dataclasses
import hashlib
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

from lab import images
from xenimage_import import archive

MiB = 1024 * 1024
RSS_LIMIT = 100 * MiB
TIMEOUT = 300


@dataclasses.dataclass
class Seed(object):
    name: str
    data: bytes
    fields: list          # (offset, size) of trusted fields and entries


def _qemu_image(scratch, fmt, options=''):
    raw = os.path.join(scratch, 'seed.raw')
    with open(raw, 'wb') as f:
        f.truncate(3 * MiB)
        for at in (0, MiB + 4096, 2 * MiB + 512 * 1024):
            f.seek(at)
            f.write(hashlib.sha256(b'%d' % at).digest() * 2048)
    path = os.path.join(scratch, 'seed.' + fmt)
    cmd = ['qemu-img', 'convert', '-q', '-f', 'raw', '-O', fmt]
    if options:
        cmd += ['-o', options]
    subprocess.run(cmd + [raw, path], check=True)
    with open(path, 'rb') as f:
        return f.read()


def _u(data, fmt, offset):
    return struct.unpack_from(fmt, data, offset)[0]


def _fields(name, data):
    """Offsets of header fields and table entries worth mutating."""
    header = [(o, 4) for o in range(0, min(len(data), 1536), 4)]
    tables = []
    if name == 'qcow2':
        l1 = _u(data, '>Q', 40)
        tables = [(l1 + 8 * i, 8) for i in range(4)]
        l2 = _u(data, '>Q', l1) & 0x00FFFFFFFFFFFE00
        tables += [(l2 + 8 * i, 8) for i in range(48)]
    elif name == 'vhd':
        bat = _u(data, '>Q', 512 + 16)
        tables = [(bat + 4 * i, 4) for i in range(4)]
        header += [(len(data) - 512 + o, 4) for o in range(0, 512, 4)]
    elif name == 'vmdk':
        gd = _u(data, '<Q', 56) * 512
        gt = _u(data, '<I', gd) * 512
        tables = [(gd, 4)] + [(gt + 4 * i, 4) for i in range(48)]
    elif name == 'vdi':
        blocks = _u(data, '<I', 0x154)
        tables = [(blocks + 4 * i, 4) for i in range(4)]
    elif name == 'vhdx':
        header = [(o, 4) for o in range(192 * 1024, 192 * 1024 + 96, 4)]
        for at in range(192 * 1024 + 16, 192 * 1024 + 16 + 32 * 5, 32):
            if data[at:at + 4] == bytes.fromhex('6677c22d'):
                bat = _u(data, '<Q', at + 16)
                tables = [(bat + 8 * i, 8) for i in range(4)]
    return [f for f in header + tables if f[0] + f[1] <= len(data)]


def _tap_tarball(scratch, vhd_data):
    vhd = os.path.join(scratch, 'seed.vhd')
    with open(vhd, 'wb') as f:
        f.write(vhd_data)
    out = os.path.join(scratch, 'seed.tgz')
    subprocess.run([sys.executable, '-m', 'xenimage_import.cmd.convert',
                    '--source-format', 'vhd', vhd, out], check=True,
                   stdout=subprocess.DEVNULL)
    with open(out, 'rb') as f:
        return f.read()


def _sparse_tarball(scratch, vhd_data, *tar):
    """``vhd_data`` with holes as ``tar`` archives it: a sparse member.

    bsdtar writes pax format 1.0, ``tar -S`` an old GNU ``S`` member.
    """
    work = tempfile.mkdtemp(dir=scratch)
    with open(os.path.join(work, '0.vhd'), 'wb') as f:
        for at in range(0, len(vhd_data), 4096):
            chunk = vhd_data[at:at + 4096]
            if any(chunk):
                f.seek(at)
                f.write(chunk)
        f.truncate(len(vhd_data))
    out = os.path.join(scratch, 'sparse.tgz')
    subprocess.run(list(tar) + ['-czf', out, '-C', work, '0.vhd'],
                   check=True)
    with open(out, 'rb') as f:
        return f.read()


def _guest_disk(scratch):
    """A raw disk with sfdisk's GPT and an ext4 head in its partition."""
    path = os.path.join(scratch, 'seed.disk')
    with open(path, 'wb') as f:
        f.truncate(3 * MiB)
    table = 'label: gpt\nstart=2048, size=2048, type=L\n'
    subprocess.run(['sfdisk', '-q', '--no-reread', '--no-tell-kernel',
                    path], input=table, text=True, check=True,
                   capture_output=True)
    with open(path, 'r+b') as f:
        f.seek(MiB + 1024 + 56)
        f.write(b'\x53\xef')
    with open(path, 'rb') as f:
        return f.read()


def _guest_fields(data):
    """MBR entries, both GPT headers and the first entries."""
    end = len(data) - 512
    return ([(o, 4) for o in range(446, 510, 4)]
            + [(o, 4) for o in range(512, 604, 4)]
            + [(o, 8) for o in range(1024, 1024 + 256, 8)]
            + [(end + o, 4) for o in range(0, 92, 4)])


def seeds(scratch):
    found = [Seed('raw', b'', [])]
    for name, fmt, options in (('qcow2', 'qcow2', ''),
                               ('qcow2c', 'qcow2', 'compression_type=zlib'),
                               ('vhd', 'vpc', ''),
                               ('vmdk', 'vmdk', ''),
                               ('vmdk-stream', 'vmdk',
                                'subformat=streamOptimized'),
                               ('vdi', 'vdi', ''),
                               ('vhdx', 'vhdx', 'block_size=1M')):
        data = _qemu_image(scratch, fmt, options)
        found.append(Seed(name, data, _fields(name, data)))
    with open(os.path.join(scratch, 'seed.raw'), 'rb') as f:
        found[0].data = f.read()
    found.append(Seed('tgz', _tap_tarball(scratch, found[3].data), []))
    found.append(Seed('tar', zlib.decompress(found[-1].data, 31), []))
    found.append(Seed('tgz-pax-sparse', _sparse_tarball(
        scratch, found[3].data, 'bsdtar'), []))
    found.append(Seed('tgz-gnu-sparse', _sparse_tarball(
        scratch, found[3].data, 'tar', '-S'), []))
    disk = _guest_disk(scratch)
    found.append(Seed('disk', disk, _guest_fields(disk)))
    return found


_VALUES = (0, 1, 0x7F, 0x80, 0xFF, 0x200, 0x1000, 0x7FFFFFFF, 0x80000000,
           0xFFFFFFFF, 0xFFFFFFFE)


def _mutate_fields(rng, seed):
    data = bytearray(seed.data)
    for _ in range(rng.choice((1, 1, 2, 3))):
        offset, size = rng.choice(seed.fields)
        if rng.random() < 0.5:
            value = rng.choice(_VALUES)
        elif rng.random() < 0.5:
            value = rng.randrange(len(data) + 4096) // 512
        else:
            value = rng.getrandbits(8 * size)
        data[offset:offset + size] = (value % (1 << 8 * size)).to_bytes(
            size, rng.choice(('big', 'little')))
    return bytes(data)


_TYPEFLAGS = b'0125LKxgS7\0'
_TAR_FIELDS = ('name', 'mode', 'size', 'typeflag', 'linkname', 'magic',
               'version', 'prefix', 'uname')


def _mutate_tarball(rng, seed):
    gzipped = seed.data.startswith(archive.GZIP_MAGIC)
    tar = bytearray(zlib.decompress(seed.data, 31) if gzipped
                    else seed.data)
    header = archive.TAR_HEADER.unpack(tar[:512])
    field = rng.choice(_TAR_FIELDS)
    width = len(getattr(header, field))
    if field == 'typeflag':
        value = bytes([rng.choice(_TYPEFLAGS)])
    elif field == 'size':
        value = rng.choice((b'+%010o\0', b'%011o ', b' %010o\0',
                            b'0_%09o\0', b'%011o\0')) % (
            (len(tar) - 1536 + rng.randrange(-1024, 1024)) % 8 ** 9)
    elif field == 'name':
        value = rng.choice((b'./0.vhd', b'0.vhd/', b'../0.vhd', b'0.vhd\0x',
                            b'/0.vhd', b'1.vhd', b'0.VHD'))
    else:
        value = bytes(rng.getrandbits(8) for _ in range(rng.randrange(
            1, width + 1)))
    header = header._replace(**{field: value[:width].ljust(width, b'\0')})
    block = archive.TAR_HEADER.pack(header._replace(checksum=b' ' * 8))
    if rng.random() < 0.9:
        header = header._replace(checksum=b'%06o\0 ' % sum(block))
    tar[:512] = archive.TAR_HEADER.pack(header)
    if rng.random() < 0.2:
        tar += bytes(rng.getrandbits(8) for _ in range(rng.choice(
            (1, 511, 512))))
    data = bytes(tar)
    if gzipped:
        out = zlib.compressobj(1, zlib.DEFLATED, 31)
        data = out.compress(data) + out.flush()
    if rng.random() < 0.1:
        data += data
    return data


def _map_number(rng, value):
    """A sparse map number changed as a writer's bug or an attacker would."""
    value = rng.choice((value + 1, value - 1, value + 512, value - 512, 0,
                        value * 2, 1 << rng.randrange(64)))
    return rng.choice((b'%d', b'%d', b'%d', b'+%d', b'%d_0', b' %d')) % (
        max(value, 0))


def _mutate_sparse_map(rng, seed):
    """Change one number of a sparse member's map (pax 1.0 or old GNU)."""
    tar = bytearray(zlib.decompress(seed.data, 31))
    stand_in = tar.find(b'GNUSparseFile.')
    if stand_in >= 0:
        # pax 1.0: the map opens the member's data, one number a line.
        start = stand_in - stand_in % 512 + 512
        lines = bytes(tar[start:start + 512]).split(b'\0')[0].split(b'\n')
        i = rng.randrange(len(lines) - 1)
        lines[i] = _map_number(rng, int(lines[i]))
        text = b'\n'.join(lines)[:512]
        tar[start:start + 512] = text.ljust(512, b'\0')
    else:
        # old GNU: four 24-byte entries in the header, 21 per extension.
        spots = [386 + 24 * i for i in range(4)]
        if tar[482]:
            spots += [512 + 24 * i for i in range(21)]
        at = rng.choice(spots) + rng.choice((0, 12))
        old = int(bytes(tar[at:at + 11]).strip(b'\0') or b'0', 8)
        tar[at:at + 12] = rng.choice((
            b'%011o\0' % (max(old + rng.choice((-512, -1, 1, 512)), 0)),
            bytes(12), b'+%010o\0' % old))
        if rng.random() < 0.9:
            tar[148:156] = b' ' * 8
            tar[148:156] = b'%06o\0 ' % sum(tar[:512])
    out = zlib.compressobj(1, zlib.DEFLATED, 31)
    return out.compress(bytes(tar)) + out.flush()


def mutate(rng, seed):
    """One mutated input from seed."""
    choice = rng.random()
    if seed.name in ('tgz', 'tar') and choice < 0.7:
        return _mutate_tarball(rng, seed)
    if seed.name.endswith('-sparse') and choice < 0.7:
        return _mutate_sparse_map(rng, seed)
    if choice < 0.15:
        return seed.data[:rng.randrange(len(seed.data))]
    if choice < 0.3 or not seed.fields:
        data = bytearray(seed.data)
        for _ in range(rng.randrange(1, 16)):
            at = rng.randrange(min(len(data), 64 * 1024))
            data[at] ^= 1 << rng.randrange(8)
        return bytes(data)
    return _mutate_fields(rng, seed)


def _run_rss(argv):
    """(rc, stdout, stderr, peak RSS bytes) of one command."""
    try:
        return images.run_measured(argv, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError('%s hung past %d s' % (argv[3], TIMEOUT))


def _cli(name, *args):
    return [sys.executable, '-m', 'xenimage_import.cmd.%s' % name] + list(
        args)


def _is_gzip(path):
    with open(path, 'rb') as f:
        return f.read(2) == archive.GZIP_MAGIC


def _is_tarball(path):
    """Gzipped or bare: what the converter reads as a tarball."""
    with open(path, 'rb') as f:
        head = f.read(archive.TAR_BLOCK)
    return archive.container(head) in ('gzip', archive.BARE_TAR)


def judge(data, work):
    """Run the commands on ``data`` in ``work``; return the outcome.

    :raises AssertionError: a broken promise, with the reason.
    """
    os.makedirs(work)
    src = os.path.join(work, 'input')
    with open(src, 'wb') as f:
        f.write(data)
    dest = os.path.join(work, 'out.tgz')
    rc, out, err, rss = _run_rss(_cli('convert', '--json', src, dest))
    if 'Traceback' in err or rc not in (0, 1):
        raise AssertionError('convert exit %d: %s' % (rc, err[-2000:]))
    if rss > RSS_LIMIT:
        raise AssertionError('convert used %d MB' % (rss // MiB))
    left = sorted(os.listdir(work))
    expected = ['input', 'out.tgz'] if rc == 0 else ['input']
    if left != expected:
        raise AssertionError('left behind: %s' % left)
    if rc == 1:
        if len(err.strip().splitlines()) != 1:
            raise AssertionError('not one line: %r' % err)
        # The kind of refusal: its words, not its numbers.
        outcome = 'refused: ' + re.sub(r'[0-9]+', 'N', err.split(
            'error: ', 1)[-1])[:48]
    else:
        outcome = 'converted' + _guest_kind(out)
        _same_disk(src, dest, work, out)
    crc, cout, cerr, crss = _run_rss(_cli('check', src))
    if 'Traceback' in cerr or crc not in (0, 1, 3) or crss > RSS_LIMIT:
        raise AssertionError('check exit %d, %d MB: %s'
                             % (crc, crss // MiB, cerr[-2000:]))
    if crc == 0 and _is_gzip(src):
        trc, members = images.tar_extract(['tar'], src,
                                          os.path.join(work, 'gnu'))
        if trc or members != {'0.vhd': images.archive_member_sha256(src)}:
            raise AssertionError('GNU tar reads %s (exit %d)'
                                 % (members, trc))
    shutil.rmtree(work)
    return outcome


def _guest_kind(summary):
    """The guest verdict's kind; the inspection must always give one."""
    guest = json.loads(summary).get('guest')
    if guest is None:
        return ''
    if not (guest.get('unknown') or guest.get('os_type')
            or guest.get('auto_disk_config')
            or guest.get('partition_table') is None):
        raise AssertionError('a guest report without a verdict: %s'
                             % guest)
    return ', guest %s' % ('unknown' if guest['unknown'] else 'known')


def _same_disk(src, dest, work, summary):
    """The converted disk equals what qemu-img reads from the input."""
    fmt = json.loads(summary)['source_format']
    vhd_dir = os.path.join(work, 'x')
    os.mkdir(vhd_dir)
    subprocess.run(['tar', '-xzf', dest, '-C', vhd_dir], check=True)
    reference, ref_fmt = src, {'vhd': 'vpc'}.get(fmt, fmt)
    if fmt == 'vhd' and _is_tarball(src):
        trc, members = images.tar_extract(['tar'], src,
                                          os.path.join(work, 'gnu-in'),
                                          gzipped=_is_gzip(src))
        if trc or list(members) != ['0.vhd']:
            raise AssertionError('converted a tarball GNU tar reads as %s'
                                 % members)
        reference = os.path.join(work, 'gnu-in', '0.vhd')
    proc = subprocess.run(['qemu-img', 'compare', '-f', ref_fmt, '-F', 'vpc',
                           reference, os.path.join(vhd_dir, '0.vhd')],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=TIMEOUT)
    if proc.returncode:
        raise AssertionError('converted disk differs from the input as '
                             'qemu-img reads it: %s' % proc.stdout.strip())


REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CORPUS = os.path.join(REPO, 'tests', 'fuzz', 'corpus', 'pipeline')
CRASHES = os.path.join(REPO, 'tests', 'fuzz', 'crashes')
# Kept inputs stay small: the corpus is committed.
MAX_KEPT_BYTES = 8 * 1024 * 1024

_SEEDS = None


def _one(args):
    seed_index, rng_seed, scratch = args
    global _SEEDS
    if _SEEDS is None:
        _SEEDS = seeds(tempfile.mkdtemp(dir=scratch))
    rng = random.Random(rng_seed)
    seed = _SEEDS[seed_index % len(_SEEDS)]
    data = mutate(rng, seed)
    work = os.path.join(scratch, 'run-%d' % rng_seed)
    try:
        return seed.name, data, judge(data, work), None
    except AssertionError as e:
        return seed.name, data, None, str(e)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--seconds', type=int, default=60)
    p.add_argument('--jobs', type=int, default=2)
    p.add_argument('--seed', type=int, default=int(time.time()))
    args = p.parse_args()
    os.makedirs(CORPUS, exist_ok=True)
    os.makedirs(CRASHES, exist_ok=True)
    seen = set()
    for name in os.listdir(CORPUS):
        seen.add(name.split('.', 1)[1] if '.' in name else name)
    scratch = tempfile.mkdtemp(prefix='xenimage-fuzz-')
    executions = findings = kept = 0
    start = time.monotonic()
    counter = args.seed * 1000003
    with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        pending = set()
        while True:
            while (len(pending) < 2 * args.jobs
                   and time.monotonic() - start < args.seconds):
                counter += 1
                pending.add(pool.submit(_one, (counter, counter, scratch)))
            if not pending:
                break
            done, pending = concurrent.futures.wait(
                pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                seed, data, outcome, broken = future.result()
                executions += 1
                digest = hashlib.sha256(data).hexdigest()[:16]
                if broken:
                    findings += 1
                    path = os.path.join(CRASHES, 'pipeline-%s' % digest)
                    with open(path, 'wb') as f:
                        f.write(data)
                    with open(path + '.txt', 'w') as f:
                        f.write(broken + '\n')
                    print('FINDING %s (%s): %s' % (path, seed, broken))
                    continue
                key = '%s-%s' % (seed, hashlib.sha256(
                    outcome.encode()).hexdigest()[:8])
                if key not in seen and len(data) <= MAX_KEPT_BYTES:
                    seen.add(key)
                    kept += 1
                    with open(os.path.join(CORPUS, '%s.%s' % (
                            digest, key)), 'wb') as f:
                        f.write(data)
    shutil.rmtree(scratch, ignore_errors=True)
    print('executions %d in %.0f s, findings %d, new corpus inputs %d'
          % (executions, time.monotonic() - start, findings, kept))
    return 1 if findings else 0


if __name__ == '__main__':
    raise SystemExit(main())
