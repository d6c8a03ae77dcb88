// Table-driven parsing of kmsctl's command line.
#include "args.hpp"

#include <charconv>

#include "exit_codes.hpp"

namespace kms::cli {

std::optional<std::string> Invocation::value(std::string_view name) const {
    const auto it = options.find(name);
    if (it == options.end() || it->second.empty()) return std::nullopt;
    return it->second.front();
}

std::vector<std::string> Invocation::values(std::string_view name) const {
    const auto it = options.find(name);
    return it == options.end() ? std::vector<std::string>{} : it->second;
}

std::string Invocation::help_text() const {
    if (command != nullptr) return command_help(*command);
    if (is_command_group(words)) return group_help(words);
    return main_help();
}

namespace {

/// Where the parser stands while it walks the tokens.
struct ParseState {
    Invocation inv;
    bool help_words = false;  ///< `kmsctl help key create`: words name the help topic
};

std::string joined_words(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
    return out;
}

[[noreturn]] void fail(const std::string& message, const CommandSpec* command) {
    throw UsageError(message + "; " + help_hint(command));
}

/// A failure among command words: points at the help of the deepest known group.
[[noreturn]] void fail_in_group(const std::string& message, std::vector<std::string> words) {
    while (!words.empty() && !is_command_group(words)) words.pop_back();
    throw UsageError(message + "; see 'kmsctl " +
                     (words.empty() ? std::string() : joined_words(words) + " ") + "--help'");
}

int parse_timeout(const std::string& text) {
    int value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end || value < 1 || value > 3600)
        fail("--timeout: expected whole seconds from 1 to 3600, got '" + text + "'", nullptr);
    return value;
}

void store_global(GlobalOptions& g, std::string_view name, const std::string& value) {
    auto set_once = [&](std::optional<std::string>& slot) {
        if (slot) fail("option --" + std::string(name) + " given twice", nullptr);
        slot = value;
    };
    if (name == "url")
        set_once(g.url);
    else if (name == "ca")
        set_once(g.ca_file);
    else if (name == "token")
        set_once(g.token);
    else if (name == "token-file")
        set_once(g.token_file);
    else if (name == "cert")
        set_once(g.cert_file);
    else if (name == "key")
        set_once(g.key_file);
    else if (name == "data-dir")
        set_once(g.data_dir);
    else if (name == "timeout") {
        if (g.timeout_seconds) fail("option --timeout given twice", nullptr);
        g.timeout_seconds = parse_timeout(value);
    } else if (name == "json")
        g.json = true;
}

/// Handles one "--name[=value]" token at @p i; advances @p i past a separate value.
void take_option(ParseState& st, const std::vector<std::string>& args, std::size_t& i) {
    const std::string& token = args[i];
    const auto eq = token.find('=');
    const std::string name = token.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    std::optional<std::string> inline_value;
    if (eq != std::string::npos) inline_value = token.substr(eq + 1);
    Invocation& inv = st.inv;

    if (name == "help") {
        inv.help = true;
        return;
    }
    const OptionSpec* spec = find_global_option(name);
    const bool global = spec != nullptr;
    if (!global && inv.command != nullptr) spec = inv.command->find_option(name);
    if (spec == nullptr) {
        if (inv.help) return;  // `kmsctl key --algorithm --help`: help wins over a stray option
        if (inv.command != nullptr)
            fail("unknown option --" + name + " for 'kmsctl " + std::string(inv.command->words) +
                     "'",
                 inv.command);
        fail("unknown option --" + name +
                 (inv.words.empty() ? std::string() : " (command options go after the command)"),
             nullptr);
    }

    std::string value;
    if (spec->is_flag()) {
        if (inline_value) fail("option --" + name + " takes no value", inv.command);
    } else if (inline_value) {
        value = *inline_value;
    } else {
        if (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0) {
            if (inv.help) return;
            fail("option --" + name + " needs a value (" + std::string(spec->value_name) + ")",
                 inv.command);
        }
        value = args[++i];
    }

    if (global) {
        store_global(inv.global, name, value);
        return;
    }
    auto& slot = inv.options[name];
    if (!slot.empty() && !spec->repeatable) fail("option --" + name + " given twice", inv.command);
    slot.push_back(value);
}

/// Handles a word that is not an option: a command word, `help`, or the command's argument.
void take_word(ParseState& st, const std::string& word) {
    Invocation& inv = st.inv;
    if (inv.command == nullptr) {
        if (inv.words.empty() && !st.help_words && word == "help") {
            st.help_words = true;
            inv.help = true;
            return;
        }
        inv.words.push_back(word);
        if (const CommandSpec* c = find_command(inv.words)) {
            inv.command = c;
        } else if (!is_command_group(inv.words)) {
            fail_in_group("unknown command '" + joined_words(inv.words) + "'", inv.words);
        }
        return;
    }
    if (inv.command->positional.empty())
        fail("'kmsctl " + std::string(inv.command->words) + "' takes no argument, got '" + word +
                 "'",
             inv.command);
    if (inv.positional && !inv.command->rest.empty()) {
        inv.rest.push_back(word);
        return;
    }
    if (inv.positional)
        fail("unexpected extra argument '" + word + "' (only one " +
                 std::string(inv.command->positional) + " is taken)",
             inv.command);
    inv.positional = word;
}

void check_complete(const Invocation& inv) {
    if (inv.command == nullptr) {
        if (inv.words.empty()) fail("no command given", nullptr);
        fail_in_group("'kmsctl " + joined_words(inv.words) + "' needs a subcommand", inv.words);
    }
    const CommandSpec& c = *inv.command;
    if (!c.positional.empty() && !inv.positional)
        fail("missing " + std::string(c.positional) + " for 'kmsctl " + std::string(c.words) + "'",
             &c);
    for (const auto& o : c.options)
        if (o.required && !inv.has(o.name))
            fail("missing --" + std::string(o.name) + " " + std::string(o.value_name) +
                     " for 'kmsctl " + std::string(c.words) + "'",
                 &c);
}

}  // namespace

Invocation parse_arguments(const std::vector<std::string>& args) {
    ParseState st;
    bool options_ended = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& token = args[i];
        if (!options_ended && token == "--") {
            options_ended = true;
        } else if (!options_ended && token.size() > 2 && token.rfind("--", 0) == 0) {
            take_option(st, args, i);
        } else if (!options_ended && token == "-h") {
            st.inv.help = true;
        } else if (!options_ended && token.size() > 1 && token[0] == '-') {
            fail("unknown option '" + token + "' (put '--' before an argument starting with '-')",
                 st.inv.command);
        } else {
            take_word(st, token);
        }
    }
    if (!st.inv.help) check_complete(st.inv);
    return st.inv;
}

}  // namespace kms::cli
