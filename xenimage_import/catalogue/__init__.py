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

"""The catalogue an operator already has: audit it, repair what can be.

``api``      the Glance v2 calls the audit and the repair make, over a
             keystoneauth session (clouds.yaml or ``OS_*``)
``verdict``  one image judged: boots as is, fixable, not convertible, or
             nothing to judge; from its record and its first bytes, or
             (deep) every byte through the checker
``audit``    the whole catalogue walked, page by page, a few at a time
``repair``   a corrected copy made through the import API, so that the
             plugin converts it with all its checks; idempotent and
             resumable, because the copies in Glance are the only state
"""
