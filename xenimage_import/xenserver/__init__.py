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

"""Talking to XenServer hosts: XAPI sessions, the one-shot receiver that
the dom0 plugin sends the SR's VHD to, and which host converts.

Only the ``xenserver`` helper (xenimage_import/helpers/xenserver.py) uses
this package; the Glance plugin and the CLI never see it.
"""
