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

"""The ``local`` helper: write the tap VHD on this machine, in one pass.

The pass itself is :mod:`xenimage_import.helpers.tapwrite`, which the
``xenserver`` helper uses too.
"""

from xenimage_import import helpers
from xenimage_import.helpers import tapwrite


class LocalHelper(helpers.Helper):
    """Convert with the built-in tap VHD writer."""

    name = helpers.BUILT_IN

    def convert(self, request):
        return tapwrite.write(request, helper=self.name)
