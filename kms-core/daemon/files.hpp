// Small file helpers for the data directory: atomic writes with a given mode, reads.
#pragma once

#include <sys/types.h>

#include <string>

namespace kms::daemon {

/// Writes @p content to @p path atomically (temporary file, fsync, rename) with @p mode.
void write_file_atomic(const std::string& path, const std::string& content, mode_t mode);
/// The whole file; throws kms::Error(InvalidArgument) naming the path when unreadable.
std::string read_file(const std::string& path);
bool file_exists(const std::string& path);
/// mkdir -p with @p mode for the directories it creates.
void make_dirs(const std::string& path, mode_t mode);

}  // namespace kms::daemon
