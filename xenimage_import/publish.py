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

"""What an image Nova's XenAPI driver boots looks like in Glance, once.

The Glance plugin publishes images this way and the catalogue audit
judges existing ones by the same names and the same ``vm_mode`` rule.
"""

DISK_FORMAT = 'vhd'
CONTAINER_FORMAT = 'ovf'
# Set by the plugin: what was uploaded, and what the guest inspection saw.
SOURCE_FORMAT_PROPERTY = 'xenimage_source_format'
INSPECTION_PROPERTY = 'xenimage_inspection'
# Set on a copy the catalogue repair made: the id of the image it fixes.
REPAIRED_FROM_PROPERTY = 'xenimage_repaired_from'
# Nova's XenAPI driver accepts these spellings of vm_mode.
VM_MODE_ALIASES = {'hvm': 'hvm', 'hv': 'hvm', 'xen': 'xen', 'pv': 'xen'}


def user_vm_mode(props):
    """The canonical vm_mode the properties set, or None if none valid."""
    return VM_MODE_ALIASES.get((props.get('vm_mode') or '').strip().lower())


def is_windows(props):
    return (props.get('os_type') or '').strip().lower() == 'windows'


def vm_mode(props, default):
    """vm_mode to publish: the user's (canonical), else hvm or default."""
    return user_vm_mode(props) or ('hvm' if is_windows(props) else default)
