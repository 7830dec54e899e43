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

"""The image an import works on, reached one way on every Glance release.

Glance 20 (Ussuri) hands import plugins ``image_repo``, ``admin_repo``,
``image_id`` and ``task_id``; Glance 21 and later also an
``ImportActionWrapper``, whose actions grew getters and setters over the
releases that Ussuri's lack. Every release from 20 on has the wrapper
class itself (it checks the import lock on entry and saves the image on
exit) and, inside its actions, the domain image. So: :func:`wrapper`
takes the wrapper Glance passes or builds the same one from the repos,
and :class:`Edit` reads and writes the domain image, whose setters
enforce Glance's own rules (status transitions among them). No other
module touches these Glance internals
(doc/source/reference/glance-plugin.rst).
"""

import contextlib


def wrapper(flow_kwargs):
    """The import's ``ImportActionWrapper``, on every release."""
    passed = flow_kwargs.get('action_wrapper')
    if passed is not None:
        return passed
    from glance.async_.flows import api_image_import
    repo = flow_kwargs.get('admin_repo') or flow_kwargs['image_repo']
    return api_image_import.ImportActionWrapper(
        repo, flow_kwargs['image_id'], flow_kwargs['task_id'])


@contextlib.contextmanager
def editing(action_wrapper):
    """An :class:`Edit` of the image, saved on a clean exit."""
    with action_wrapper as action:
        yield Edit(action)


class Edit(object):
    """The image's attributes, properties and import store lists."""

    ATTRIBUTES = ('status', 'disk_format', 'container_format', 'size',
                  'virtual_size', 'min_disk')

    def __init__(self, action):
        self._action = action
        self._image = action._image

    def get(self, name):
        return getattr(self._image, name, None)

    def set(self, **attributes):
        for name, value in attributes.items():
            if name not in self.ATTRIBUTES:
                raise ValueError('%s is not an attribute this plugin sets'
                                 % name)
            setattr(self._image, name, value)

    @property
    def properties(self):
        return dict(self._image.extra_properties)

    def set_properties(self, properties):
        self._image.extra_properties.update(properties)

    def pop_property(self, name):
        self._image.extra_properties.pop(name, None)

    def fail_stores(self, stores):
        """Move ``stores`` from importing to failed, as Glance's tasks do."""
        if stores:
            self._action.remove_importing_stores(stores)
            self._action.add_failed_stores(stores)
