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

"""Paste filter giving every request one fixed admin identity (tests only).

Glance's stock unauthenticated pipeline makes a context without a project,
which cannot create images or tasks. This stands in for Keystone on a
loopback-only test server; never deploy it.
"""

from glance.api.middleware import context
from glance.api import policy
import glance.context

USER_ID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'
PROJECT_ID = '0f9e8d7c6b5a49382716051f4e3d2c1b'
ROLES = ['admin', 'member', 'reader']


class FixedIdentityMiddleware(context.BaseContextMiddleware):

    def __init__(self, app):
        self.policy_enforcer = policy.Enforcer()
        super().__init__(app)

    def process_request(self, req):
        req.context = glance.context.RequestContext(
            user_id=USER_ID, project_id=PROJECT_ID, roles=ROLES,
            is_admin=True, policy_enforcer=self.policy_enforcer)
