#!/bin/bash
#
# devstack plugin for xenimage_import: installs the package, enables it as
# a Glance image-import plugin and configures tempest.
#
# Phases (devstack's plugin contract): stack install, stack post-config,
# stack test-config, unstack, clean.

XENIMAGE_IMPORT_PLUGIN=xenimage_import

# _xenimage_import_plugin_list CURRENT [remove]
# Print CURRENT (a "[a, b]" or "a,b" list) with xenimage_import last, or
# without it when "remove" is given. Glance's image_conversion forces
# container_format=bare, so it must run before xenimage_import, never
# after it.
function _xenimage_import_plugin_list {
    local current=$1 mode=${2:-add}
    local item
    local -a items=()
    current=${current#[}
    current=${current%]}
    local IFS=','
    for item in $current; do
        item=${item// /}
        if [[ -n "$item" && "$item" != "$XENIMAGE_IMPORT_PLUGIN" ]]; then
            items+=("$item")
        fi
    done
    if [[ "$mode" != "remove" ]]; then
        items+=("$XENIMAGE_IMPORT_PLUGIN")
    fi
    echo "[${items[*]}]"
}

# _xenimage_import_add_to_list FILE SECTION OPTION VALUE...
# Add each VALUE to a list option that is set, keeping what is there and
# its brackets. An unset option keeps Glance's default.
function _xenimage_import_add_to_list {
    local file=$1 section=$2 option=$3
    shift 3
    local current value open="" close=""
    current=$(iniget "$file" "$section" "$option")
    [[ -n "$current" ]] || return 0
    if [[ "$current" == \[* ]]; then
        open="[" close="]"
    fi
    current=${current#[}
    current=${current%]}
    for value in "$@"; do
        if [[ ",${current// /}," != *",$value,"* ]]; then
            current=${current:+$current,}$value
        fi
    done
    iniset "$file" "$section" "$option" "$open$current$close"
}

# -bindep: devstack installs the system packages of the repo's bindep.txt
# (qemu-utils or qemu-img, util-linux, ...) for this platform too.
function install_xenimage_import {
    setup_develop -bindep "$XENIMAGE_IMPORT_DIR"
}

# ssh targets of the XenServer hosts: the explicit list, else root@ the
# host part of each XAPI URL in XENIMAGE_IMPORT_XENSERVER_HOSTS.
function _xenimage_import_dom0_targets {
    local entry url host
    if [[ -n "$XENIMAGE_IMPORT_DOM0_SSH_TARGETS" ]]; then
        echo "${XENIMAGE_IMPORT_DOM0_SSH_TARGETS//,/ }"
        return
    fi
    for entry in ${XENIMAGE_IMPORT_XENSERVER_HOSTS//,/ }; do
        url=${entry#*:}
        host=${url#*://}
        host=${host%%/*}
        echo "root@${host%%:*}"
    done
}

function install_xenimage_import_dom0_plugin {
    local target
    for target in $(_xenimage_import_dom0_targets); do
        echo "Installing the xenimage_helper XAPI plugin on $target"
        xenimage-dom0-plugin script | ssh -o BatchMode=yes "$target" sh
    done
}

function configure_xenimage_import_xenserver {
    local conf=$GLANCE_IMAGE_IMPORT_CONF
    iniset "$conf" xenimage_xenserver hosts \
        "$XENIMAGE_IMPORT_XENSERVER_HOSTS"
    iniset "$conf" xenimage_xenserver username \
        "$XENIMAGE_IMPORT_XENSERVER_USERNAME"
    iniset "$conf" xenimage_xenserver password \
        "$XENIMAGE_IMPORT_XENSERVER_PASSWORD"
    if [[ -n "$XENIMAGE_IMPORT_XENSERVER_SR_UUID" ]]; then
        iniset "$conf" xenimage_xenserver sr_uuid \
            "$XENIMAGE_IMPORT_XENSERVER_SR_UUID"
    fi
    iniset "$conf" xenimage_xenserver receiver_address \
        "$XENIMAGE_IMPORT_RECEIVER_ADDRESS"
    iniset "$conf" xenimage_xenserver receiver_port_range \
        "$XENIMAGE_IMPORT_RECEIVER_PORT_RANGE"
    iniset "$conf" xenimage_xenserver use_nova "$XENIMAGE_IMPORT_USE_NOVA"
    if [[ "$XENIMAGE_IMPORT_USE_NOVA" == "True" ]]; then
        # Glance's service user lists hypervisors (admin role).
        iniset "$conf" xenimage_nova auth_type password
        iniset "$conf" xenimage_nova auth_url "$KEYSTONE_SERVICE_URI"
        iniset "$conf" xenimage_nova username glance
        iniset "$conf" xenimage_nova password "$SERVICE_PASSWORD"
        iniset "$conf" xenimage_nova project_name "$SERVICE_PROJECT_NAME"
        iniset "$conf" xenimage_nova user_domain_name "$SERVICE_DOMAIN_NAME"
        iniset "$conf" xenimage_nova project_domain_name \
            "$SERVICE_DOMAIN_NAME"
        iniset "$conf" xenimage_nova region_name "$REGION_NAME"
    fi
}

# Glance before 21 (Ussuri and older) runs import tasks only as its own
# eventlet server: under uWSGI, devstack's default WSGI_MODE, an import
# is accepted and never runs. Newer Glance runs them under both.
function _xenimage_import_check_glance_server {
    local major
    [[ "${WSGI_MODE:-uwsgi}" == "uwsgi" ]] || return 0
    major=$("${PYTHON:-python3}" -c 'from glance import version as v
print(v.version_info.version_string())' 2>/dev/null) || return 0
    major=${major%%.*}
    if [[ "$major" =~ ^[0-9]+$ && "$major" -lt 21 ]]; then
        die $LINENO "xenimage_import: Glance $major runs image imports" \
            "only as its own server, not under uWSGI: set" \
            "WSGI_MODE=mod_wsgi in local.conf"
    fi
}

function configure_xenimage_import {
    local conf=$GLANCE_IMAGE_IMPORT_CONF
    local plugins
    _xenimage_import_check_glance_server
    plugins=$(iniget "$conf" image_import_opts image_import_plugins)
    iniset "$conf" image_import_opts image_import_plugins \
        "$(_xenimage_import_plugin_list "$plugins")"

    iniset "$conf" xenimage_import helper "$XENIMAGE_IMPORT_HELPER"
    iniset "$conf" xenimage_import default_vm_mode \
        "$XENIMAGE_IMPORT_DEFAULT_VM_MODE"
    iniset "$conf" xenimage_import set_min_disk \
        "$XENIMAGE_IMPORT_SET_MIN_DISK"
    iniset "$conf" xenimage_import allowed_source_formats \
        "$XENIMAGE_IMPORT_ALLOWED_SOURCE_FORMATS"
    iniset "$conf" xenimage_import max_virtual_size \
        "$XENIMAGE_IMPORT_MAX_VIRTUAL_SIZE"
    iniset "$conf" xenimage_import compression_level \
        "$XENIMAGE_IMPORT_COMPRESSION_LEVEL"
    iniset "$conf" xenimage_import compression_threads \
        "$XENIMAGE_IMPORT_COMPRESSION_THREADS"
    iniset "$conf" xenimage_import max_concurrent_conversions \
        "$XENIMAGE_IMPORT_MAX_CONCURRENT_CONVERSIONS"
    iniset "$conf" xenimage_import vmdk_allowed_types \
        "$XENIMAGE_IMPORT_VMDK_ALLOWED_TYPES"
    iniset "$conf" xenimage_import allow_iso "$XENIMAGE_IMPORT_ALLOW_ISO"
    if [[ "$XENIMAGE_IMPORT_HELPER" == "xenserver" ]]; then
        configure_xenimage_import_xenserver
    fi

    # Uploads arrive through the interoperable import methods, and the
    # result is a vhd/ovf image.
    _xenimage_import_add_to_list "$GLANCE_API_CONF" DEFAULT \
        enabled_import_methods glance-direct web-download
    _xenimage_import_add_to_list "$GLANCE_API_CONF" image_format \
        disk_formats vhd
    _xenimage_import_add_to_list "$GLANCE_API_CONF" image_format \
        container_formats ovf
}

function configure_tempest_for_xenimage_import {
    iniset "$TEMPEST_CONFIG" image-feature-enabled import_image True
    iniset "$TEMPEST_CONFIG" xenimage_import enabled True
    iniset "$TEMPEST_CONFIG" xenimage_import source_formats raw,qcow2,vhd
    iniset "$TEMPEST_CONFIG" xenimage_import run_boot_tests \
        "$XENIMAGE_IMPORT_TEMPEST_BOOT"
}

function cleanup_xenimage_import {
    local conf=$GLANCE_IMAGE_IMPORT_CONF
    local plugins
    [[ -f "$conf" ]] || return 0
    plugins=$(iniget "$conf" image_import_opts image_import_plugins)
    iniset "$conf" image_import_opts image_import_plugins \
        "$(_xenimage_import_plugin_list "$plugins" remove)"
}

if is_service_enabled xenimage_import; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing xenimage_import"
        install_xenimage_import
        if [[ "$XENIMAGE_IMPORT_INSTALL_DOM0_PLUGIN" == "True" ]]; then
            install_xenimage_import_dom0_plugin
        fi
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring xenimage_import in Glance"
        configure_xenimage_import
    elif [[ "$1" == "stack" && "$2" == "test-config" ]]; then
        if is_service_enabled tempest; then
            echo_summary "Configuring tempest for xenimage_import"
            configure_tempest_for_xenimage_import
        fi
    fi
    if [[ "$1" == "unstack" ]]; then
        :   # nothing runs on its own: the plugin lives inside glance-api
    fi
    if [[ "$1" == "clean" ]]; then
        cleanup_xenimage_import
    fi
fi
