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

"""Fuzz targets: feed bytes to a parser; only documented errors may escape.

Any other exception is a bug (a crash for the fuzzer, a failure for the
corpus replay test).
"""

import atexit
import io
import os
import tempfile

from lab import images
from xenimage_import import check
from xenimage_import import exception
from xenimage_import.source import inspect
from xenimage_import.vhd import reader
from xenimage_import.vhd import writer

_TMP = None


def fuzz_vhd(data):
    report = reader.validate_vhd(io.BytesIO(data), len(data))
    # The report must be usable as the checker uses it.
    str(report.problems)
    return report


def fuzz_tarball(data):
    try:
        report = check.check_tarball_stream(io.BytesIO(data))
    except exception.Unreadable:
        return None
    report.as_dict()
    return report


def fuzz_inspect(data):
    global _TMP
    if _TMP is None:
        fd, _TMP = tempfile.mkstemp(prefix='xenimage-fuzz-')
        os.close(fd)
        atexit.register(os.unlink, _TMP)
    with open(_TMP, 'wb') as f:
        f.write(data)
    for claimed in ('auto', 'vhd'):
        try:
            inspect.preinspect(_TMP, claimed)
        except exception.XenImageError as e:
            assert str(e)


TARGETS = {
    'vhd': fuzz_vhd,
    'tarball': fuzz_tarball,
    'inspect': fuzz_inspect,
}


def seeds(scratch):
    """Small valid inputs to start each corpus from."""
    import subprocess
    import tarfile

    plan = writer.TapVhdPlan(4 * 1024 * 1024, [])
    tap = images.tap_vhd_bytes(plan, None)
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode='w:gz') as archive:
        info = tarfile.TarInfo('0.vhd')
        info.size = len(tap)
        archive.addfile(info, io.BytesIO(tap))
    found = {'vhd': {'tap-empty': tap},
             'tarball': {'tap-empty': tgz.getvalue()},
             'inspect': {'tap-empty': tap}}
    for name, fmt, opts in (('qemu-vhd', 'vpc', ''),
                            ('qcow2', 'qcow2', 'cluster_size=512'),
                            ('vdi', 'vdi', ''),
                            ('vhdx', 'vhdx', 'block_size=1M,log_size=1M')):
        path = os.path.join(scratch, name)
        cmd = ['qemu-img', 'create', '-q', '-f', fmt]
        if opts:
            cmd += ['-o', opts]
        if subprocess.run(cmd + [path, '1M']).returncode == 0:
            with open(path, 'rb') as f:
                data = f.read(65536)
            found['inspect'][name] = data
            if fmt == 'vpc':
                found['vhd'][name] = data
    return found
