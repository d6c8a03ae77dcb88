// Internal to kmsctl's command table: the groups of command specs kept in their own files so
// command_table.cpp stays readable. build_table() splices them in where `kmsctl --help` lists
// them.
#pragma once

#include <vector>

#include "command_table.hpp"

namespace kms::cli::specs {

/// policy set, policy show (plugin policies).
std::vector<CommandSpec> policy_commands();
/// key export, key import (wrapped distribution).
std::vector<CommandSpec> key_distribution_commands();
/// ceremony create, component, show, list, cancel.
std::vector<CommandSpec> ceremony_commands();
/// quorum set, list, delete; approval list, show, approve, reject, execute.
std::vector<CommandSpec> dual_control_commands();
/// ca issue, list, show, revoke, crl, chain.
std::vector<CommandSpec> ca_commands();
/// gp session open, authenticate, close; gp wrap, unwrap, put-key, put-key-verify, encrypt,
/// diversify (GlobalPlatform secure channel; command_specs_gp.cpp).
std::vector<CommandSpec> gp_commands();
/// backup create, backup verify, restore (signed backups; command_specs_backup.cpp).
std::vector<CommandSpec> backup_commands();

}  // namespace kms::cli::specs
