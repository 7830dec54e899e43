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

"""Glance image-import plugin: staged upload -> XenServer image tarball.

Enabled with ``image_import_plugins = [xenimage_import]`` in
glance-image-import.conf, after any plugin that rewrites the data (a
data-rewriting plugin after it is refused: see ``neighbours``). The flow:

``_AcceptUpload``   refuse what the configuration or the image record
                     rules out before the data is read; own the revert
                     that puts the image back to ``queued``
``_ConvertToTapVhd`` run the pipeline in a worker process (``worker``):
                     refuse unsafe or mislabelled data, convert through
                     the configured helper, or pass a valid tap tarball
                     through unchanged
``_PublishImage``   set formats, sizes, vm_mode and min_disk on the image,
                     and os_type/auto_disk_config from the guest inspection
                     where the user left them unset

Each task's ``revert`` undoes exactly what it did; the first one also puts
the image back to ``queued`` and its stores to failed, since Glance leaves
that to plugins, unless another of Glance's tasks does it
(``neighbours``; doc/source/reference/glance-plugin.rst). A configuration
that cannot work fails the first task with the option to change.
"""

import math
import os
import sys

from glance.common import exception as glance_exception
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import units
from taskflow.patterns import linear_flow as lf
from taskflow import task

from xenimage_import import children
from xenimage_import import cleanup
from xenimage_import import concurrency
from xenimage_import import conf
from xenimage_import import exception
from xenimage_import.glance import image_edit
from xenimage_import.glance import neighbours
from xenimage_import.glance import staging
from xenimage_import.glance import worker
from xenimage_import.guest import inspector as guest
from xenimage_import import pipeline
from xenimage_import import progress
from xenimage_import import publish
from xenimage_import.source import formats
from xenimage_import import workfiles

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
conf.register_opts(CONF)

# Set from the guest inspection when the user did not set them.
_INFERRED_PROPERTIES = ('os_type', 'auto_disk_config')
# What _PublishImage may change, restored by its revert.
_PUBLISHED_ATTRIBUTES = ('disk_format', 'container_format', 'size',
                         'virtual_size', 'min_disk')
_PUBLISHED_PROPERTIES = ('vm_mode', publish.SOURCE_FORMAT_PROPERTY,
                         publish.INSPECTION_PROPERTY) + _INFERRED_PROPERTIES


def _lock_path(staging_dir):
    # NOTE: the slot and liveness locks must be shared by every worker of
    # the node; Glance's lock_path is, and the staging directory is too.
    return CONF.oslo_concurrency.lock_path or staging_dir


def _job(path, image_id, claimed):
    """The worker's job for the staged upload at ``path``."""
    work_dir = os.path.dirname(path)
    return worker.Job(
        path=path, destination=os.path.join(work_dir, '%s.tgz' % image_id),
        claimed=claimed,
        work_prefix=workfiles.image_prefix(image_id, _lock_path(work_dir)))


def _fail(image_id, error):
    """Log and raise the one exception whose message users see.

    Anything that is not a verdict on the image (a bug, an I/O error) is
    reported by its kind; no server path reaches the user either way.
    """
    if isinstance(error, exception.XenImageError):
        LOG.error('Image %(id)s: xenimage_import refused the upload: '
                  '%(err)s', {'id': image_id, 'err': error})
    else:
        LOG.exception('Image %s: xenimage_import failed', image_id)
    raise glance_exception.UploadException(
        'xenimage_import: %s' % pipeline.refuse(error))


class _AcceptUpload(task.Task):

    def __init__(self, task_id, task_type, action_wrapper, stores,
                 config_error=None, status_reset_by=None):
        self.task_id = task_id
        self.action_wrapper = action_wrapper
        self.image_id = action_wrapper.image_id
        self.stores = stores
        # A configuration that cannot work fails the import at once.
        self.config_error = config_error
        # The task that reverts after this plugin and resets the status.
        self.status_reset_by = status_reset_by
        self.staged_uri = None
        super().__init__(name='%s-XenAccept-%s' % (task_type, task_id),
                         provides=('xen_job', 'staged_uri'))

    def execute(self, file_path):
        self.staged_uri = file_path
        if self.config_error:
            _fail(self.image_id,
                  exception.XenImageError(self.config_error))
        try:
            path = staging.local_path(file_path)
        except exception.XenImageError as e:
            _fail(self.image_id, e)
        with image_edit.editing(self.action_wrapper) as image:
            disk_format = image.get('disk_format')
            container_format = image.get('container_format')
        LOG.info('Image %(id)s: converting staged %(disk)s/%(cont)s data',
                 {'id': self.image_id, 'disk': disk_format,
                  'cont': container_format})
        # An ISO is raw data to qemu; inspection refuses it unless allowed.
        claimed = 'raw' if disk_format == 'iso' else disk_format
        if claimed not in formats.SOURCE_FORMATS:
            _fail(self.image_id, exception.UnsupportedFormat(
                'disk_format %s cannot be converted to a XenServer VHD'
                % disk_format))
        staging_dir = os.path.dirname(path)
        workfiles.sweep_stale(staging_dir, _lock_path(staging_dir))
        return _job(path, self.image_id, claimed), file_path

    def revert(self, result=None, **kwargs):
        # NOTE: Glance leaves the image 'importing' with its stores in
        # 'importing' unless a task's revert resets them, and a second
        # 'queued -> queued' raises and stops every revert after it (the
        # import lock is then never dropped). So the status is reset here
        # only when no one did before (a later task) and no one will
        # after (an earlier one: see neighbours).
        with image_edit.editing(self.action_wrapper) as image:
            if self.status_reset_by:
                LOG.debug('Image %(id)s: %(by)s puts the image back to '
                          'queued', {'id': self.image_id,
                                     'by': self.status_reset_by})
            elif image.get('status') == 'importing':
                image.set(status='queued')
                image.fail_stores(self.stores)
        # NOTE: as Glance's image_conversion does, the staged upload goes
        # too: a failed import leaves nothing behind and the user stages
        # the data again.
        staging.delete(self.staged_uri)
        LOG.info('Image %s: import reverted, image is queued again',
                 self.image_id)


class _ProgressLog(progress.Progress):
    """Per-import progress at INFO: percentage and rate, every few s.

    Short conversions log nothing here; long ones every few seconds.
    """

    def __init__(self, image_id):
        super().__init__()
        self.image_id = image_id

    def show(self, phase, done, total, rate):
        LOG.info('Image %(id)s: %(phase)s %(pct)d%% (%(done)s of %(total)s, '
                 '%(rate)s/s)', {
                     'id': self.image_id, 'phase': phase,
                     'pct': 100 * done // max(total, 1),
                     'done': exception.human_size(done),
                     'total': exception.human_size(total),
                     'rate': exception.human_size(rate)})


class _ConvertToTapVhd(task.Task):

    def __init__(self, task_id, task_type, image_id):
        self.task_id = task_id
        self.image_id = image_id
        self.dest_path = None
        super().__init__(name='%s-XenConvert-%s' % (task_type, task_id),
                         provides=('file_path', 'xen_outcome'))

    def execute(self, file_path, xen_job):
        group = CONF.xenimage_import
        slots = concurrency.ConversionSlots(
            _lock_path(os.path.dirname(xen_job.path)),
            group.max_concurrent_conversions)
        try:
            with slots.convert(self.image_id):
                outcome = worker.convert(xen_job, CONF,
                                         _ProgressLog(self.image_id))
        except Exception as e:
            _fail(self.image_id, e)
        if outcome.path == xen_job.path:
            LOG.info('Image %s: already a valid tap VHD tarball, stored '
                     'unchanged', self.image_id)
            return file_path, outcome
        self.dest_path = outcome.path
        LOG.info('Image %(id)s: %(src)s image converted to a tap VHD '
                 'tarball of %(size)d bytes (%(action)s)', {
                     'id': self.image_id, 'src': outcome.source_format,
                     'size': outcome.size, 'action': outcome.action})
        return 'file://%s' % outcome.path, outcome

    def revert(self, result=None, **kwargs):
        if self.dest_path:
            cleanup.remove(self.dest_path)


class _PublishImage(task.Task):

    def __init__(self, task_id, task_type, action_wrapper):
        self.task_id = task_id
        self.action_wrapper = action_wrapper
        self.image_id = action_wrapper.image_id
        self.saved = None
        super().__init__(name='%s-XenPublish-%s' % (task_type, task_id))

    def execute(self, file_path, xen_outcome, staged_uri):
        group = CONF.xenimage_import
        size = xen_outcome.size
        with image_edit.editing(self.action_wrapper) as image:
            props = image.properties
            self.saved = {
                'attributes': {name: image.get(name)
                               for name in _PUBLISHED_ATTRIBUTES},
                'properties': {k: props[k] for k in _PUBLISHED_PROPERTIES
                               if k in props},
            }
            image.set(
                disk_format=publish.DISK_FORMAT,
                container_format=publish.CONTAINER_FORMAT,
                size=size, virtual_size=xen_outcome.virtual_size)
            inferred = _inferred(props, xen_outcome.guest) \
                if group.inspect_guest else {}
            image.set_properties(dict(
                inferred,
                vm_mode=publish.vm_mode(dict(props, **inferred),
                                        group.default_vm_mode),
                **{publish.SOURCE_FORMAT_PROPERTY: xen_outcome.source_format}))
            if group.set_min_disk and not image.get('min_disk'):
                image.set(min_disk=int(math.ceil(xen_outcome.virtual_size
                                                 / units.Gi)))
        LOG.info('Image %(id)s: published as vhd/ovf, %(size)d bytes, '
                 'virtual size %(vsize)d', {'id': self.image_id,
                                            'size': size,
                                            'vsize': xen_outcome.virtual_size})
        if file_path != staged_uri:
            # The tarball replaced the upload; Glance deletes file_path.
            staging.delete(staged_uri)

    def revert(self, result=None, **kwargs):
        if self.saved is None:
            return
        saved = self.saved
        with image_edit.editing(self.action_wrapper) as image:
            image.set(**saved['attributes'])
            for key in _PUBLISHED_PROPERTIES:
                if key in saved['properties']:
                    image.set_properties({key: saved['properties'][key]})
                else:
                    image.pop_property(key)


def _inferred(props, report):
    """Properties to set from the guest inspection ``report``.

    Only those the user left unset; the inspection is always recorded.
    """
    if not report:
        return {}
    found = {key: report[key] for key in _INFERRED_PROPERTIES
             if report.get(key) and not props.get(key)}
    found[publish.INSPECTION_PROPERTY] = guest.property_text(report, found)
    return found


def get_flow(**kwargs):
    """Return the xenimage_import flow.

    :param task_id: Task ID.
    :param task_type: Type of the task.
    :param action_wrapper: An api_image_import.ImportActionWrapper
        (Glance 21 on; built from ``image_repo``, ``admin_repo`` and
        ``image_id`` on Glance 20: see ``image_edit``).
    :param backend: the stores the image is being imported to.
    :param import_req: the import request (its method decides which of
        Glance's tasks reverts after this plugin).
    """
    task_id = kwargs.get('task_id')
    task_type = kwargs.get('task_type')
    action_wrapper = image_edit.wrapper(kwargs)
    stores = kwargs.get('backend') or []
    image_id = action_wrapper.image_id
    method = ((kwargs.get('import_req') or {}).get('method') or {}).get(
        'name')
    # NOTE: under uWSGI sys.executable is not Python; qemu-img's limits
    # wrapper (where prlimit is missing) runs with Glance's interpreter,
    # [wsgi] python_interpreter where the release has it. Glance 20
    # serves from its own eventlet server, whose sys.executable is Python.
    children.set_context(children.ChildContext(neighbours.glance_option(
        CONF, 'wsgi', 'python_interpreter', sys.executable)))
    return lf.Flow(task_type).add(
        _AcceptUpload(
            task_id, task_type, action_wrapper, stores,
            config_error=neighbours.configuration_error(CONF),
            status_reset_by=neighbours.status_reset_by_earlier_task(
                method, CONF)),
        _ConvertToTapVhd(task_id, task_type, image_id),
        _PublishImage(task_id, task_type, action_wrapper),
    )
