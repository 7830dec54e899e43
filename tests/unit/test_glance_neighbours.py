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

"""What the plugin learns of Glance's flow around it, and when it refuses.

The configuration is Glance's own options, registered by Glance 33 (the
release the tests install); the release facts are checked against that
release's classes and against task classes shaped like the older ones.
"""

import os

from glance.common import config as glance_config  # noqa: registers opts
from oslo_config import cfg
from oslo_config import fixture as cfg_fixture
import testtools

from xenimage_import.glance import neighbours
from xenimage_import import helpers


class ConfigurationChecksTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # Glance registers [image_import_opts] where its plugins load.
        from glance.async_.flows import plugins  # noqa
        self.conf = self.useFixture(cfg_fixture.Config(cfg.CONF))

    def plugins(self, *names):
        self.conf.config(image_import_plugins=list(names),
                         group='image_import_opts')
        return neighbours.configuration_error(cfg.CONF)

    def test_last_or_after_data_rewriters_is_accepted(self):
        for order in (['xenimage_import'],
                      ['image_conversion', 'xenimage_import'],
                      ['image_decompression', 'image_conversion',
                       'xenimage_import', 'inject_image_metadata']):
            self.assertIsNone(self.plugins(*order), order)

    def test_a_data_rewriter_after_it_is_refused_by_name(self):
        for rewriter in neighbours.DATA_REWRITING_PLUGINS:
            error = self.plugins('xenimage_import', 'no_op', rewriter)
            self.assertEqual(
                '%s runs after xenimage_import and would rewrite its '
                'tarball: list xenimage_import last in [image_import_opts] '
                'image_import_plugins' % rewriter, error)

    def test_formats_the_deployment_refuses(self):
        self.plugins('xenimage_import')
        for option, value in (('disk_formats', 'vhd'),
                              ('container_formats', 'ovf')):
            allowed = [f for f in getattr(cfg.CONF.image_format, option)
                       if f != value]
            self.conf.config(group='image_format', **{option: allowed})
            self.assertEqual(
                '%s is not among [image_format] %s: add it, or Glance '
                'refuses the images this plugin makes' % (value, option),
                neighbours.configuration_error(cfg.CONF))
            self.conf.config(group='image_format', **{option: allowed + [
                value]})

    def test_glance_direct_disabled_is_a_warning_only(self):
        self.plugins('xenimage_import')
        self.conf.config(enabled_import_methods=['web-download'])
        self.assertIsNone(neighbours.configuration_error(cfg.CONF))
        checks = neighbours.configuration_checks(cfg.CONF)
        self.assertEqual(('import methods', helpers.CHECK_WARNING),
                         (checks[0].name, checks[0].status))

    def test_unregistered_options_are_not_judged(self):
        conf = cfg.ConfigOpts()
        checks = neighbours.configuration_checks(conf)
        self.assertEqual(['plugin order'], [c.name for c in checks])


class _Wrapper(object):
    """A revert's action wrapper: records the attributes set."""

    def __init__(self):
        self.set = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def set_image_attribute(self, **attrs):
        self.set.update(attrs)


class _ConvertBeforeTheFix(object):
    """image_conversion's task as Glance 20 to 28.1 revert it."""

    def revert(self, result=None, **kwargs):
        if result is not None and os.path.exists(self.dest_path):
            os.remove(self.dest_path)


class _ConvertAfterTheFix(object):
    """image_conversion's task as Glance 29 on revert it."""

    def revert(self, result=None, **kwargs):
        with self.action_wrapper as action:
            action.set_image_attribute(status='queued')
            if self.stores:
                action.remove_importing_stores(self.stores)
        if self.src_path:
            os.remove(self.src_path)


class StatusResetTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        from glance.async_.flows import plugins  # noqa
        self.conf = self.useFixture(cfg_fixture.Config(cfg.CONF))

    def reset_by(self, method, *plugins):
        self.conf.config(image_import_plugins=list(plugins),
                         group='image_import_opts')
        return neighbours.status_reset_by_earlier_task(method, cfg.CONF)

    def test_the_probe_tells_the_revert_shapes_apart(self):
        self.assertFalse(neighbours.revert_sets_queued(_ConvertBeforeTheFix))
        self.assertTrue(neighbours.revert_sets_queued(_ConvertAfterTheFix))

    def test_glance_direct_alone_resets_it_here(self):
        self.assertIsNone(self.reset_by('glance-direct', 'xenimage_import'))

    def test_image_conversion_before_resets_it_in_this_release(self):
        self.assertEqual('image_conversion', self.reset_by(
            'glance-direct', 'image_conversion', 'xenimage_import'))

    def test_only_earlier_plugins_count(self):
        self.assertIsNone(self.reset_by(
            'glance-direct', 'xenimage_import', 'image_conversion'))

    def test_download_tasks_reset_it_in_this_release(self):
        for method in ('web-download', 'glance-download'):
            self.assertEqual('the %s task' % method,
                             self.reset_by(method, 'xenimage_import'))
