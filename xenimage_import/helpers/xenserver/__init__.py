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

"""The ``xenserver`` helper: a XenServer host's SR writes the tap VHD.

``driver``      the helper: pool and SR, VDI, import, export, checks
``hosts``       which host converts (configured or found through Nova)
``xapi``        XAPI sessions and tasks, XAPI errors as user messages
``vdi_import``  the image into its VDI (import_raw_vdi over HTTP(S))
``receiver``    the one-shot HTTPS endpoint dom0 sends the SR file to
``tls``         its certificate and the fingerprint dom0 pins
``opts``        ``[xenimage_xenserver]`` and ``[xenimage_nova]`` options
``dom0/``       the XAPI plugin installed in dom0, and its installer

Nothing outside this folder knows XenServer: the core reaches it only as
the stevedore entry point ``xenserver`` of ``xenimage_import.helpers``.
"""
