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

"""What the guest disk holds, learned from the conversion's own pass.

:mod:`.filesystems` names what starts a partition, :mod:`.tables` reads
partition tables as Linux and as util-linux's libfdisk (sfdisk) read
them, and :mod:`.inspector` feeds both from the blocks the converter
streams and gives the advisory verdict. doc/source/reference/
guest-inspection.rst states the rules.
"""
