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

"""The side door: uploads that never reach an import plugin.

Glance's classic upload (``PUT /v2/images/{id}/file``: ``glance
image-create --file``, ``openstack image create --file``, both of
Horizon's upload modes) stores the data as it comes; only the import API
runs plugins. Whether a user may take that door is Glance's
``upload_image`` policy rule, so the pre-flight asks Glance's own policy
engine, with Glance's defaults and the deployment's policy file, whether
a project member (not an admin) may upload to an image of their project.
"""

import uuid

from xenimage_import import helpers

NAME = 'classic upload'
# A project member as Keystone presents one to Glance: the shape of
# RequestContext.to_policy_values() (project scope, no admin role).
_MEMBER_PROJECT = uuid.uuid4().hex
_MEMBER = {'roles': ['member', 'reader'], 'project_id': _MEMBER_PROJECT,
           'user_id': uuid.uuid4().hex, 'domain_id': None,
           'system_scope': None, 'is_admin_project': True}
# Glance's image target (ImageTarget): the image owned by their project.
_THEIR_IMAGE = {'project_id': _MEMBER_PROJECT, 'owner': _MEMBER_PROJECT,
                'visibility': 'private', 'member_id': None}


def members_may_upload(conf):
    """Whether Glance's ``upload_image`` rule lets a project member in.

    :returns: True or False; None where Glance is not installed here.
    :raises Exception: the policy file's own errors (oslo.policy's).
    """
    try:
        from glance import policies
        from oslo_policy import policy
    except ImportError:
        return None
    enforcer = policy.Enforcer(conf, use_conf=True)
    enforcer.register_defaults(policies.list_rules())
    enforcer.load_rules()
    return bool(enforcer.enforce('upload_image', _THEIR_IMAGE, _MEMBER))


def check(conf):
    """The pre-flight's check of the side door, a warning at most."""
    try:
        allowed = members_may_upload(conf)
    except Exception as e:
        # A policy file Glance would fail on too: its own error, one line.
        return helpers.PreflightCheck(
            NAME, helpers.CHECK_WARNING, 'Glance\'s policy cannot be read: '
            '%s' % (str(e).splitlines() or [type(e).__name__])[0])
    if allowed is None:
        return None
    if not allowed:
        return helpers.PreflightCheck(
            NAME, helpers.CHECK_OK,
            'only admins may upload without import (upload_image); what '
            'they upload skips the plugin: xenimage-catalogue audit finds '
            'it')
    return helpers.PreflightCheck(
        NAME, helpers.CHECK_WARNING,
        'project members may upload with PUT /v2/images/{id}/file '
        '(image-create --file, Horizon), which runs no import plugin: set '
        '"upload_image": "role:admin" in Glance\'s policy file')
