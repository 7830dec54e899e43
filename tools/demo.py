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

"""The main job: a real Glance imports a real disk image as a XenServer one.

Starts glance-api 33 on 127.0.0.1 with xenimage_import enabled, builds an
ext4 disk from local files as qcow2, imports it with the real ``glance``
CLI (``image-create-via-import``), waits for ``active``, downloads the
data, runs ``xenimage-check`` on it, prints the image record, and stops
Glance. Everything lives in a temporary directory, removed at the end
unless ``--keep`` is given.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from lab import glance_server
from lab import images


def step(message):
    print('==> %s' % message, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--size-mib', type=int, default=256,
                   help='virtual size of the demo disk (default 256)')
    p.add_argument('--data-mib', type=int, default=64,
                   help='MiB of local files copied into it (default 64)')
    p.add_argument('--keep', action='store_true',
                   help='keep the work directory (Glance config, logs)')
    args = p.parse_args()

    base = tempfile.mkdtemp(prefix='xenimage-demo-')
    server = glance_server.GlanceServer(os.path.join(base, 'glance'))
    try:
        step('starting glance-api 33 (uWSGI) on 127.0.0.1')
        server.start()
        step('glance-api at %s, plugins: xenimage_import' % server.url)

        step('building a %d MiB ext4 disk with %d MiB of local files'
             % (args.size_mib, args.data_mib))
        raw = images.make_ext4(os.path.join(base, 'demo.raw'),
                               args.size_mib * images.MiB,
                               args.data_mib * images.MiB)
        qcow2 = images.qemu_convert(raw, os.path.join(base, 'demo.qcow2'),
                                    'qcow2')
        step('glance image-create-via-import --disk-format qcow2 '
             '--container-format bare --file demo.qcow2')
        start = time.monotonic()
        out = server.glance('image-create-via-import', '--disk-format',
                            'qcow2', '--container-format', 'bare', '--name',
                            'xenimage-demo', '--file', qcow2).stdout
        image_id = re.search(r'^\|\s+id\s+\|\s+(\S+)', out, re.M).group(1)
        status = ''
        while status != 'active':
            if time.monotonic() - start > 300:
                raise SystemExit('import did not finish in 300 s')
            time.sleep(0.5)
            record = server.glance('image-show', image_id).stdout
            status = re.search(r'^\|\s+status\s+\|\s+(\S+)', record,
                               re.M).group(1)
            if status == 'queued':
                raise SystemExit('import failed:\n%s' % server.glance(
                    'image-tasks', image_id).stdout)
        step('image %s active after %.1f s' % (image_id,
                                               time.monotonic() - start))

        data = os.path.join(base, 'downloaded.tgz')
        server.glance('image-download', '--file', data, image_id)
        step('xenimage-check on the downloaded data')
        check = subprocess.run([os.path.join(sys.prefix, 'bin',
                                             'xenimage-check'), data])
        step('the image record')
        print(server.glance('image-show', image_id).stdout)
        if check.returncode:
            raise SystemExit('the downloaded image failed xenimage-check')
        formats = re.findall(r'^\|\s+(disk_format|container_format)\s+\|'
                             r'\s+(\S+)', record, re.M)
        if dict(formats) != {'disk_format': 'vhd',
                             'container_format': 'ovf'}:
            raise SystemExit('unexpected formats: %s' % formats)
        step('done: qcow2 upload stored as a XenServer vhd/ovf tarball')
    finally:
        step('stopping glance-api')
        server.stop()
        if args.keep:
            print('kept %s' % base)
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    main()
