// compile_script(): name resolution and the load-time checks of a service script (see
// script.hpp), so that a run can only fail on what the card or the KMS answers.
#include "script.hpp"

#include <algorithm>
#include <charconv>
#include <deque>
#include <string>

#include "domain/error.hpp"

namespace kms::tsm::script {
namespace {

[[noreturn]] void refuse(const std::string& message) {
    throw Error(ErrorCode::InvalidArgument, message);
}

[[noreturn]] void refuse_step(const Step& s, const std::string& message) {
    refuse("step '" + s.id + "': " + message);
}

int nibble(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// The prefix of the load file's constants (script.hpp, LoadFileFacts).
constexpr std::string_view kLoadFilePrefix = "loadFile.";

/// A name a template may reference: a variable's, or "loadFile." and a constant's.
bool valid_reference(std::string_view name) {
    if (name.rfind(kLoadFilePrefix, 0) == 0) return valid_name(name.substr(kLoadFilePrefix.size()));
    return valid_name(name);
}

/// Splits a template into literal hex and ${name} / ${#name} parts; names are resolved later.
void parse_template(Template& t, const Step& s, std::string_view field) {
    t.parts.clear();
    const std::string_view src = t.source;
    Bytes literal;
    int pending = -1;  // high nibble waiting for its low nibble
    auto flush = [&] {
        if (!literal.empty()) t.parts.push_back({std::move(literal), -1, {}});
        literal.clear();
    };
    for (std::size_t i = 0; i < src.size(); ++i) {
        const char c = src[i];
        if (c == ' ') {
            if (pending >= 0) refuse_step(s, std::string(field) + ": odd hex digit before a space");
            continue;
        }
        if (c == '$') {
            if (pending >= 0)
                refuse_step(s, std::string(field) + ": odd hex digit before a variable");
            if (i + 1 >= src.size() || src[i + 1] != '{')
                refuse_step(s, std::string(field) + ": '$' must start ${name}");
            const std::size_t close = src.find('}', i + 2);
            if (close == std::string_view::npos)
                refuse_step(s, std::string(field) + ": unterminated ${");
            std::string name(src.substr(i + 2, close - i - 2));
            const bool length = !name.empty() && name[0] == '#';
            if (length) name.erase(0, 1);
            if (!valid_reference(name))
                refuse_step(
                    s, std::string(field) + ": bad variable name '" + name.substr(0, 64) + "'");
            flush();
            t.parts.push_back({{}, -1, name, length});
            i = close;
            continue;
        }
        const int n = nibble(c);
        if (n < 0)
            refuse_step(s, std::string(field) + ": bad hex character '" + std::string(1, c) +
                               "' at position " + std::to_string(i));
        if (pending < 0) {
            pending = n;
        } else {
            literal.push_back(static_cast<std::uint8_t>((pending << 4) | n));
            pending = -1;
        }
    }
    if (pending >= 0) refuse_step(s, std::string(field) + ": odd number of hex digits");
    flush();
}

/// The analysis state at the entry of a step, over all paths from the first step (meet =
/// intersection): which variables are surely set, whether a response surely exists, whether
/// the secure channel is surely open.
struct Facts {
    bool reached = false;
    std::vector<bool> defined;
    bool has_response = false;
    bool channel_open = false;

    bool meet(const Facts& in) {  // returns true when this changed
        if (!reached) {
            *this = in;
            reached = true;
            return true;
        }
        bool changed = false;
        for (std::size_t i = 0; i < defined.size(); ++i)
            if (defined[i] && !in.defined[i]) defined[i] = false, changed = true;
        if (has_response && !in.has_response) has_response = false, changed = true;
        if (channel_open && !in.channel_open) channel_open = false, changed = true;
        return changed;
    }
};

std::vector<int> successors(const Step& s) {
    std::vector<int> out;
    if (s.kind == StepKind::End) return out;
    out.push_back(s.next);
    if (s.kind == StepKind::Branch && s.goto_step != s.next) out.push_back(s.goto_step);
    return out;
}

std::vector<int> template_vars(const Template& t) {
    std::vector<int> out;
    for (const auto& p : t.parts)
        if (p.var >= 0) out.push_back(p.var);
    return out;
}

std::vector<int> uses(const Step& s) {
    std::vector<int> out;
    auto add = [&](const std::vector<int>& v) { out.insert(out.end(), v.begin(), v.end()); };
    switch (s.kind) {
        case StepKind::Apdu:
            add(template_vars(s.header));
            add(template_vars(s.data));
            break;
        case StepKind::Kms:
            add(template_vars(s.input));
            break;
        case StepKind::Capture:
            for (const auto& c : s.fields)
                if (c.append) out.push_back(c.var);  // appends to a value set before
            break;
        case StepKind::PutKey:
            add(template_vars(s.key_version_var));
            add(template_vars(s.replace_version_var));
            break;
        case StepKind::Branch:
            out.push_back(s.condition.var);
            if (s.condition.value.var >= 0) out.push_back(s.condition.value.var);
            break;
        default:
            break;
    }
    return out;
}

Facts transfer(const Step& s, Facts f) {
    switch (s.kind) {
        case StepKind::Apdu:
        case StepKind::Load:  // the last LOAD's response
            f.has_response = true;
            break;
        case StepKind::Capture:
            for (const auto& c : s.fields) f.defined[static_cast<std::size_t>(c.var)] = true;
            break;
        case StepKind::Kms:
            f.defined[static_cast<std::size_t>(s.result_var)] = true;
            break;
        case StepKind::SecureChannel:
            f.channel_open = true;  // the failure exits the script
            break;
        default:
            break;
    }
    return f;
}

/// Index of a variable set by a capture or KMS step, declaring it on first sight.
int declare_set_variable(Script& sc, const Step& s, const std::string& name, VarType type,
                         VarOrigin origin) {
    if (!valid_name(name)) refuse_step(s, "bad variable name '" + name.substr(0, 64) + "'");
    const int i = sc.variable_index(name);
    if (i < 0) {
        if (sc.variables.size() >= kMaxVariables)
            refuse_step(s, "more than " + std::to_string(kMaxVariables) + " variables");
        sc.variables.push_back({name, type, origin, {}});
        return static_cast<int>(sc.variables.size() - 1);
    }
    const Variable& v = sc.variables[static_cast<std::size_t>(i)];
    if (v.origin == VarOrigin::Input)
        refuse_step(s, "overwrites the input variable '" + name + "'");
    if (v.origin == VarOrigin::Constant)
        refuse_step(s, "overwrites the load file's constant '" + name + "'");
    if (v.type != type)
        refuse_step(s, "sets '" + name + "' as " + std::string(var_type_name(type)) +
                           " but another step sets it as " + std::string(var_type_name(v.type)));
    return i;
}

void resolve_template(const Script& sc, const Step& s, Template& t, std::string_view field) {
    for (auto& p : t.parts) {
        if (p.name.empty()) continue;
        p.var = sc.variable_index(p.name);
        if (p.var < 0 && p.name.rfind(kLoadFilePrefix, 0) == 0 && !sc.load_file)
            refuse_step(
                s, std::string(field) + ": '" + p.name + "' needs the document's \"loadFile\"");
        if (p.var < 0) refuse_step(s, std::string(field) + ": unknown variable '" + p.name + "'");
    }
}

int resolve_step(const Script& sc, const Step& s, const std::string& id, std::string_view field) {
    const int i = sc.step_index(id);
    if (i < 0)
        refuse_step(s, std::string(field) + " names undefined step '" + id.substr(0, 64) + "'");
    return i;
}

void check_outcome(const Step& s, const std::string& outcome, std::string_view field) {
    if (!valid_name(outcome))
        refuse_step(
            s, std::string(field) + ": an outcome name is required (1..64 of A-Z a-z 0-9 _ -)");
}

/// Finds a cycle among reachable steps that has no step with maxVisits; refuses naming it.
void check_loops(const Script& sc, const std::vector<bool>& reachable) {
    const std::size_t n = sc.steps.size();
    std::vector<int> color(n, 0);  // 0 new, 1 on the DFS stack, 2 done
    std::vector<int> parent(n, -1);
    for (std::size_t root = 0; root < n; ++root) {
        if (color[root] != 0 || !reachable[root] || sc.steps[root].max_visits) continue;
        // Iterative DFS over steps without a bound.
        std::vector<std::pair<int, std::size_t>> stack{{static_cast<int>(root), 0}};
        color[root] = 1;
        while (!stack.empty()) {
            auto& [u, k] = stack.back();
            const auto succ = successors(sc.steps[static_cast<std::size_t>(u)]);
            if (k >= succ.size()) {
                color[static_cast<std::size_t>(u)] = 2;
                stack.pop_back();
                continue;
            }
            const int v = succ[k++];
            const auto vi = static_cast<std::size_t>(v);
            if (sc.steps[vi].max_visits) continue;  // a bounded step breaks any loop through it
            if (color[vi] == 1) {
                std::vector<int> chain;  // u back to v along the DFS stack
                for (int w = u; w != v; w = parent[static_cast<std::size_t>(w)]) chain.push_back(w);
                std::string path = "'" + sc.steps[vi].id + "'";
                for (auto it = chain.rbegin(); it != chain.rend(); ++it)
                    path += " -> '" + sc.steps[static_cast<std::size_t>(*it)].id + "'";
                path += " -> '" + sc.steps[vi].id + "'";
                refuse("step '" + sc.steps[vi].id + "': loop without a bound (" + path +
                       "); give a step on it maxVisits");
            }
            if (color[vi] == 0) {
                color[vi] = 1;
                parent[vi] = u;
                stack.push_back({v, 0});
            }
        }
    }
}

}  // namespace

std::string_view var_type_name(VarType t) noexcept {
    switch (t) {
        case VarType::Hex:
            return "hex";
        case VarType::U8:
            return "u8";
        case VarType::U16:
            return "u16";
        case VarType::U32:
            return "u32";
        case VarType::Aid:
            return "aid";
    }
    return "?";
}

std::optional<VarType> parse_var_type(std::string_view name) noexcept {
    for (VarType t : {VarType::Hex, VarType::U8, VarType::U16, VarType::U32, VarType::Aid})
        if (var_type_name(t) == name) return t;
    return std::nullopt;
}

std::size_t var_type_width(VarType t) noexcept {
    switch (t) {
        case VarType::U8:
            return 1;
        case VarType::U16:
            return 2;
        case VarType::U32:
            return 4;
        default:
            return 0;
    }
}

bool is_integer(VarType t) noexcept {
    return var_type_width(t) != 0;
}

void check_value(VarType type, ByteView value, std::string_view what) {
    const std::string w(what);
    if (is_integer(type)) {
        if (value.size() != var_type_width(type))
            refuse(w + ": a " + std::string(var_type_name(type)) + " is " +
                   std::to_string(var_type_width(type)) + " bytes, not " +
                   std::to_string(value.size()));
    } else if (type == VarType::Aid) {
        if (value.size() < 5 || value.size() > 16)  // ISO/IEC 7816-4 §8.2.1.2
            refuse(w + ": an AID is 5 to 16 bytes, not " + std::to_string(value.size()));
    } else if (value.size() > kMaxValueBytes) {
        refuse(w + ": longer than " + std::to_string(kMaxValueBytes) + " bytes");
    }
}

std::uint64_t value_number(ByteView value) noexcept {
    std::uint64_t v = 0;
    for (std::uint8_t b : value) v = (v << 8) | b;
    return v;
}

std::string value_text(VarType type, ByteView value) {
    return is_integer(type) ? std::to_string(value_number(value)) : to_hex(value);
}

Bytes parse_value_text(VarType type, std::string_view text, std::string_view what) {
    if (is_integer(type)) {
        std::uint64_t n = 0;
        const auto* end = text.data() + text.size();
        const auto r = std::from_chars(text.data(), end, n);
        const std::size_t width = var_type_width(type);
        if (text.empty() || r.ec != std::errc() || r.ptr != end || (n >> (8 * width)) != 0)
            refuse(std::string(what) + ": not a decimal " + std::string(var_type_name(type)));
        Bytes out(width);
        for (std::size_t i = 0; i < width; ++i)
            out[width - 1 - i] = static_cast<std::uint8_t>(n >> (8 * i));
        return out;
    }
    Bytes out = from_hex(text, what);
    check_value(type, out, what);
    return out;
}

SwPattern parse_sw_pattern(std::string_view text, std::string_view what) {
    if (text.size() != 4)
        refuse(std::string(what) + ": SW pattern '" + std::string(text.substr(0, 16)) +
               "' is not 4 characters");
    SwPattern p;
    p.text = std::string(text);
    for (char c : text) {
        p.value <<= 4;
        p.mask <<= 4;
        if (c == 'x' || c == 'X') continue;
        const int n = nibble(c);
        if (n < 0)
            refuse(std::string(what) + ": SW pattern '" + p.text +
                   "' has a character that is neither hex nor x");
        p.value |= static_cast<std::uint16_t>(n);
        p.mask |= 0xF;
    }
    return p;
}

std::optional<CmpOp> parse_cmp_op(std::string_view op) noexcept {
    for (CmpOp o : {CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge})
        if (cmp_op_name(o) == op) return o;
    return std::nullopt;
}

std::string_view cmp_op_name(CmpOp op) noexcept {
    switch (op) {
        case CmpOp::Eq:
            return "==";
        case CmpOp::Ne:
            return "!=";
        case CmpOp::Lt:
            return "<";
        case CmpOp::Le:
            return "<=";
        case CmpOp::Gt:
            return ">";
        case CmpOp::Ge:
            return ">=";
    }
    return "?";
}

std::string_view step_kind_name(StepKind k) noexcept {
    switch (k) {
        case StepKind::Apdu:
            return "apdu";
        case StepKind::Expect:
            return "expect";
        case StepKind::Capture:
            return "capture";
        case StepKind::Branch:
            return "branch";
        case StepKind::Kms:
            return "kms";
        case StepKind::SecureChannel:
            return "secure-channel";
        case StepKind::End:
            return "end";
        case StepKind::Load:
            return "load";
        case StepKind::PutKey:
            return "put-key";
    }
    return "?";
}

std::optional<StepKind> parse_step_kind(std::string_view name) noexcept {
    for (StepKind k :
         {StepKind::Apdu, StepKind::Expect, StepKind::Capture, StepKind::Branch, StepKind::Kms,
          StepKind::SecureChannel, StepKind::End, StepKind::Load, StepKind::PutKey})
        if (step_kind_name(k) == name) return k;
    return std::nullopt;
}

std::string_view kms_operation_name(KmsOperation op) noexcept {
    return op == KmsOperation::Mac ? "mac" : "encrypt";
}

bool valid_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > 64) return false;
    if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z'))) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}

std::uint64_t fingerprint_of(std::string_view text) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis
    for (char c : text) {
        h ^= static_cast<std::uint8_t>(c);
        h *= 0x100000001b3ull;
    }
    return h;
}

int Script::variable_index(std::string_view name) const {
    for (std::size_t i = 0; i < variables.size(); ++i)
        if (variables[i].name == name) return static_cast<int>(i);
    return -1;
}

int Script::step_index(std::string_view id) const {
    for (std::size_t i = 0; i < steps.size(); ++i)
        if (steps[i].id == id) return static_cast<int>(i);
    return -1;
}

Script compile_script(ScriptSpec spec) {
    Script sc;
    if (!valid_name(spec.name))
        refuse("script name: 1..64 of A-Z a-z 0-9 _ -, starting with a letter");
    sc.name = std::move(spec.name);
    sc.version = spec.version;
    sc.fingerprint = spec.fingerprint;
    sc.max_steps = spec.max_steps.value_or(kDefaultMaxSteps);
    if (sc.max_steps == 0 || sc.max_steps > kHardMaxSteps)
        refuse("maxSteps: 1.." + std::to_string(kHardMaxSteps));
    if (spec.steps.empty()) refuse("steps: a script needs at least one step");
    if (spec.steps.size() > kMaxStepsInDocument)
        refuse("steps: more than " + std::to_string(kMaxStepsInDocument));

    // Inputs.
    for (auto& in : spec.inputs) {
        if (!valid_name(in.name)) refuse("input '" + in.name.substr(0, 64) + "': bad name");
        if (sc.variable_index(in.name) >= 0) refuse("input '" + in.name + "' is declared twice");
        if (sc.variables.size() >= kMaxVariables)
            refuse("inputs: more than " + std::to_string(kMaxVariables));
        in.origin = VarOrigin::Input;
        sc.variables.push_back(in);
    }
    sc.input_count = sc.variables.size();

    // The load file's constants (script.hpp, LoadFileFacts), after the inputs.
    sc.load_file = std::move(spec.load_file);
    if (sc.load_file) {
        const LoadFileFacts& f = *sc.load_file;
        Bytes size(4);
        for (int i = 0; i < 4; ++i) size[3 - i] = static_cast<std::uint8_t>(f.size >> (8 * i));
        const std::pair<const char*, Variable> constants[] = {
            {"aid", {"", VarType::Aid, VarOrigin::Constant, f.aid}},
            {"hash", {"", VarType::Hex, VarOrigin::Constant, f.hash}},
            {"size", {"", VarType::U32, VarOrigin::Constant, size}},
            {"module", {"", VarType::Aid, VarOrigin::Constant, f.module}},
            {"instanceAid", {"", VarType::Aid, VarOrigin::Constant, f.instance_aid}},
            {"privileges", {"", VarType::Hex, VarOrigin::Constant, f.privileges}},
            {"installParameters", {"", VarType::Hex, VarOrigin::Constant, f.install_parameters}}};
        if (sc.variables.size() + std::size(constants) > kMaxVariables)
            refuse("inputs: more than " + std::to_string(kMaxVariables) + " with the load file's");
        for (const auto& [field, v] : constants) {
            Variable c = v;
            c.name = std::string(kLoadFilePrefix) + field;
            check_value(c.type, c.value, "loadFile '" + f.name + "': " + field);
            sc.variables.push_back(std::move(c));
        }
    }
    const std::size_t defined_at_entry = sc.variables.size();

    // Step ids, then templates and the variables steps set.
    sc.steps = std::move(spec.steps);
    for (std::size_t i = 0; i < sc.steps.size(); ++i) {
        const Step& s = sc.steps[i];
        if (!valid_name(s.id))
            refuse("step #" + std::to_string(i + 1) +
                   ": id must be 1..64 of A-Z a-z 0-9 _ -, starting with a letter");
        if (sc.step_index(s.id) != static_cast<int>(i)) refuse_step(s, "id is used twice");
    }
    for (auto& s : sc.steps) {
        switch (s.kind) {
            case StepKind::Apdu:
                parse_template(s.header, s, "header");
                parse_template(s.data, s, "data");
                if (s.le && (*s.le == 0 || *s.le > 65536)) refuse_step(s, "le: 1..65536");
                break;
            case StepKind::Expect:
                if (s.sw.empty()) refuse_step(s, "sw: at least one status word pattern");
                check_outcome(s, s.on_fail, "onFail");
                break;
            case StepKind::Capture:
                if (s.fields.empty()) refuse_step(s, "fields: at least one field");
                check_outcome(s, s.on_fail, "onFail");
                for (auto& c : s.fields) {
                    const std::size_t width = var_type_width(c.type);
                    if (c.sw) {
                        if (c.type != VarType::U16)
                            refuse_step(s, "field '" + c.name + "': sw is a u16");
                        c.var = declare_set_variable(sc, s, c.name, c.type, VarOrigin::Capture);
                        continue;
                    }
                    if (c.append && !c.rest)
                        refuse_step(s, "field '" + c.name + "': append needs rest");
                    if (c.rest) {
                        if (c.type != VarType::Hex || c.length)
                            refuse_step(s, "field '" + c.name +
                                               "': rest is for a hex field without a length");
                        if (c.offset > 65536)
                            refuse_step(s, "field '" + c.name + "': offset out of range");
                        c.var = declare_set_variable(sc, s, c.name, c.type, VarOrigin::Capture);
                        continue;
                    }
                    if (!c.length) {
                        if (width == 0)
                            refuse_step(s, "field '" + c.name + "': a " +
                                               std::string(var_type_name(c.type)) +
                                               " capture needs a length");
                        c.length = width;
                    }
                    if (width != 0 && *c.length != width)
                        refuse_step(s, "field '" + c.name + "': a " +
                                           std::string(var_type_name(c.type)) + " is " +
                                           std::to_string(width) + " bytes");
                    if (c.type == VarType::Aid && (*c.length < 5 || *c.length > 16))
                        refuse_step(s, "field '" + c.name + "': an AID is 5 to 16 bytes");
                    if (*c.length == 0 || *c.length > kMaxValueBytes || c.offset > 65536)
                        refuse_step(s, "field '" + c.name + "': offset or length out of range");
                    c.var = declare_set_variable(sc, s, c.name, c.type, VarOrigin::Capture);
                }
                break;
            case StepKind::Kms:
                if (s.key.empty() || s.key.size() > 255) refuse_step(s, "key: 1..255 characters");
                if (s.algorithm.empty() || s.algorithm.size() > 32)
                    refuse_step(s, "algorithm: 1..32 characters");
                parse_template(s.input, s, "input");
                if (s.input.parts.empty()) refuse_step(s, "input: the KMS needs data");
                if (s.truncate && (*s.truncate == 0 || *s.truncate > kMaxValueBytes))
                    refuse_step(s, "truncate: 1.." + std::to_string(kMaxValueBytes));
                s.result_var = declare_set_variable(sc, s, s.result, VarType::Hex, VarOrigin::Kms);
                break;
            case StepKind::SecureChannel:
                if (s.protocol != "SCP02" && s.protocol != "SCP03")
                    refuse_step(s, "protocol: SCP02 or SCP03");
                if (s.keyset.empty() || s.keyset.size() > 255)
                    refuse_step(s, "keyset: 1..255 characters");
                check_outcome(s, s.on_fail, "onFail");
                break;
            case StepKind::End:
                check_outcome(s, s.outcome, "outcome");
                break;
            case StepKind::Branch:
                break;
            case StepKind::Load:
                // GPCS 2.2.1 §11.6: the whole Load File Data Block in numbered LOAD commands.
                if (!sc.load_file) refuse_step(s, "a load step needs the document's \"loadFile\"");
                if (s.block_size == 0 || s.block_size > kMaxLoadBlockSize)
                    refuse_step(s, "blockSize: 1.." + std::to_string(kMaxLoadBlockSize));
                s.load_blocks = load_block_count(sc.load_file->size, s.block_size);
                if (s.load_blocks > kMaxLoadBlocks)
                    refuse_step(s, "blockSize: load file '" + sc.load_file->name + "' needs " +
                                       std::to_string(s.load_blocks) + " blocks of " +
                                       std::to_string(s.block_size) + " bytes; LOAD numbers " +
                                       std::to_string(kMaxLoadBlocks) +
                                       " at most (P2, GPCS 2.2.1 §11.6.2.3)");
                check_outcome(s, s.on_fail, "onFail");
                break;
            case StepKind::PutKey:
                // GPCS 2.2.1 §11.8.2: P1 the key version replaced (00: a new key set), P2 the
                // first key identifier; 1 to 3 keys per command here (kmsd's limit).
                if (s.keys.empty() || s.keys.size() > 3)
                    refuse_step(s, "keys: 1 to 3 key references");
                for (const auto& k : s.keys)
                    if (k.empty() || k.size() > 255)
                        refuse_step(s, "keys: a key reference is 1..255 characters");
                parse_template(s.key_version_var, s, "keyVersion");
                parse_template(s.replace_version_var, s, "replaceKeyVersion");
                if (s.key_version_var.empty() && (s.key_version < 0x01 || s.key_version > 0x7F))
                    refuse_step(s, "keyVersion: 01..7F");
                if (s.replace_version > 0x7F) refuse_step(s, "replaceKeyVersion: 00..7F");
                if (s.key_id < 0x01 || s.key_id > 0x7F) refuse_step(s, "keyId: 01..7F");
                check_outcome(s, s.on_fail, "onFail");
                break;
        }
        if (s.max_visits && (*s.max_visits == 0 || *s.max_visits > kHardMaxSteps))
            refuse_step(s, "maxVisits: 1.." + std::to_string(kHardMaxSteps));
    }

    // Names used: template variables, branch operands, successors.
    const int last = static_cast<int>(sc.steps.size()) - 1;
    for (int i = 0; i <= last; ++i) {
        Step& s = sc.steps[static_cast<std::size_t>(i)];
        resolve_template(sc, s, s.header, "header");
        resolve_template(sc, s, s.data, "data");
        resolve_template(sc, s, s.input, "input");
        resolve_template(sc, s, s.key_version_var, "keyVersion");
        resolve_template(sc, s, s.replace_version_var, "replaceKeyVersion");
        for (const Template* t : {&s.key_version_var, &s.replace_version_var}) {
            if (t->empty()) continue;
            const bool one_u8 =
                t->parts.size() == 1 && t->parts[0].var >= 0 && !t->parts[0].length &&
                sc.variables[static_cast<std::size_t>(t->parts[0].var)].type == VarType::U8;
            if (!one_u8)
                refuse_step(
                    s, std::string(t == &s.key_version_var ? "keyVersion" : "replaceKeyVersion") +
                           ": one hex byte or \"${name}\" of a u8 variable");
        }
        if (s.kind == StepKind::Apdu) {
            std::size_t width = 0;
            for (const auto& p : s.header.parts) {
                if (p.var < 0) {
                    width += p.literal.size();
                    continue;
                }
                if (p.length) {
                    width += 1;
                    continue;
                }
                const VarType t = sc.variables[static_cast<std::size_t>(p.var)].type;
                if (!is_integer(t))
                    refuse_step(s, "header: only integer variables fit a header ('" + p.name +
                                       "' is " + std::string(var_type_name(t)) + ")");
                width += var_type_width(t);
            }
            if (width != 4)
                refuse_step(
                    s, "header: must be 4 bytes (CLA INS P1 P2), not " + std::to_string(width));
        }
        if (s.kind == StepKind::Branch) {
            Condition& c = s.condition;
            c.var = sc.variable_index(c.var_name);
            if (c.var < 0)
                refuse_step(s, "if: unknown variable '" + c.var_name.substr(0, 64) + "'");
            const VarType t = sc.variables[static_cast<std::size_t>(c.var)].type;
            Operand& v = c.value;
            if (v.text.size() > 3 && v.text.rfind("${", 0) == 0 && v.text.back() == '}') {
                const std::string name = v.text.substr(2, v.text.size() - 3);
                v.var = sc.variable_index(name);
                if (v.var < 0) refuse_step(s, "if: unknown variable '" + name.substr(0, 64) + "'");
                const VarType vt = sc.variables[static_cast<std::size_t>(v.var)].type;
                if (is_integer(t) != is_integer(vt))
                    refuse_step(s, "if: cannot compare '" + c.var_name + "' (" +
                                       std::string(var_type_name(t)) + ") with '" + name + "' (" +
                                       std::string(var_type_name(vt)) + ")");
            } else if (is_integer(t)) {
                if (!v.number)
                    refuse_step(s, "if: '" + c.var_name +
                                       "' is an integer; compare it with a number or ${variable}");
                if ((*v.number >> (8 * var_type_width(t))) != 0)
                    refuse_step(s, "if: " + std::to_string(*v.number) + " does not fit a " +
                                       std::string(var_type_name(t)));
            } else {
                if (v.number || v.text.empty())
                    refuse_step(s, "if: '" + c.var_name + "' is " + std::string(var_type_name(t)) +
                                       "; compare it with a hex string or ${variable}");
                try {
                    v.hex = from_hex(v.text, "value");
                } catch (const Error&) {
                    refuse_step(s, "if: value '" + v.text.substr(0, 64) + "' is not hex");
                }
            }
            if (!is_integer(t) && c.op != CmpOp::Eq && c.op != CmpOp::Ne)
                refuse_step(s, "if: " + std::string(var_type_name(t)) +
                                   " values compare only with == and !=");
            if (s.goto_id.empty()) refuse_step(s, "goto: a branch needs a target");
            s.goto_step = resolve_step(sc, s, s.goto_id, "goto");
        }
        if (s.kind == StepKind::End) continue;
        if (!s.next_id.empty()) {
            s.next = resolve_step(sc, s, s.next_id, "next");
        } else if (i == last) {
            refuse_step(s,
                        "falls off the end of the script; end with an 'end' step or give 'next'");
        } else {
            s.next = i + 1;
        }
    }

    // Reachability and the facts at each step's entry (worklist to a fixpoint).
    const std::size_t n = sc.steps.size();
    std::vector<Facts> facts(n);
    Facts entry;
    entry.reached = true;
    entry.defined.assign(sc.variables.size(), false);
    for (std::size_t v = 0; v < defined_at_entry; ++v) entry.defined[v] = true;
    facts[0] = entry;
    std::deque<int> work{0};
    while (!work.empty()) {
        const int u = work.front();
        work.pop_front();
        const Step& s = sc.steps[static_cast<std::size_t>(u)];
        const Facts out = transfer(s, facts[static_cast<std::size_t>(u)]);
        for (int v : successors(s))
            if (facts[static_cast<std::size_t>(v)].meet(out)) work.push_back(v);
    }
    std::vector<bool> reachable(n);
    for (std::size_t i = 0; i < n; ++i) {
        Step& s = sc.steps[i];
        if (!facts[i].reached) refuse_step(s, "is unreachable from the first step");
        reachable[i] = true;
        s.set_on_entry = facts[i].defined;
        s.response_on_entry = facts[i].has_response;
        for (int v : uses(s))
            if (!facts[i].defined[static_cast<std::size_t>(v)])
                refuse_step(s, "variable '" + sc.variables[static_cast<std::size_t>(v)].name +
                                   "' may be used before any step sets it");
        if ((s.kind == StepKind::Expect || s.kind == StepKind::Capture) && !facts[i].has_response)
            refuse_step(s, "may run before any APDU has a response");
        if ((s.kind == StepKind::Apdu || s.kind == StepKind::Load) && s.secure &&
            !facts[i].channel_open)
            refuse_step(s, "is secure but may run before a secure-channel step opens the channel");
        if (s.kind == StepKind::PutKey && !facts[i].channel_open)
            refuse_step(s, "PUT KEY may run before a secure-channel step opens the channel");
    }
    check_loops(sc, reachable);
    return sc;
}

}  // namespace kms::tsm::script
