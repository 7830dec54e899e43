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

"""What a fresh interpreter running our code loads, and when.

Every process that runs a conversion is a fresh interpreter: the commands
and the plugin's worker (:mod:`xenimage_import.glance.worker`). On a small
image its start-up is a large part of the wall time
(doc/source/performance.rst). Python runs a module's code when it is first
imported, and our imports drag in one module no conversion calls:
``oslo_utils.imageutils``, whose ``format_inspector`` is the second header
reader, imports ``oslo_utils.strutils`` for ``QemuImgInfo``, and strutils
compiles some 400 regular expressions as it loads (a third of
xenimage-convert's start-up).

So the package defers it on import (:data:`DEFERRED`): the module is
registered at once and its code runs when something first reads a name
from it. A module already loaded is left alone: inside glance-api, where
Glance loaded strutils long before the plugin, this changes nothing.
"""

import importlib.util
import sys
import threading
import types

DEFERRED = ('oslo_utils.strutils',)

# One lock for every deferred module: a first read from a second thread
# waits for the module to finish running instead of seeing half of it
# (importlib.util.LazyLoader guards this only from Python 3.12).
_LOCK = threading.RLock()
_RUNNING = set()


class _Deferred(types.ModuleType):
    """A module whose code runs when a name it lacks is first read."""

    def __getattr__(self, name):
        with _LOCK:
            if type(self) is _Deferred and self.__name__ not in _RUNNING:
                _RUNNING.add(self.__name__)
                try:
                    self.__spec__.loader.exec_module(self)
                finally:
                    _RUNNING.discard(self.__name__)
                self.__class__ = types.ModuleType
        if type(self) is _Deferred:
            # Read by its own code while it runs: answered as a module
            # half-way through its import would answer.
            raise AttributeError('partially initialised module %r has no '
                                 'attribute %r' % (self.__name__, name))
        return getattr(self, name)


def defer(*names):
    """Register each module to run on the first read of one of its names.

    A module already loaded, or that cannot be found, is left to the
    ordinary import.
    """
    for name in names:
        if name not in sys.modules:
            _defer(name)


def _defer(name):
    try:
        spec = importlib.util.find_spec(name)
    except ImportError:
        return
    if spec is None or not hasattr(spec.loader, 'exec_module'):
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _Deferred
    sys.modules[name] = module
    parent, _, child = name.rpartition('.')
    if parent:
        setattr(sys.modules[parent], child, module)
