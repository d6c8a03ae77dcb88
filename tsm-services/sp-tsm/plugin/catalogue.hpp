// The SP TSM's catalogue: the load files (Java Card packages) it installs, from the instance
// configuration's "catalogue" (docs/sp-tsm.md, "Catalogue"). Each entry's file is read and its
// SHA-256 checked once, at create(); the bytes stay in memory for the LOAD commands, and the
// facts a script may use (AIDs, hash, size, privileges, install parameters) go to the script
// loader as the loadFile.* constants.
#pragma once

#include <Poco/Dynamic/Var.h>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "domain/bytes.hpp"
#include "script.hpp"
#include "script_json.hpp"

namespace kms::tsm::sp {

/// One load file as configured, with its bytes.
struct CatalogueEntry {
    std::string name;            ///< the entry's key: what a script's "loadFile" names
    Bytes load_file_aid;         ///< "loadFileAid": the package AID, 5..16 bytes
    std::string file;            ///< "file": absolute path of the Load File Data Block
    Bytes sha256;                ///< "sha256": the file's SHA-256, checked at load
    std::vector<Bytes> modules;  ///< "modules": 1..16 Executable Module AIDs
    Bytes instance_aid;          ///< "instanceAid": the application instance to install
    std::string version;         ///< "version": informational ("1.0"), 0..16 characters
    Bytes privileges;            ///< "privileges": 1 or 3 bytes (GPCS 2.2.1 §11.1.2), default 00
    Bytes install_parameters;    ///< "installParameters": 0..255 bytes, default C900
    Bytes content;               ///< the file's bytes (1..script::kMaxLoadFileBytes)

    /// What the script engine may know of it (never the bytes).
    script::LoadFileFacts facts() const;
};

/// The catalogue of an sp-tsm instance. Immutable after construction; share it between threads.
class Catalogue {
  public:
    Catalogue() = default;

    /// Reads the configuration's "catalogue" value: an object of entry name -> entry
    /// {"loadFileAid", "file", "sha256", "modules", "instanceAid", "version"?, "privileges"?,
    /// "installParameters"?}. Reads each file. Throws Error(InvalidArgument) with a message that
    /// starts with the field's path, "catalogue.transit-purse.sha256: ...", when: the value or an
    /// entry is not an object; a name is not 1..64 of A-Z a-z 0-9 _ - starting with a letter; a
    /// field is unknown, missing or of the wrong type; an AID is not 5..16 bytes of hex;
    /// privileges are not 1 or 3 bytes; the file path is not absolute, cannot be read, is empty
    /// or larger than script::kMaxLoadFileBytes; the file's SHA-256 differs from "sha256".
    static Catalogue from_config(const Poco::Dynamic::Var& catalogue);
    /// The same from JSON text (tests, tools).
    static Catalogue from_json(std::string_view json);

    /// The entry named @p name, or nullptr.
    const CatalogueEntry* find(std::string_view name) const;
    std::size_t size() const { return m_entries.size(); }

    /// The resolver for script::load_script_json(): the facts of an entry. Valid while this
    /// catalogue lives.
    script::LoadFileResolver resolver() const;

  private:
    std::map<std::string, CatalogueEntry, std::less<>> m_entries;
};

/// SHA-256 of @p data (Poco's; the plugin links no kms-core crypto).
Bytes sha256_of(ByteView data);

}  // namespace kms::tsm::sp
