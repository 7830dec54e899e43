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

"""What the rest of Glance's import flow does around this plugin.

Two questions, answered once per import from Glance's configuration and
the Glance release installed (doc/source/reference/glance-plugin.rst has
the facts per release):

* Can this configuration work at all? A plugin after this one that
  rewrites the data, or ``vhd``/``ovf`` missing from the formats the
  deployment allows, makes every import fail or end in a format Glance
  refuses. :func:`configuration_checks` names the option to change; the
  plugin refuses the import with it and the pre-flight prints it.
* Who puts the image back to ``queued`` when the import fails? Glance's
  base flow leaves it to the tasks, reverts run in reverse order, and a
  second ``queued -> queued`` is an error that stops every revert after it
  (the import lock is then never dropped). So this plugin resets the
  status only when no task that reverts after it will: see
  :func:`status_reset_by_earlier_task`.
"""

import functools
import importlib
import warnings

from xenimage_import import helpers
from xenimage_import import publish

PLUGIN_NAME = 'xenimage_import'

# Glance's plugins that replace the staged data; after this plugin they
# would rewrite (or refuse) the tarball it made.
DATA_REWRITING_PLUGINS = ('image_conversion', 'image_decompression')

Check = helpers.PreflightCheck


def glance_option(conf, group, name, default=None):
    """An option of Glance's, or ``default`` where it is not registered."""
    try:
        return getattr(getattr(conf, group) if group else conf, name)
    except Exception:
        # cfg.NoSuchOptError / NoSuchGroupError, or not registered here.
        return default


def _check(name, ok, detail_ok, detail_failed, failed=helpers.CHECK_FAILED):
    return Check(name, helpers.CHECK_OK if ok else failed,
                 detail_ok if ok else detail_failed)


def _neighbours(conf):
    """The plugins listed before and after this one, or None if absent."""
    plugins = list(glance_option(conf, 'image_import_opts',
                                 'image_import_plugins', []) or [])
    if PLUGIN_NAME not in plugins:
        return None
    at = plugins.index(PLUGIN_NAME)
    return plugins[:at], plugins[at + 1:]


def configuration_checks(conf):
    """Check what this plugin needs of Glance's configuration.

    :param conf: the ConfigOpts Glance's options are registered in.
    :returns: a list of :class:`Check`, failures first.
    """
    around = _neighbours(conf)
    if around is not None:
        later = [p for p in around[1] if p in DATA_REWRITING_PLUGINS]
        checks = [_check(
            'plugin order', not later,
            'no plugin after %s rewrites the data' % PLUGIN_NAME,
            '%s runs after %s and would rewrite its tarball: list %s last '
            'in [image_import_opts] image_import_plugins'
            % (later[0] if later else '', PLUGIN_NAME, PLUGIN_NAME))]
    else:
        checks = [_check('plugin order', False, '',
                         '%s is not in [image_import_opts] '
                         'image_import_plugins' % PLUGIN_NAME)]
    for option, value in (('disk_formats', publish.DISK_FORMAT),
                          ('container_formats', publish.CONTAINER_FORMAT)):
        allowed = glance_option(conf, 'image_format', option)
        if allowed is not None:
            checks.append(_check(
                option, value in allowed, '%s is allowed' % value,
                '%s is not among [image_format] %s: add it, or Glance '
                'refuses the images this plugin makes' % (value, option)))
    methods = glance_option(conf, None, 'enabled_import_methods')
    if methods is not None:
        checks.append(_check(
            'import methods', 'glance-direct' in methods,
            'glance-direct is enabled',
            'glance-direct is not in [DEFAULT] enabled_import_methods: '
            'image-create-via-import --file cannot reach the plugin',
            failed=helpers.CHECK_WARNING))
    order = (helpers.CHECK_FAILED, helpers.CHECK_WARNING, helpers.CHECK_OK)
    return sorted(checks, key=lambda c: order.index(c.status))


def register_glance_opts(conf):
    """Register Glance's API and import options in ``conf``.

    For the pre-flight, which reads glance-api.conf and
    glance-image-import.conf outside Glance. Returns False where Glance is
    not installed.
    """
    with warnings.catch_warnings():
        # Glance's imports warn about eventlet; not the operator's concern.
        warnings.simplefilter('ignore')
        try:
            from glance import opts as glance_opts
        except ImportError:
            return False
    for group, options in (glance_opts.list_api_opts()
                           + glance_opts.list_image_import_opts()):
        conf.register_opts(options, group=group)
    return True


def configuration_verdict(conf):
    """The checks as one pre-flight verdict, named ``glance``.

    With the side door's (:mod:`side_door`), which reads Glance's policy:
    worth it once per pre-flight, not on every import.
    """
    from xenimage_import.glance import side_door
    checks = configuration_checks(conf)
    door = side_door.check(conf)
    return helpers.PreflightVerdict('glance', 'configuration',
                                    checks + ([door] if door else []))


def configuration_error(conf):
    """The first check that fails, as one line, or None."""
    for check in configuration_checks(conf):
        if check.status == helpers.CHECK_FAILED:
            return check.detail
    return None


def status_reset_by_earlier_task(import_method, conf):
    """Name the task that reverts after this plugin and resets the status.

    :returns: a short description of that task, or None when this plugin
        must put the image back to ``queued`` itself.
    """
    if import_method in ('web-download', 'glance-download') \
            and _download_revert_resets_status():
        return 'the %s task' % import_method
    earlier = (_neighbours(conf) or ([], []))[0]
    if 'image_conversion' in earlier and _conversion_revert_resets_status():
        return 'image_conversion'
    return None


@functools.lru_cache(maxsize=None)
def _download_revert_resets_status():
    """Whether Glance's download tasks reset the status when they succeeded.

    Since Glance 25 (Zed) web-download and glance-download share
    ``base_download``, whose revert sets ``queued`` and fails the stores
    whether the download itself failed or a later task did; before, the
    web-download revert did so only for its own failure.
    """
    try:
        importlib.import_module(
            'glance.async_.flows._internal_plugins.base_download')
    except ImportError:
        return False
    return True


class _Recorder(object):
    """Stands in for the action wrapper; records status changes only."""

    def __init__(self):
        self.status = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def set_image_attribute(self, **attrs):
        self.status = attrs.get('status', self.status)

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


@functools.lru_cache(maxsize=None)
def _conversion_revert_resets_status():
    """Whether Glance's ``image_conversion`` revert resets the status.

    It has done so unconditionally since Glance 29 (2024.2), and in the
    backports to 27.1.1 and 28.2.0; earlier releases only remove their
    file. Backports (and distributions' own) make the version a poor
    guide, so the installed code is asked: see :func:`revert_sets_queued`.
    """
    try:
        module = importlib.import_module(
            'glance.async_.flows.plugins.image_conversion')
        return revert_sets_queued(module._ConvertImage)
    except (ImportError, AttributeError):
        return False


def revert_sets_queued(cls):
    """Run ``cls.revert`` once against a stand-in; did it set ``queued``?

    The task is made without its constructor, with no paths and no stores,
    so the revert touches no file and no image: only the stand-in wrapper
    records what it would have set.
    """
    recorder = _Recorder()
    probe = cls.__new__(cls)
    vars(probe).update(action_wrapper=recorder, image_repo=recorder,
                       stores=[], src_path=None, dest_path=None,
                       image_id=None, task_id=None)
    try:
        cls.revert(probe, result=None)
    except Exception:
        # A release whose revert needs more than the stand-in offers
        # still counts by what it set before failing.
        pass
    return recorder.status == 'queued'
