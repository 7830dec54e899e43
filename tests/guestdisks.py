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

"""Guest disks made by the real tools: sfdisk tables, mkfs filesystems.

Each filesystem is made in a file of its own by its own mkfs (or
mkswap, cryptsetup, pvcreate on a loop device) and copied into the disk
at its partition's offset, after sfdisk wrote the table.
"""

import contextlib
import os
import shutil
import subprocess
import tempfile

from lab import images

MiB = images.MiB

# filesystem: (mkfs command, MBR type, GPT type GUID)
_MAKERS = {
    'ext2': (['mkfs.ext2', '-q', '-F'], '83', 'L'),
    'ext3': (['mkfs.ext3', '-q', '-F'], '83', 'L'),
    'ext4': (['mkfs.ext4', '-q', '-F'], '83', 'L'),
    'xfs': (['mkfs.xfs', '-q', '-f'], '83', 'L'),
    'btrfs': (['mkfs.btrfs', '-q', '-f'], '83', 'L'),
    'ntfs': (['mkfs.ntfs', '-Q', '-F', '-q'], '7',
             'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7'),
    'vfat': (['mkfs.vfat'], 'c', 'U'),
    'swap': (['mkswap', '-q'], '82', 'S'),
    'luks': (None, '83', 'L'),
    'lvm2_pv': (None, '8e', 'V'),
}


def loop_devices_work():
    """Whether this machine lets us attach a loop device (for pvcreate)."""
    with tempfile.NamedTemporaryFile() as f:
        f.truncate(MiB)
        proc = subprocess.run(['losetup', '-f', '--show', f.name],
                              capture_output=True, text=True)
        if proc.returncode:
            return False
        subprocess.run(['losetup', '-d', proc.stdout.strip()])
        return True


@contextlib.contextmanager
def _loop(path):
    dev = images.run('losetup', '-f', '--show', path).stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(['losetup', '-d', dev])


def make_filesystem(path, size, fs):
    """A file of ``size`` bytes holding a fresh ``fs``."""
    with open(path, 'wb') as f:
        f.truncate(size)
    command = _MAKERS[fs][0]
    if fs == 'luks':
        key = path + '.key'
        with open(key, 'w') as f:
            f.write('not-a-secret')
        images.run('cryptsetup', 'luksFormat', '-q', '--type', 'luks2',
                   '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000',
                   path, key)
    elif fs == 'lvm2_pv':
        with _loop(path) as dev:
            images.run('pvcreate', '-ff', '-y', '-q', dev)
    else:
        images.run(*(command + [path]))
    return path


def _copy_into(src, disk, offset):
    with open(src, 'rb') as s, open(disk, 'r+b') as d:
        while True:
            chunk = s.read(MiB)
            if not chunk:
                return
            if any(chunk):
                d.seek(offset)
                d.write(chunk)
            offset += len(chunk)


def disk(path, label, parts, extended=()):
    """A raw disk: an sfdisk ``label`` (dos/gpt) and ``parts`` in order.

    :param parts: ``(filesystem or None, size in MiB)``, primary (or GPT)
        partitions from 1 MiB on, each 1 MiB aligned.
    :param extended: for ``dos``, logical partitions in an extended one
        after the primaries (each preceded by its EBR, 1 MiB apart).
    :returns: ``[(number, start, size, filesystem)]`` as written.
    """
    total = 1 + sum(s for _, s in parts) + sum(s + 1 for _, s in extended)
    with open(path, 'wb') as f:
        f.truncate((total + 2) * MiB)
    script = ['label: %s' % label]
    layout = []
    start = 1
    for number, (fs, size) in enumerate(parts, 1):
        script.append('start=%dMiB, size=%dMiB, type=%s' % (
            start, size, _MAKERS[fs][1 if label == 'dos' else 2]
            if fs else '83'))
        layout.append((number, start * MiB, size * MiB, fs))
        start += size
    if extended:
        script.append('start=%dMiB, type=5' % start)
        for number, (fs, size) in enumerate(extended, 5):
            start += 1
            script.append('start=%dMiB, size=%dMiB, type=%s'
                          % (start, size, _MAKERS[fs][1]))
            layout.append((number, start * MiB, size * MiB, fs))
            start += size
    subprocess.run(['sfdisk', '-q', '--no-reread', '--no-tell-kernel', path],
                   input='\n'.join(script) + '\n', text=True, check=True,
                   capture_output=True)
    work = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(path)))
    try:
        for number, offset, size, fs in layout:
            if fs:
                part = make_filesystem(os.path.join(work, '%d.fs' % number),
                                       size, fs)
                _copy_into(part, path, offset)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return layout


def whole_disk(path, fs, size_mib=64):
    """A raw disk that is one filesystem, no partition table."""
    return make_filesystem(path, size_mib * MiB, fs)
