#!/bin/bash
# A stand-in for the devstack functions plugin.sh uses, with devstack's
# semantics, so the plugin's phases run under plain bash in the tests.
# devstack itself cannot run here (it wants a whole cloud); this is a
# simulator of its function library, not of OpenStack.
#
# Calls that would install software are recorded in $SHIM_CALLS.

SHIM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

function _shim_ini {
    python3 "$SHIM_DIR/ini.py" "$@"
}

# iniset [-sudo] FILE SECTION OPTION VALUE: set (creating file/section).
function iniset {
    [[ "$1" == "-sudo" ]] && shift
    _shim_ini set "$@"
}

# iniget FILE SECTION OPTION: print the value, empty if unset.
function iniget {
    _shim_ini get "$@"
}

function inidelete_section {
    [[ "$1" == "-sudo" ]] && shift
    _shim_ini delete-section "$@"
}

# trueorfalse DEFAULT VARNAME: True or False from the variable's value.
function trueorfalse {
    local default=$1
    local value=${!2:-}
    case "${value,,}" in
        "") echo "$default" ;;
        1|yes|true|on) echo True ;;
        0|no|false|off) echo False ;;
        *) echo "$default" ;;
    esac
}

function is_service_enabled {
    local service
    for service in "$@"; do
        [[ ",$ENABLED_SERVICES," == *",$service,"* ]] && return 0
    done
    return 1
}

function enable_service {
    local service
    for service in "$@"; do
        is_service_enabled "$service" || \
            ENABLED_SERVICES=${ENABLED_SERVICES:+$ENABLED_SERVICES,}$service
    done
}

function define_plugin {
    :
}

function plugin_requires {
    echo "plugin_requires $*" >> "$SHIM_CALLS"
}

function die {
    shift
    echo "[ERROR] $*" >&2
    exit 1
}

function echo_summary {
    echo "$@"
}

function install_package {
    echo "install_package $*" >> "$SHIM_CALLS"
}

function pip_install {
    echo "pip_install $*" >> "$SHIM_CALLS"
}

function setup_develop {
    echo "setup_develop $*" >> "$SHIM_CALLS"
}
