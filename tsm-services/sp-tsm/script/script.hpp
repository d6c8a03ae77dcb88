// The service script model: a declarative document of steps (APDU templates, expected status
// words, captures, branches, KMS requests, GlobalPlatform LOAD and PUT KEY) as written, and
// compile_script(), which resolves names and refuses a document that could go wrong at run time.
// Pure C++, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/bytes.hpp"
#include "load_file.hpp"

namespace kms::tsm::script {

/// Limits that bound every run and every document (docs/service-scripts.md "Limits").
inline constexpr std::uint32_t kDefaultMaxSteps = 256;  ///< steps executed per run by default
inline constexpr std::uint32_t kHardMaxSteps = 4096;    ///< no document may ask for more
inline constexpr std::size_t kMaxStepsInDocument = 512;
inline constexpr std::size_t kMaxVariables = 128;
inline constexpr std::size_t kMaxValueBytes = 1024;  ///< a hex variable, a KMS result

/// Type of a variable. Integers are unsigned and big-endian on the wire, fixed width.
enum class VarType { Hex, U8, U16, U32, Aid };

/// "hex", "u8", "u16", "u32", "aid".
std::string_view var_type_name(VarType t) noexcept;
std::optional<VarType> parse_var_type(std::string_view name) noexcept;
/// Byte width of an integer type; 0 for Hex and Aid (variable length).
std::size_t var_type_width(VarType t) noexcept;
bool is_integer(VarType t) noexcept;

/// Checks that @p value fits @p type (width for integers, 5..16 bytes for an AID per
/// ISO 7816-4 §8.2.1.2, at most kMaxValueBytes for hex). Throws Error(InvalidArgument) with
/// @p what in the message otherwise.
void check_value(VarType type, ByteView value, std::string_view what);
/// Text form of a value: decimal for integers, upper-case hex otherwise.
std::string value_text(VarType type, ByteView value);
/// Parses the text form (decimal for integers, hex for Hex and Aid); InvalidArgument naming
/// @p what when it is not valid for @p type.
Bytes parse_value_text(VarType type, std::string_view text, std::string_view what);
/// The unsigned integer a big-endian value of at most 8 bytes holds.
std::uint64_t value_number(ByteView value) noexcept;

/// Where a variable's value comes from: the host's inputs, a capture or KMS step, or the
/// script's load file (constants fixed when the script is compiled, named "loadFile.*").
enum class VarOrigin { Input, Capture, Kms, Constant };

struct Variable {
    std::string name;
    VarType type = VarType::Hex;
    VarOrigin origin = VarOrigin::Input;
    Bytes value;  ///< the value of a Constant
};

/// What the engine knows of the script's load file (the SP TSM's catalogue entry, see
/// docs/sp-tsm.md "Catalogue"): never the bytes, which only the host holds and sends. Each
/// field is a constant variable a template can use:
///
/// | variable | type | value |
/// |---|---|---|
/// | `loadFile.aid` | aid | the Load File AID (the package) |
/// | `loadFile.hash` | hex | SHA-256 of the Load File Data Block (the file, without 'C4') |
/// | `loadFile.size` | u32 | the file's length in bytes |
/// | `loadFile.module` | aid | its first Executable Module AID |
/// | `loadFile.instanceAid` | aid | the application instance AID to install |
/// | `loadFile.privileges` | hex | the instance's privileges (1 or 3 bytes) |
/// | `loadFile.installParameters` | hex | the install parameters field (e.g. C900) |
struct LoadFileFacts {
    std::string name;  ///< the catalogue entry, as the document's "loadFile" names it
    Bytes aid;
    Bytes hash;
    std::uint32_t size = 0;
    Bytes module;
    Bytes instance_aid;
    Bytes privileges;
    Bytes install_parameters;
};

/// A byte template: hex digits (spaces allowed between bytes) and ${name} references, which
/// insert the variable's bytes (integers big-endian at their fixed width), and ${#name}, which
/// inserts the length of the variable's value as one byte (the length fields of INSTALL, DELETE
/// and STORE DATA; a value over 255 bytes ends the run with "command-too-long").
struct Template {
    struct Part {
        Bytes literal;        ///< when var < 0
        int var = -1;         ///< index into Script::variables
        std::string name;     ///< the name as written, for messages
        bool length = false;  ///< ${#name}: the value's length, one byte
    };
    std::string source;
    std::vector<Part> parts;  ///< filled by compile_script()
    bool empty() const { return source.empty(); }
};

/// A status word pattern: "9000", "61xx", "63Cx"; 'x' matches any hex digit.
struct SwPattern {
    std::uint16_t value = 0;
    std::uint16_t mask = 0;
    std::string text;
    bool matches(std::uint16_t sw) const { return (sw & mask) == value; }
};
/// Parses a pattern; InvalidArgument naming @p what on anything but 4 hex digits or 'x'.
SwPattern parse_sw_pattern(std::string_view text, std::string_view what);

struct CaptureField {
    std::string name;
    VarType type = VarType::Hex;
    std::size_t offset = 0;
    std::optional<std::size_t> length;  ///< required for hex/aid, optional (= width) for ints
    /// A `hex` field with "rest": true takes the response data from `offset` to its end
    /// (0..1024 bytes; longer ends the run with the step's onFail); `length` must be absent.
    bool rest = false;
    /// With rest: appended to the variable's value instead of replacing it (the pages of a
    /// GET STATUS answered 6310); the variable must be set on every path before.
    bool append = false;
    /// A `u16` field with "sw": true takes the response's SW1 SW2 (no offset, length or rest),
    /// so a branch can follow a status word that an `expect` accepted (6310: more data).
    bool sw = false;
    int var = -1;  ///< resolved by compile_script()
};

enum class CmpOp { Eq, Ne, Lt, Le, Gt, Ge };
std::optional<CmpOp> parse_cmp_op(std::string_view op) noexcept;
std::string_view cmp_op_name(CmpOp op) noexcept;

/// Right-hand side of a branch condition: a number (integer variables), a hex string (hex and
/// AID variables), or another variable of a compatible type written "${name}".
struct Operand {
    std::optional<std::uint64_t> number;
    std::string text;  ///< hex literal or "${name}" as written
    Bytes hex;         ///< resolved hex literal
    int var = -1;      ///< resolved variable reference
};

struct Condition {
    std::string var_name;
    CmpOp op = CmpOp::Eq;
    Operand value;
    int var = -1;
};

enum class StepKind { Apdu, Expect, Capture, Branch, Kms, SecureChannel, End, Load, PutKey };
std::string_view step_kind_name(StepKind k) noexcept;
std::optional<StepKind> parse_step_kind(std::string_view name) noexcept;

enum class KmsOperation { Mac, Encrypt };
std::string_view kms_operation_name(KmsOperation op) noexcept;

/// One step as written, plus the fields compile_script() resolves (indices). Only the fields of
/// its kind are used; the JSON loader refuses fields of other kinds.
struct Step {
    std::string id;
    StepKind kind = StepKind::End;
    std::string next_id;                      ///< explicit successor; else the following step
    std::optional<std::uint32_t> max_visits;  ///< bound for steps on a loop
    // apdu
    Template header;                  ///< must produce CLA INS P1 P2
    Template data;                    ///< optional command data (Lc is computed)
    std::optional<std::uint32_t> le;  ///< 1..65536
    bool secure = false;              ///< the host wraps it through the secure channel
    // expect
    std::vector<SwPattern> sw;
    // expect, secure-channel, capture: the failure outcome when the check fails
    std::string on_fail;
    // capture
    std::vector<CaptureField> fields;
    // branch
    Condition condition;
    std::string goto_id;
    // kms
    KmsOperation operation = KmsOperation::Mac;
    std::string key;        ///< key reference the host resolves (a KMS key name or id)
    std::string algorithm;  ///< KMS algorithm name ("DES3-RETAIL", "AES-CMAC", "AES-CBC", ...)
    Template input;
    std::string result;                   ///< variable the result is bound to (type hex)
    std::optional<std::size_t> truncate;  ///< keep the first n bytes of the result
    // secure-channel
    std::string protocol;  ///< "SCP02" or "SCP03"
    std::string keyset;    ///< key set reference the host resolves
    std::uint8_t level = 0x01;
    // load (the script's load file; `secure` and `on_fail` as above)
    std::size_t block_size =
        kDefaultLoadBlockSize;    ///< bytes of the framed file per LOAD command, 1..247
    std::size_t load_blocks = 0;  ///< resolved by compile_script(): LOAD commands to send
    // put-key (`on_fail` as above)
    std::vector<std::string> keys;     ///< 1..3 key references the host resolves, in key id order
    std::uint8_t key_version = 0;      ///< the new key version, 01..7F
    std::uint8_t replace_version = 0;  ///< P1: 00 adds a key set, else the version replaced
    std::uint8_t key_id = 1;           ///< the first key identifier, 01..7F
    /// "${name}" of a u8 variable instead of the literal key_version / replace_version (the
    /// host supplies the versions, e.g. se-tsm's ISD key rotation); empty: the literal. A value
    /// out of range at run time ends the run with the step's onFail.
    Template key_version_var, replace_version_var;
    // end
    std::string outcome;  ///< "success" or a failure name

    // Resolved by compile_script():
    int next = -1;
    int goto_step = -1;
    int result_var = -1;
    /// What holds on every path into this step (ScriptRun::restore() checks a saved state
    /// against it): the variables surely set (by index), and whether a response surely exists.
    std::vector<bool> set_on_entry;
    bool response_on_entry = false;
};

/// A compiled, validated script. Immutable once compiled; share it between runs.
struct Script {
    std::string name;
    std::uint32_t version = 0;
    std::uint32_t max_steps = kDefaultMaxSteps;
    std::vector<Variable> variables;  ///< inputs first, in declaration order
    std::size_t input_count = 0;
    std::vector<Step> steps;
    std::uint64_t fingerprint = 0;           ///< of the document; a saved run must match it
    std::optional<LoadFileFacts> load_file;  ///< the document's "loadFile", resolved

    int variable_index(std::string_view name) const;
    int step_index(std::string_view id) const;
};

/// What the JSON loader (or a test) fills in: the document as written.
struct ScriptSpec {
    std::string name;
    std::uint32_t version = 0;
    std::optional<std::uint32_t> max_steps;
    std::vector<Variable> inputs;
    std::vector<Step> steps;
    std::uint64_t fingerprint = 0;
    /// The document's "loadFile" as the host's catalogue describes it: declares the loadFile.*
    /// constants and is what `load` steps send.
    std::optional<LoadFileFacts> load_file;
};

/// Validates @p spec and resolves every name. Throws Error(InvalidArgument) with a message that
/// names the offending step ("step 'credit': ...") when: an id is empty, repeated or malformed;
/// a hex literal is bad; a variable is unknown, used before every path sets it, or set with two
/// types; a next/goto names no step; a step is unreachable from the first; a step other than
/// "end" falls off the end; an expect or capture may run before any APDU; a secure APDU may run
/// before the secure channel is open; a loop has no step with maxVisits; limits are exceeded;
/// a `load` step has no load file or needs more than 256 blocks; a `put-key` may run before
/// the secure channel is open or has a field out of range.
Script compile_script(ScriptSpec spec);

/// FNV-1a 64 of @p text: a cheap fingerprint to tell document revisions apart (not a MAC).
std::uint64_t fingerprint_of(std::string_view text) noexcept;

/// Names of steps, variables and outcomes: 1..64 of A-Z a-z 0-9 '_' '-', starting with a letter.
/// The outcome "success" is the one successful outcome; every other outcome is a failure.
inline constexpr std::string_view kSuccess = "success";
bool valid_name(std::string_view name) noexcept;

}  // namespace kms::tsm::script
