// libFuzzer target: service scripts (tsm-services/sp-tsm/script, docs/service-scripts.md) as
// the SP TSM and SE TSM read them from their catalogues, and the engine that runs them. The
// input is a script document (JSON), optionally followed by a NUL byte and a stream of card
// answers. A document that compiles is run: each input variable gets a valid value of its type,
// each SendApdu is answered from the stream (a chunk with a 1-byte length; "9000" once the
// stream is exhausted), KMS requests with 8 bytes, channels and PUT KEYs with success. After
// every step the state must serialize, restore and serialize to the same bytes (a run spans
// HTTPS requests and restarts through that state), and the run must end within its step limit.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "script_json.hpp"
#include "script_run.hpp"

using namespace kms;
using namespace kms::tsm::script;
using kms::fuzz::check;

namespace {

/// A catalogue with one load file, so documents naming "transit-purse" compile.
std::optional<LoadFileFacts> resolve(std::string_view name) {
    if (name != "transit-purse") return std::nullopt;
    LoadFileFacts f;
    f.name = "transit-purse";
    f.aid = from_hex("A00000055910");
    f.hash = Bytes(32, 0xAB);
    f.size = 1500;
    f.module = from_hex("A0000005591010");
    f.instance_aid = from_hex("A0000005591010FFFF");
    f.privileges = from_hex("00");
    f.install_parameters = from_hex("C900");
    return f;
}

std::string input_value(VarType t) {
    switch (t) {
        case VarType::U8:
        case VarType::U16:
        case VarType::U32:
            return "7";
        case VarType::Aid:
            return "A0000005591010FFFF";
        case VarType::Hex:
            break;
    }
    return "0102";
}

void check_state(const std::shared_ptr<const Script>& script, const ScriptRun& run) {
    const Bytes state = run.serialize();
    try {
        const ScriptRun back = ScriptRun::restore(script, state);
        check(back.serialize() == state, "serialize(restore(state)) != state");
        check(back.next().seq == run.next().seq, "restored run at another action");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "a run's own state does not restore: %s\n", e.what());
        std::abort();
    }
}

void run_script(const std::shared_ptr<const Script>& script, fuzz::Reader& answers) {
    std::map<std::string, std::string, std::less<>> inputs;
    for (std::size_t k = 0; k < script->input_count; ++k)
        inputs[script->variables[k].name] = input_value(script->variables[k].type);
    ScriptRun run(script, inputs);
    // Each action consumes at most one step of the script or one LOAD block.
    const std::size_t bound = 2 * (script->max_steps + 256 + 1);
    for (std::size_t n = 0; !run.done(); ++n) {
        check(n < bound, "run did not end within its step limit");
        check_state(script, run);
        const Action& a = run.next();
        if (std::holds_alternative<SendApdu>(a.what) ||
            std::holds_alternative<SendLoadBlock>(a.what)) {
            Bytes response = {0x90, 0x00};
            if (!answers.empty()) {
                const auto c = answers.chunk();
                response.assign(c.begin(), c.end());
            }
            try {
                run.feed_response(a.seq, response);
            } catch (const kms::Error&) {
                run.abandon("card-answer-refused");  // shorter than SW1 SW2
            }
        } else if (std::holds_alternative<KmsRequest>(a.what)) {
            run.feed_kms_result(a.seq, Bytes(8, 0x5A));
        } else if (std::holds_alternative<OpenSecureChannel>(a.what)) {
            run.feed_channel_result(a.seq, answers.byte() != 0xFF);
        } else if (std::holds_alternative<PutKey>(a.what)) {
            run.feed_put_key_result(a.seq, answers.byte() != 0xFF);
        }
    }
    check_state(script, run);
    check(run.steps_executed() <= script->max_steps, "more steps executed than maxSteps");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const void* nul = std::memchr(data, 0, size);
    const std::size_t doc_size =
        nul ? static_cast<std::size_t>(static_cast<const std::uint8_t*>(nul) - data) : size;
    const std::string_view doc(reinterpret_cast<const char*>(data), doc_size);
    fuzz::Reader answers(data + doc_size, size - doc_size);
    answers.byte();  // the NUL

    std::shared_ptr<const Script> script;
    fuzz::refusing_only_with_error("load_script_json", [&] {
        script = std::make_shared<const Script>(load_script_json(doc, resolve));
    });
    if (!script) return 0;
    fuzz::refusing_only_with_error("ScriptRun", [&] { run_script(script, answers); });
    return 0;
}
