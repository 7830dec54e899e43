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

"""The one pipeline: an upload in, a XenServer image out.

The Glance plugin and ``xenimage-convert`` are thin adapters over it, so
both accept and refuse the same uploads and take the same paths:

:func:`examine`  inspect the upload and decide the action; creates nothing
:func:`execute`  carry the action out into a work file, read the written
                 VHD back, and place the output last, once nothing after
                 it can fail
:func:`run`      both, for callers that need nothing in between

The actions: a valid tap tarball passes through as it is; a valid bare tap
VHD is packed as it is; a snapshot chain is checked and flattened; any
other upload is converted by the configured helper.
"""

import contextlib
import dataclasses
import os
import shutil
import typing

from xenimage_import import check
from xenimage_import import cleanup
from xenimage_import import exception
from xenimage_import import helpers
from xenimage_import import pack
from xenimage_import.source import inspect
from xenimage_import.source import upload
from xenimage_import import workfiles

PASS_THROUGH = 'pass-through'
PACK = 'pack'
CONVERT = 'convert'
FLATTEN = 'flatten'


@dataclasses.dataclass(frozen=True)
class Request(object):
    """One upload and what the caller wants of it.

    :param path: the uploaded file.
    :param destination: where the output goes; it exists only once
        complete. A pass-through with ``keep_upload`` leaves it unused:
        the upload itself is the output.
    :param policy: what inspection accepts (:class:`inspect.Policy`).
    :param claimed: the format the uploader gave, or ``auto``.
    :param output: ``helpers.OUTPUT_TARBALL`` or ``helpers.OUTPUT_VHD``.
    :param helper: the conversion helper's name; ``conf`` its options.
    :param keep_upload: a valid tap tarball may stay where it is (Glance
        stores the staged file); otherwise it is copied to destination.
    :param slot: a context manager factory held around the work that
        costs (Glance's per-node conversion slots).
    :param inspect_guest: read the guest disk's layout as it passes.
    :param describe: ``describe(outcome)``, called once the output is
        written and checked but before it is placed; what it returns is
        ``Outcome.description``. A caller's report that fails thus leaves
        no output behind.
    """

    path: str
    destination: str
    policy: inspect.Policy
    claimed: str = 'auto'
    output: str = helpers.OUTPUT_TARBALL
    helper: str = 'local'
    conf: typing.Any = None
    level: int = pack.DEFAULT_LEVEL
    threads: int = 0
    work_prefix: typing.Optional[str] = None
    progress: typing.Optional[typing.Callable] = None
    keep_upload: bool = False
    slot: typing.Callable = contextlib.nullcontext
    inspect_guest: bool = True
    describe: typing.Optional[typing.Callable] = None


@dataclasses.dataclass(frozen=True)
class Outcome(object):
    """What was done, and what an image record should say of it.

    ``virtual_size`` is read back from the VHD written (or the one passed
    through), not predicted from the source.
    """

    action: str
    source_format: str
    path: str
    size: int
    virtual_size: int
    guest: typing.Optional[dict] = None
    result: typing.Optional[helpers.ConversionResult] = None
    description: typing.Any = None


@dataclasses.dataclass
class Plan(object):
    """An examined upload: the action decided, nothing created yet."""

    request: Request
    upload: upload.Upload

    @property
    def source_format(self):
        return self.upload.source_format

    def cleanup(self):
        self.upload.cleanup()


def examine(request):
    """Inspect the upload and decide what to do with it.

    :raises exception.XenImageError: the upload is refused.
    """
    found = upload.examine(request.path, request.claimed, request.policy)
    if found.action == upload.PASS_THROUGH and \
            request.output != helpers.OUTPUT_TARBALL:
        # A bare VHD is wanted: the tarball's 0.vhd is re-written.
        found.action = upload.UNPACK
    return Plan(request, found)


def execute(plan):
    """Carry out ``plan``; the output is placed last.

    Work files (the unpacked tarball, the output in progress) are removed
    on every exit; on failure nothing is left at the destination.
    """
    request, found = plan.request, plan.upload
    try:
        if found.action == upload.PASS_THROUGH and request.keep_upload:
            return _described(request, Outcome(
                PASS_THROUGH, found.source_format, request.path,
                os.path.getsize(request.path),
                found.report.vhd.virtual_size))
        with request.slot():
            return _write(plan)
    finally:
        plan.cleanup()


def run(request):
    """Examine and execute ``request``; return its :class:`Outcome`."""
    return execute(examine(request))


def _write(plan):
    request, found = plan.request, plan.upload
    directory = os.path.dirname(os.path.abspath(request.destination))
    prefix = request.work_prefix or workfiles.destination_prefix(
        request.destination)
    found.unpack(request.policy, directory, prefix)
    work = workfiles.reserve(directory, prefix, workfiles.PARTIAL)
    try:
        action, result = _write_work_file(request, found, work, prefix)
        outcome = Outcome(
            action, found.source_format, request.destination,
            os.path.getsize(work), check.written_virtual_size(work),
            guest=result.guest if result else None, result=result)
        outcome = _described(request, outcome)
        os.replace(work, request.destination)
        return outcome
    finally:
        cleanup.remove(work)


def _described(request, outcome):
    if not request.describe:
        return outcome
    return dataclasses.replace(outcome,
                               description=request.describe(outcome))


def _write_work_file(request, found, work, prefix):
    """Write the output into ``work``; return (action, helper result).

    :param prefix: the work-file prefix every step of this request uses.
    """
    if found.action in (upload.PASS_THROUGH, upload.PACK_VHD):
        if request.output == helpers.OUTPUT_TARBALL and \
                found.action == upload.PACK_VHD:
            pack.pack_vhd_file(found.path, work, request.level,
                               request.threads, work_prefix=prefix)
        else:
            with pack.atomic_output(work, prefix=prefix) as out, \
                    open(found.path, 'rb') as src:
                shutil.copyfileobj(src, out, 1024 * 1024)
        return (PASS_THROUGH if found.action == upload.PASS_THROUGH
                else PACK), None
    helper = helpers.load(request.helper, conf=request.conf)
    result = helper.convert(helpers.ConversionRequest(
        source=found.source, destination=work, output=request.output,
        level=request.level, threads=request.threads,
        work_prefix=prefix, progress=request.progress,
        inspect_guest=request.inspect_guest))
    action = FLATTEN if found.source.chain else CONVERT
    return action, result


def refuse(error):
    """The one-line reason users see for ``error``, scrubbed of paths.

    Anything that is not a verdict on the image (a bug, an I/O error) is
    reported by its kind.
    """
    if isinstance(error, exception.XenImageError):
        message = str(error)
    else:
        message = 'conversion failed: %s' % (
            getattr(error, 'strerror', None) or type(error).__name__)
    return exception.scrub_paths(message)
