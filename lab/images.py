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

"""Build real disk images from local files, deterministically.

Used by the tests, the demo and the benchmark: an ext4 filesystem made by
``mkfs.ext4 -d`` from files on this machine, sparse files with scattered
data, incompressible data, and their qcow2/vhd conversions by the real
qemu-img. No network, no checked-in blobs.
"""

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile

from xenimage_import import archive
from xenimage_import import helpers
from xenimage_import.helpers.local import driver as local
from xenimage_import.source import inspect
from xenimage_import.vhd import layout as L
from xenimage_import.vhd import writer

MiB = 1024 * 1024
GiB = 1024 * MiB

# Trees that exist on any Debian machine with Python: binaries, libraries,
# text. Walked in sorted order so the same machine gives the same image.
DEFAULT_TREES = ('/usr/lib/python3', '/usr/share/doc', '/usr/bin', '/usr/lib',
                 '/usr/share')
FS_UUID = '5f1b4b4e-6a36-4d5b-9a63-2b0b4c1e7a10'
FAKE_TIME = '1700000000'


def run(*cmd, **kwargs):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kwargs)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout,
                                            proc.stderr.strip())
    return proc


def collect_files(trees, limit):
    """Yield (path, size) of regular files from ``trees`` up to ``limit``."""
    total = 0
    for tree in trees:
        for root, dirs, files in os.walk(tree):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                try:
                    if os.path.islink(path) or not os.path.isfile(path):
                        continue
                    size = os.path.getsize(path)
                    if not os.access(path, os.R_OK):
                        continue
                except OSError:
                    continue
                if total + size > limit:
                    continue
                total += size
                yield path, size
                if total >= limit * 0.999:
                    return


def make_ext4(path, size, data_bytes, trees=DEFAULT_TREES):
    """A raw disk holding an ext4 filesystem with ~``data_bytes`` of files.

    Holes are dug afterwards (``fallocate --dig-holes``), as a real image
    would have them.
    """
    staging = tempfile.mkdtemp(prefix='xenimage-fs-',
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        for n, (src, _size) in enumerate(collect_files(trees, data_bytes)):
            dst = os.path.join(staging, '%03d' % (n // 1000),
                               src.lstrip('/').replace('/', '_'))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            try:
                shutil.copyfile(src, dst)
            except OSError:
                continue
        with open(path, 'wb') as f:
            f.truncate(size)
        env = dict(os.environ, E2FSPROGS_FAKE_TIME=FAKE_TIME)
        run('mkfs.ext4', '-q', '-F', '-U', FS_UUID,
            '-E', 'hash_seed=%s,root_owner=0:0' % FS_UUID,
            '-d', staging, path, env=env)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    run('fallocate', '--dig-holes', path)
    return path


def pattern(seed, size):
    """Deterministic pseudo-random bytes."""
    return random.Random(repr(seed)).randbytes(size)


def make_sparse(path, size, regions, seed=1):
    """A sparse raw file of ``size`` bytes with data at ``regions``.

    :param regions: list of (offset, length); each gets distinct data.
    """
    with open(path, 'wb') as f:
        f.truncate(size)
        for n, (offset, length) in enumerate(regions):
            f.seek(offset)
            done = 0
            while done < length:
                chunk = min(length - done, 8 * MiB)
                f.write(pattern((seed, n, done), chunk))
                done += chunk
    return path


def make_random(path, size, seed=7):
    """``size`` bytes of incompressible (but reproducible) data."""
    return make_sparse(path, size, [(0, size)], seed=seed)


def scattered_regions(size, count, length, seed=3):
    """``count`` non-overlapping regions of ``length`` bytes in ``size``."""
    rnd = random.Random(seed)
    slot = size // count
    return [(n * slot + rnd.randrange(0, max(1, slot - length)) // 512 * 512,
             length) for n in range(count)]


def qemu_convert(src, dst, out_format, src_format='raw', options=None,
                 compressed=False):
    cmd = ['qemu-img', 'convert', '-q', '-f', src_format, '-O', out_format]
    if compressed:
        cmd.append('-c')
    if options:
        cmd += ['-o', options]
    run(*(cmd + [src, dst]))
    return dst


def qemu_compare(a, a_format, b, b_format):
    """True when qemu-img compare says the two images are identical."""
    proc = subprocess.run(['qemu-img', 'compare', '-f', a_format, '-F',
                           b_format, a, b], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    return proc.returncode == 0, proc.stdout.strip()


def extract_member(tarball, directory, name='0.vhd'):
    run('tar', '-xzf', tarball, '-C', directory, name)
    return os.path.join(directory, name)


def small_disk(directory):
    """A 40.5 MiB ext4 disk of local files, as (raw path, qcow2 path)."""
    raw = make_ext4(os.path.join(directory, 'disk.raw'),
                    40 * MiB + 512 * 1024, 8 * MiB, trees=('/usr/share/doc',))
    return raw, qemu_convert(raw, os.path.join(directory, 'disk.qcow2'),
                             'qcow2')


def tap_vhd(raw, destination, work_prefix=None):
    """Write the raw file ``raw`` as a tap VHD with the project's writer."""
    size = os.path.getsize(raw)
    local.LocalHelper().convert(helpers.ConversionRequest(
        source=inspect.SourceImage(path=raw, format='raw', virtual_size=size,
                                   file_size=size, detected='raw'),
        destination=destination, output=helpers.OUTPUT_VHD,
        work_prefix=work_prefix))
    return destination


def tap_vhd_bytes(plan, read_block=None, timestamp=None, unique_id=None):
    """A whole tap VHD in memory, for small test disks.

    :param plan: a :class:`writer.TapVhdPlan` holding every block.
    :param read_block: called with each block index; returns exactly
        ``BLOCK_SIZE`` bytes.
    """
    footer = plan.footer(*writer.new_identity(timestamp, unique_id))
    pieces = [plan.metadata(footer)]
    # A fresh plan hands out the bytes in front of each block's data.
    order = writer.TapVhdPlan(plan.requested_size)
    for block in plan.blocks:
        pieces.append(order.add(block))
        data = read_block(block)
        assert len(data) == L.BLOCK_SIZE, (block, len(data))
        pieces.append(data)
    pieces.append(footer)
    return b''.join(pieces)


def tar_extract(command, path, directory, gzipped=True):
    """What the tar ``command`` extracts from ``path`` into a new directory.

    :returns: (exit code, {relative name: sha256, or None if not a regular
        file}).
    """
    shutil.rmtree(directory, ignore_errors=True)
    os.mkdir(directory)
    proc = subprocess.run(list(command) + ['-xzf' if gzipped else '-xf',
                                           path, '-C', directory],
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    found = {}
    for root, dirs, files in os.walk(directory):
        for name in files + dirs:
            full = os.path.join(root, name)
            rel = os.path.relpath(full, directory)
            if os.path.isfile(full) and not os.path.islink(full):
                with open(full, 'rb') as f:
                    found[rel] = hashlib.sha256(f.read()).hexdigest()
            else:
                found[rel] = None
    return proc.returncode, found


def archive_member_sha256(path):
    """sha256 of 0.vhd as the project's archive reader streams it."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        gz = archive.GzipMemberReader(f)
        size = archive.read_header(gz)
        member = archive.MemberReader(gz, size)
        for chunk in iter(lambda: member.read(MiB), b''):
            digest.update(chunk)
        archive.check_end(gz, size)
    return digest.hexdigest()


# Runs argv[2:] and writes [exit code, peak RSS bytes] to argv[1]. A child's
# peak RSS (wait4) includes its parent's resident memory at fork time, so
# the command is started from this small process, not from a test worker
# that may hold hundreds of MB.
_MEASURE = """
import json, os, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], 'w') as f:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024], f)
"""


def run_measured(argv, timeout=None):
    """Run ``argv``; return (exit code, stdout, stderr, its peak RSS bytes).

    :raises subprocess.TimeoutExpired: after ``timeout`` seconds (the
        command's process group is killed first).
    """
    with tempfile.NamedTemporaryFile('r') as result:
        proc = subprocess.Popen(
            [sys.executable, '-S', '-c', _MEASURE, result.name] + list(argv),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        rc, rss = json.load(result)
    return rc, out, err, rss
