// Local files of kmsctl: input files read before anything is sent (CSRs, key blocks, public
// keys, key components), output files created before the request so a result is never lost
// (tokens, wrapped keys, certificates, CRLs), and wiping of secret copies in memory.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kms::cli {

/// Reads the whole of @p path. Throws UsageError "FIELD: cannot read PATH: REASON" when it
/// cannot be opened or read, or is larger than @p max_bytes.
std::string read_text_file(std::string_view field, const std::string& path, std::size_t max_bytes);

/// Reads a secret (a key component) from @p path into a buffer sized from the file up front,
/// so no reallocation leaves a copy behind; the caller wipes it with wipe(). The message of a
/// failure never contains file content.
std::string read_secret_file(std::string_view field, const std::string& path,
                             std::size_t max_bytes);

/// Overwrites the characters of @p s (its whole capacity) with zeros in a way the compiler
/// cannot drop, then clears it.
void wipe(std::string& s) noexcept;

/// A result file: created when constructed (O_CREAT|O_EXCL, mode 0600; it must not exist), so
/// a request is never sent whose result cannot be stored. Removed again by the destructor
/// unless write() succeeded (a failed or pending request leaves nothing behind).
class OutputFile {
  public:
    /// Throws UsageError naming @p option when the file cannot be created.
    OutputFile(std::string option, std::string path);
    ~OutputFile();
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;

    /// Writes @p data, fsyncs and closes. Throws CliError(Usage) with @p lost_hint appended
    /// when the write fails.
    void write(std::string_view data, const std::string& lost_hint);

    const std::string& option() const { return m_option; }
    const std::string& path() const { return m_path; }
    bool written() const { return m_written; }

  private:
    std::string m_option;
    std::string m_path;
    int m_fd = -1;
    bool m_written = false;
};

}  // namespace kms::cli
