// The service script state machine (see script_run.hpp): executes steps until the host must
// act, accepts each answer once, and saves and restores its whole state.
#include "script_run.hpp"

#include <algorithm>
#include <utility>

#include "domain/apdu.hpp"
#include "domain/error.hpp"

namespace kms::tsm::script {
namespace {

constexpr std::uint8_t kStateMagic[3] = {'K', 'S', 'R'};
/// 1: the first format; 2 adds the LOAD block and the last PUT KEY result (format 1 states
/// still restore: they predate both).
constexpr std::uint8_t kStateFormat = 2;

[[noreturn]] void corrupt(const std::string& what) {
    throw Error(ErrorCode::Integrity, "script run state: " + what);
}

bool waits_for_host(StepKind k) {
    return k == StepKind::Apdu || k == StepKind::Kms || k == StepKind::SecureChannel ||
           k == StepKind::Load || k == StepKind::PutKey;
}

}  // namespace

ScriptRun::ScriptRun(std::shared_ptr<const Script> script) : m_script(std::move(script)) {
    if (!m_script) throw Error(ErrorCode::InvalidArgument, "script run: no script");
    m_visits.assign(m_script->steps.size(), 0);
    m_vars.assign(m_script->variables.size(), std::nullopt);
    for (std::size_t i = 0; i < m_script->variables.size(); ++i)
        if (m_script->variables[i].origin == VarOrigin::Constant)
            m_vars[i] = m_script->variables[i].value;
}

ScriptRun::ScriptRun(std::shared_ptr<const Script> script,
                     const std::map<std::string, std::string, std::less<>>& inputs)
    : ScriptRun(std::move(script)) {
    for (const auto& [name, text] : inputs) {
        const int i = m_script->variable_index(name);
        if (i < 0 || static_cast<std::size_t>(i) >= m_script->input_count)
            throw Error(
                ErrorCode::InvalidArgument,
                "script '" + m_script->name + "': unknown input '" + name.substr(0, 64) + "'");
        const Variable& v = m_script->variables[static_cast<std::size_t>(i)];
        m_vars[static_cast<std::size_t>(i)] =
            parse_value_text(v.type, text, "input '" + name + "'");
    }
    for (std::size_t i = 0; i < m_script->input_count; ++i)
        if (!m_vars[i])
            throw Error(ErrorCode::InvalidArgument, "script '" + m_script->name + "': input '" +
                                                        m_script->variables[i].name +
                                                        "' is required");
    run();
}

Bytes ScriptRun::render(const Template& t) const {
    Bytes out;
    for (const auto& p : t.parts) {
        if (p.var < 0) {
            out.insert(out.end(), p.literal.begin(), p.literal.end());
            continue;
        }
        const Bytes& v = var(p.var);
        if (p.length) {
            if (v.size() > 0xFF)  // caught by run(): the run ends "command-too-long"
                throw Error(ErrorCode::InvalidArgument,
                            "${#" + p.name + "}: longer than 255 bytes");
            out.push_back(static_cast<std::uint8_t>(v.size()));
            continue;
        }
        out.insert(out.end(), v.begin(), v.end());
    }
    return out;
}

const Bytes& ScriptRun::var(int i) const {
    const auto& v = m_vars[static_cast<std::size_t>(i)];
    // compile_script() proved every use is preceded by a set on every path.
    if (!v)
        throw Error(ErrorCode::Internal, "script run: variable '" +
                                             m_script->variables[static_cast<std::size_t>(i)].name +
                                             "' is unset");
    return *v;
}

bool ScriptRun::evaluate(const Condition& c) const {
    const Bytes& lhs = var(c.var);
    const VarType t = m_script->variables[static_cast<std::size_t>(c.var)].type;
    if (is_integer(t)) {
        const std::uint64_t a = value_number(lhs);
        const std::uint64_t b = c.value.var >= 0 ? value_number(var(c.value.var)) : *c.value.number;
        switch (c.op) {
            case CmpOp::Eq:
                return a == b;
            case CmpOp::Ne:
                return a != b;
            case CmpOp::Lt:
                return a < b;
            case CmpOp::Le:
                return a <= b;
            case CmpOp::Gt:
                return a > b;
            case CmpOp::Ge:
                return a >= b;
        }
        return false;
    }
    const Bytes& rhs = c.value.var >= 0 ? var(c.value.var) : c.value.hex;
    return (c.op == CmpOp::Eq) == (lhs == rhs);
}

void ScriptRun::set_var(int var, Bytes value) {
    m_vars[static_cast<std::size_t>(var)] = std::move(value);
}

std::optional<Value> ScriptRun::variable(std::string_view name) const {
    const int i = m_script->variable_index(std::string(name));
    if (i < 0 || !m_vars[static_cast<std::size_t>(i)]) return std::nullopt;
    return Value{m_script->variables[static_cast<std::size_t>(i)].type,
                 *m_vars[static_cast<std::size_t>(i)]};
}

void ScriptRun::finish(std::string outcome) {
    m_outcome = std::move(outcome);
    ++m_seq;
    build_action();
}

void ScriptRun::build_action() {
    const Step& s = m_script->steps[m_step];
    Action a;
    a.seq = m_seq;
    a.step_id = s.id;
    if (!m_outcome.empty()) {
        Done d;
        d.outcome = m_outcome;
        for (std::size_t i = 0; i < m_vars.size(); ++i)
            if (m_vars[i])
                d.variables[m_script->variables[i].name] = {m_script->variables[i].type,
                                                            *m_vars[i]};
        a.what = std::move(d);
    } else if (s.kind == StepKind::Apdu) {
        const Bytes header = render(s.header);  // 4 bytes: checked by compile_script()
        core::CommandApdu c;
        c.cla = header[0];
        c.ins = header[1];
        c.p1 = header[2];
        c.p2 = header[3];
        c.data = render(s.data);
        c.le = s.le;
        a.what = SendApdu{core::encode_command_apdu(c), s.secure};
    } else if (s.kind == StepKind::Kms) {
        a.what = KmsRequest{s.operation, s.key, s.algorithm, render(s.input)};
    } else if (s.kind == StepKind::SecureChannel) {
        a.what = OpenSecureChannel{s.protocol, s.keyset, s.level};
    } else if (s.kind == StepKind::Load) {
        a.what = SendLoadBlock{m_script->load_file->name, s.block_size, m_block, s.load_blocks,
                               s.secure};
    } else if (s.kind == StepKind::PutKey) {
        std::uint8_t version = s.key_version, replace = s.replace_version;
        if (!s.key_version_var.empty()) version = render(s.key_version_var).at(0);
        if (!s.replace_version_var.empty()) replace = render(s.replace_version_var).at(0);
        a.what = PutKey{s.keys, version, replace, s.key_id};
    } else {
        throw Error(ErrorCode::Internal, "script run: step '" + s.id + "' does not wait");
    }
    m_action = std::move(a);
}

void ScriptRun::run() {
    const auto& steps = m_script->steps;
    for (;;) {
        const Step& s = steps[m_step];
        if (m_steps_executed >= m_script->max_steps) return finish(std::string(kStepLimitExceeded));
        ++m_steps_executed;
        if (++m_visits[m_step] > s.max_visits.value_or(kHardMaxSteps))
            return finish(std::string(kLoopBoundExceeded));
        switch (s.kind) {
            case StepKind::Apdu:
            case StepKind::Kms:
            case StepKind::SecureChannel:
            case StepKind::Load:
            case StepKind::PutKey:
                if (s.kind == StepKind::PutKey) {
                    // Versions from variables: GPCS 2.2.1 §11.8.2.1, a key version is 01..7F
                    // (the replaced one 00 for a new key set).
                    const auto out = [&](const Template& t, std::uint8_t min) {
                        return !t.empty() && (render(t).at(0) < min || render(t).at(0) > 0x7F);
                    };
                    if (out(s.key_version_var, 0x01) || out(s.replace_version_var, 0x00))
                        return finish(s.on_fail);
                }
                m_block = 0;
                ++m_seq;
                try {
                    build_action();
                } catch (const Error& e) {
                    // Only a command whose data outgrew 65535 bytes gets here.
                    if (e.code() != ErrorCode::InvalidArgument) throw;
                    --m_seq;  // the Done takes the number the command would have had
                    return finish("command-too-long");
                }
                return;
            case StepKind::Expect: {
                bool ok = false;
                for (const auto& p : s.sw) ok = ok || p.matches(m_sw);
                if (!ok) return finish(s.on_fail);
                break;
            }
            case StepKind::Capture: {
                for (const auto& f : s.fields) {
                    if (f.sw) {
                        set_var(f.var, Bytes{static_cast<std::uint8_t>(m_sw >> 8),
                                             static_cast<std::uint8_t>(m_sw & 0xFF)});
                        continue;
                    }
                    if (f.rest) {  // the data from offset to the end, at most one value
                        if (f.offset > m_response_data.size()) return finish(s.on_fail);
                        Bytes v = f.append ? *m_vars[static_cast<std::size_t>(f.var)] : Bytes{};
                        v.insert(v.end(),
                                 m_response_data.begin() + static_cast<std::ptrdiff_t>(f.offset),
                                 m_response_data.end());
                        if (v.size() > kMaxValueBytes) return finish(s.on_fail);
                        set_var(f.var, std::move(v));
                        continue;
                    }
                    if (f.offset + *f.length > m_response_data.size()) return finish(s.on_fail);
                    const auto first =
                        m_response_data.begin() + static_cast<std::ptrdiff_t>(f.offset);
                    set_var(f.var, Bytes(first, first + static_cast<std::ptrdiff_t>(*f.length)));
                }
                break;
            }
            case StepKind::Branch:
                if (evaluate(s.condition)) {
                    m_step = static_cast<std::uint32_t>(s.goto_step);
                    continue;
                }
                break;
            case StepKind::End:
                return finish(s.outcome);
        }
        m_step = static_cast<std::uint32_t>(s.next);
    }
}

bool ScriptRun::accept(std::uint64_t seq, Input kind, ByteView bytes) {
    static constexpr const char* kNames[] = {"", "a card response", "a KMS result",
                                             "a secure channel result", "a PUT KEY result"};
    const auto k = static_cast<std::size_t>(kind);
    if (seq == m_action.seq && !done()) {
        const StepKind sk = m_script->steps[m_step].kind;
        const Input expected = sk == StepKind::Apdu || sk == StepKind::Load ? Input::Response
                               : sk == StepKind::Kms                        ? Input::KmsResult
                               : sk == StepKind::PutKey                     ? Input::PutKey
                                                                            : Input::Channel;
        if (expected != kind)
            throw Error(ErrorCode::InvalidArgument, "script run: action " + std::to_string(seq) +
                                                        " (step '" + m_script->steps[m_step].id +
                                                        "') does not take " + kNames[k]);
        return true;
    }
    const Answer& last = m_last[k - 1];
    if (seq != 0 && seq == last.seq) {
        if (last.bytes.size() == bytes.size() &&
            std::equal(last.bytes.begin(), last.bytes.end(), bytes.begin()))
            return false;  // a retry: the run already moved on
        throw Error(ErrorCode::Conflict, "script run: action " + std::to_string(seq) +
                                             " was already answered with other bytes");
    }
    if (seq < m_action.seq)
        throw Error(ErrorCode::Conflict, "script run: action " + std::to_string(seq) +
                                             " is stale; the run is at " +
                                             std::to_string(m_action.seq));
    throw Error(ErrorCode::InvalidArgument,
                "script run: no action " + std::to_string(seq) + " is waiting for " + kNames[k]);
}

const Action& ScriptRun::feed_response(std::uint64_t seq, ByteView response) {
    if (!accept(seq, Input::Response, response)) return m_action;
    const core::ResponseApdu r = core::parse_response_apdu(response);  // throws before any change
    m_last[0] = {seq, Bytes(response.begin(), response.end())};
    m_has_response = true;
    m_response_data = r.data;
    m_sw = r.sw;
    const Step& s = m_script->steps[m_step];
    if (s.kind == StepKind::Load) {
        // GPCS 2.2.1 §11.6.3: each LOAD block is answered 9000; anything else ends the load.
        if (m_sw != 0x9000) {
            finish(s.on_fail);
            return m_action;
        }
        if (m_block + 1 < s.load_blocks) {
            ++m_block;
            ++m_seq;
            build_action();
            return m_action;
        }
        m_block = 0;
    }
    m_step = static_cast<std::uint32_t>(s.next);
    run();
    return m_action;
}

const Action& ScriptRun::feed_kms_result(std::uint64_t seq, ByteView result) {
    if (!accept(seq, Input::KmsResult, result)) return m_action;
    const Step& s = m_script->steps[m_step];
    if (result.empty() || result.size() > kMaxValueBytes + 32)
        throw Error(ErrorCode::InvalidArgument, "script run: step '" + s.id +
                                                    "': the KMS result must be 1.." +
                                                    std::to_string(kMaxValueBytes + 32) + " bytes");
    if (s.truncate && result.size() < *s.truncate)
        throw Error(ErrorCode::InvalidArgument,
                    "script run: step '" + s.id + "': the KMS result is " +
                        std::to_string(result.size()) + " bytes, shorter than truncate " +
                        std::to_string(*s.truncate));
    const std::size_t keep = s.truncate.value_or(result.size());
    if (keep > kMaxValueBytes)
        throw Error(ErrorCode::InvalidArgument, "script run: step '" + s.id +
                                                    "': the KMS result is longer than " +
                                                    std::to_string(kMaxValueBytes) + " bytes");
    m_last[1] = {seq, Bytes(result.begin(), result.end())};
    set_var(s.result_var,
            Bytes(result.begin(), result.begin() + static_cast<std::ptrdiff_t>(keep)));
    m_step = static_cast<std::uint32_t>(s.next);
    run();
    return m_action;
}

const Action& ScriptRun::feed_channel_result(std::uint64_t seq, bool opened) {
    const std::uint8_t flag = opened ? 1 : 0;
    if (!accept(seq, Input::Channel, ByteView(&flag, 1))) return m_action;
    m_last[2] = {seq, Bytes{flag}};
    const Step& s = m_script->steps[m_step];
    if (!opened) {
        finish(s.on_fail);
        return m_action;
    }
    m_step = static_cast<std::uint32_t>(s.next);
    run();
    return m_action;
}

const Action& ScriptRun::feed_put_key_result(std::uint64_t seq, bool verified) {
    const std::uint8_t flag = verified ? 1 : 0;
    if (!accept(seq, Input::PutKey, ByteView(&flag, 1))) return m_action;
    m_last[3] = {seq, Bytes{flag}};
    const Step& s = m_script->steps[m_step];
    if (!verified) {
        finish(s.on_fail);
        return m_action;
    }
    m_step = static_cast<std::uint32_t>(s.next);
    run();
    return m_action;
}

const Action& ScriptRun::abandon(std::string_view outcome) {
    if (!valid_name(outcome) || outcome == kSuccess)
        throw Error(ErrorCode::InvalidArgument,
                    "script run: abandon needs a failure outcome name (1..64 of A-Z a-z 0-9 _ -)");
    if (!done()) finish(std::string(outcome));
    return m_action;
}

Bytes ScriptRun::serialize() const {
    Bytes out(std::begin(kStateMagic), std::end(kStateMagic));
    put_u8(out, kStateFormat);
    put_lv(out, m_script->name);
    put_u32(out, m_script->version);
    put_u64(out, m_script->fingerprint);
    put_u64(out, m_seq);
    put_u32(out, m_step);
    put_u32(out, m_steps_executed);
    put_lv(out, m_outcome);
    put_u8(out, m_has_response ? 1 : 0);
    put_lv(out, m_response_data);
    put_u32(out, m_sw);
    put_u32(out, m_block);
    put_u32(out, static_cast<std::uint32_t>(m_visits.size()));
    for (std::uint32_t v : m_visits) put_u32(out, v);
    put_u32(out, static_cast<std::uint32_t>(m_vars.size()));
    for (const auto& v : m_vars) {
        put_u8(out, v ? 1 : 0);
        if (v) put_lv(out, *v);
    }
    for (const Answer& a : m_last) {
        put_u64(out, a.seq);
        put_lv(out, a.bytes);
    }
    return out;
}

ScriptRun ScriptRun::restore(std::shared_ptr<const Script> script, ByteView state) {
    ScriptRun r(std::move(script));
    const Script& sc = *r.m_script;
    ByteReader in(state);
    if (state.size() < 4 ||
        !std::equal(std::begin(kStateMagic), std::end(kStateMagic), state.begin()))
        corrupt("not a saved script run");
    for (int i = 0; i < 3; ++i) in.u8();
    const std::uint8_t format = in.u8();
    if (format != 1 && format != kStateFormat) corrupt("unknown format");
    if (in.lv_string() != sc.name || in.u32() != sc.version || in.u64() != sc.fingerprint)
        corrupt("saved for another script or another revision of '" + sc.name + "'");
    r.m_seq = in.u64();
    r.m_step = in.u32();
    r.m_steps_executed = in.u32();
    r.m_outcome = in.lv_string();
    const std::uint8_t has_response = in.u8();
    r.m_response_data = in.lv_bytes();
    const std::uint32_t sw = in.u32();
    r.m_block = format >= 2 ? in.u32() : 0;
    if (r.m_step >= sc.steps.size() || has_response > 1 || sw > 0xFFFF ||
        r.m_steps_executed > sc.max_steps || r.m_seq == 0 || r.m_response_data.size() > 65536)
        corrupt("a field is out of range");
    r.m_has_response = has_response == 1;
    r.m_sw = static_cast<std::uint16_t>(sw);
    if (in.u32() != sc.steps.size()) corrupt("step count does not match the script");
    for (auto& v : r.m_visits) v = in.u32();
    if (in.u32() != sc.variables.size()) corrupt("variable count does not match the script");
    for (std::size_t i = 0; i < sc.variables.size(); ++i) {
        const std::uint8_t present = in.u8();
        if (present > 1) corrupt("a field is out of range");
        if (!present) continue;
        Bytes v = in.lv_bytes();
        try {
            check_value(sc.variables[i].type, v, sc.variables[i].name);
        } catch (const Error&) {
            corrupt("variable '" + sc.variables[i].name + "' does not fit its type");
        }
        r.m_vars[i] = std::move(v);
    }
    for (std::size_t k = 0; k < (format >= 2 ? 4u : 3u); ++k) {
        r.m_last[k].seq = in.u64();
        r.m_last[k].bytes = in.lv_bytes();
    }
    if (!in.at_end()) corrupt("trailing bytes");
    for (std::size_t i = 0; i < sc.input_count; ++i)
        if (!r.m_vars[i]) corrupt("input '" + sc.variables[i].name + "' is missing");
    for (std::size_t i = 0; i < sc.variables.size(); ++i)
        if (sc.variables[i].origin == VarOrigin::Constant && r.m_vars[i] != sc.variables[i].value)
            corrupt("the load file's '" + sc.variables[i].name + "' differs from the saved run's");
    if (r.m_outcome.empty() &&
        (sc.steps[r.m_step].kind == StepKind::Load ? r.m_block >= sc.steps[r.m_step].load_blocks
                                                   : r.m_block != 0))
        corrupt("the LOAD block is out of range");
    if (r.m_outcome.empty() ? !waits_for_host(sc.steps[r.m_step].kind) : !valid_name(r.m_outcome))
        corrupt("the run is neither waiting at a step nor done");
    if (r.m_outcome.empty()) {
        // What every path into the step guarantees must hold, or a later step would use an
        // unset variable or a missing response.
        const Step& at = sc.steps[r.m_step];
        for (std::size_t i = 0; i < sc.variables.size(); ++i)
            if (at.set_on_entry[i] && !r.m_vars[i])
                corrupt("variable '" + sc.variables[i].name + "' is unset at step '" + at.id + "'");
        if (at.response_on_entry && !r.m_has_response)
            corrupt("no response at step '" + at.id + "'");
    }
    try {
        r.build_action();
    } catch (const Error&) {
        corrupt("the saved step cannot be rebuilt");
    }
    return r;
}

}  // namespace kms::tsm::script
