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

"""Every source format, declared once, one module each.

A format module declares a :class:`base.SourceFormat`: its Glance name, the
qemu-img driver that decodes it and its own rules (header checks before
qemu-img, checks of qemu-img's reading, its own map). Inspection, the
expansion budget and the decoder ask this registry, so adding a format is
one module here, one line below and its tests.
"""

from xenimage_import.source.formats import qcow2
from xenimage_import.source.formats import raw
from xenimage_import.source.formats import vdi
from xenimage_import.source.formats import vhd
from xenimage_import.source.formats import vhdx
from xenimage_import.source.formats import vmdk

FORMATS = {f.name: f for f in (raw.FORMAT, qcow2.FORMAT, vhd.FORMAT,
                               vmdk.FORMAT, vhdx.FORMAT, vdi.FORMAT)}
# Glance disk_format names, in the order documentation lists them.
SOURCE_FORMATS = tuple(FORMATS)
