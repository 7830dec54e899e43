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

"""oslo.config options of xenimage_import's core.

Glance reads them from the ``[xenimage_import]`` section of
glance-image-import.conf. ``list_opts`` feeds oslo-config-generator
(``etc/oslo-config-generator/xenimage_import.conf``); each helper with
options of its own has its own ``opts`` module and namespace.
"""


from oslo_config import cfg
from oslo_utils import units

from xenimage_import import pack
from xenimage_import.source.formats import vmdk
from xenimage_import.source import inspect

GROUP = 'xenimage_import'
# The policy options' defaults are the Policy's own: set once.
_POLICY = inspect.Policy()

VM_MODES = (
    ('hvm', 'hardware virtualised: boots any image with a bootloader'),
    ('xen', 'paravirtualised: needs a PV kernel (pygrub)'),
)

opts = [
    cfg.StrOpt('helper',
               default='local',
               help="""
Conversion helper that writes the tap VHD.

``local`` is built in: it writes the VHD on the Glance node itself and
needs no XenServer. Every other helper is a driver registered in the
``xenimage_import.helpers`` entry point group.

Possible values:
    * local
    * xenserver: convert on a XenServer host over XenAPI (options in
      ``[xenimage_xenserver]``)
    * the name of any other installed helper
"""),
    cfg.StrOpt('default_vm_mode',
               default='hvm',
               choices=VM_MODES,
               help="""
vm_mode given to converted images that do not set one.

Nova's XenAPI driver boots a VHD without ``vm_mode`` as a paravirtualised
guest, which fails for most cloud images, so the plugin always writes the
property. Images with ``os_type=windows`` always get ``hvm``; a vm_mode the
user set (``hvm``, ``xen``, or the aliases ``hv``/``pv``) is kept.
"""),
    cfg.BoolOpt('inspect_guest',
                default=True,
                help="""
Set ``os_type`` and ``auto_disk_config`` from what the disk holds.

While converting, the plugin reads the partition table (MBR or GPT) and
each partition's filesystem signature from the blocks it already streams
(nothing is mounted or read twice). ``os_type`` becomes ``windows`` for an
NTFS partition, ``linux`` for Linux filesystems, LVM or swap;
``auto_disk_config`` becomes ``True`` only for a single ext2/3/4 partition
(the one layout Nova's XenAPI driver can resize) and ``Disabled`` otherwise.
A property the user set is never changed. What was found is recorded in
``xenimage_inspection``. Images stored unchanged (a valid tap tarball or
VHD) are not inspected.
"""),
    cfg.BoolOpt('set_min_disk',
                default=True,
                help="""
Set ``min_disk`` to the virtual size in GiB (rounded up) when it is 0.

Nova refuses to boot a XenServer image on a flavor whose root disk is
smaller than the VHD; with ``min_disk`` set, the API refuses such a flavor
up front with a clear message.
"""),
    cfg.ListOpt('allowed_source_formats',
                default=list(_POLICY.allowed_formats),
                help="""
Disk formats the plugin converts.

Every format except raw is decoded by qemu-img after the upload has passed
format inspection. Uploads in other formats fail the import.

Possible values:
    * raw, qcow2, vhd, vmdk, vhdx, vdi
"""),
    cfg.IntOpt('max_virtual_size',
               default=_POLICY.max_virtual_size // units.Gi,
               min=1,
               max=2040,
               help="""
Largest virtual size, in GiB, that the plugin converts.

Checked from the image headers before qemu-img runs. 2040 GiB is the VHD
format's own limit.
"""),
    cfg.IntOpt('max_expansion_ratio',
               default=_POLICY.max_expansion_ratio,
               min=2,
               help="""
Largest ratio of uncompressed to compressed size accepted when an uploaded
image tarball is unpacked.

Together with ``max_virtual_size`` this bounds the work a gzip bomb can
cause: the declared size of ``0.vhd`` is checked before anything is
decompressed. Dynamic VHDs, which store no empty blocks, stay far below
the default; raise it only for fixed VHDs that are mostly empty.
"""),
    cfg.IntOpt('compression_level',
               default=pack.DEFAULT_LEVEL,
               min=pack.MIN_LEVEL,
               max=pack.MAX_LEVEL,
               help="""
gzip level of the image tarball.

Levels 0-3 use ISA-L (fastest; output about 14 percent larger than gzip -6),
levels 4-6 use zlib-ng (6: within 2 percent of gzip -6's size at about 5
times its speed). Each uses ``compression_threads`` cores.
"""),
    cfg.IntOpt('max_concurrent_conversions',
               default=2,
               min=1,
               help="""
Conversions that may run at once on one Glance node.

Each conversion keeps the compression threads busy, so on a node with few
cores more at once only makes each slower. Imports over the limit wait for
a free slot (across all worker processes of the node, through file locks
in ``[oslo_concurrency] lock_path``); they do not fail.
"""),
    cfg.IntOpt('compression_threads',
               default=0,
               min=0,
               help="""
Threads that compress the tarball; 0 means one per available core.
"""),
    cfg.ListOpt('vmdk_allowed_types',
                default=list(_POLICY.vmdk_allowed_types),
                help="""
VMDK create types that may be converted.

Types made of several files, or whose descriptor names other files (for
example ``monolithicFlat``), are refused whatever this says: they make
qemu-img read paths chosen by the uploader.
"""),
    cfg.BoolOpt('allow_iso',
                default=_POLICY.allow_iso,
                help="""
Convert ISO 9660 images as raw disks.

Off by default: an ISO is usually meant to be attached as a CD-ROM, not
booted as a VHD.
"""),
]


def register_opts(conf):
    conf.register_opts(opts, group=GROUP)


def list_opts():
    return [(GROUP, opts)]


def inspection_policy(group):
    """An :class:`inspect.Policy` from a registered option group."""
    vmdk_types = [t for t in group.vmdk_allowed_types
                  if t in vmdk.SINGLE_FILE_TYPES]
    return inspect.Policy(
        allowed_formats=tuple(group.allowed_source_formats),
        max_virtual_size=group.max_virtual_size * units.Gi,
        vmdk_allowed_types=tuple(vmdk_types),
        allow_iso=group.allow_iso,
        max_expansion_ratio=group.max_expansion_ratio)


def load(files=(), dirs=()):
    """The options read from configuration ``files`` and ``dirs``.

    Values are checked when first read (``cfg.Error`` then).
    """
    conf = cfg.ConfigOpts()
    register_opts(conf)
    conf(args=[], project='xenimage_import',
         default_config_files=list(files), default_config_dirs=list(dirs))
    return conf


def request_settings(conf):
    """What a pipeline request takes from ``[xenimage_import]``.

    The command and the plugin's worker build their requests from these,
    so both read the options the same way.
    """
    group = conf[GROUP]
    return dict(policy=inspection_policy(group), helper=group.helper,
                conf=conf, level=group.compression_level,
                threads=group.compression_threads,
                inspect_guest=group.inspect_guest)
