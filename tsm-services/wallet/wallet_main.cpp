// wallet: a command-line phone app. It runs the TSM flows against the front (top-up, install,
// loss report, any actionCode) and relays the APDUs of each operation between the TSM and a
// secure element: the virtual SE by address (its TCP transport with the vpcd framing).
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "card_link.hpp"
#include "client/https_connection.hpp"
#include "domain/error.hpp"
#include "pcsc_card.hpp"
#include "wallet_flow.hpp"

namespace {

using namespace kms;
using namespace kms::tsm::wallet;

/// Exit codes: part of the interface (scripts and the e2e suite test them).
enum Exit : int {
    kOk = 0,
    kUsage = 1,       ///< bad arguments; nothing was sent
    kRefused = 2,     ///< the front or a service refused the request (4xx)
    kFailed = 3,      ///< the operation ran and ended with an outcome other than success
    kServer = 5,      ///< the front or a service failed (5xx), e.g. its instance is down
    kUnreachable = 6  ///< the front or the card could not be reached
};

constexpr const char* kUsageText =
    R"(wallet: run TSM flows as a phone app, relaying APDUs to a secure element.

Usage: wallet [GLOBAL OPTIONS] COMMAND [OPTIONS]

Commands:
  topup --seid HEX --product ID --amount N      top up the transit purse (actionCode transit.topup)
        [--aid HEX] [--ceiling N]
  install --seid HEX --product ID [--balance N] install and personalize the purse (transit.install)
        [--isd-aid HEX]
  balance --seid HEX --product ID [--aid HEX]   read the purse's balance through the TSM (transit.balance)
  lock | unlock --seid HEX --product ID          lock or unlock the purse on the card (transit.lock, ...)
  delete --seid HEX --product ID                delete the purse and its package (transit.delete)
  report-loss --owner ID                        report the loss of every SE of a user (se.loss-report)
  card-op lock|unlock|terminate|list|rotate-keys|confirm-keys --seid HEX   a card operation
        [--new-kmc ID --diversification VISA2|EMV-CPS11] [--key-version N] [--rotation ID]
                                                on the SE's ISD through se-tsm (se.card-op)
  run --action-code CODE [--body JSON]          start any operation and relay its APDUs
  card atr                                      the card's ATR
  card apdu HEX...                              send APDUs to the card as they are
  card pay --amount N [--aid HEX]               a merchant's plain DEBIT on the purse
  readers                                       the PC/SC readers pcscd knows

--seid and --product default to WALLET_SEID and WALLET_PRODUCT from the environment.

Global options (also from the environment: WALLET_FRONT, WALLET_CA, WALLET_CERT, WALLET_KEY,
WALLET_CARD, WALLET_READER):
  --front URL         the front instance, e.g. https://127.0.0.1:9443/front
  --ca FILE           the CA that issued the front's certificate
  --cert FILE --key FILE   the wallet's client certificate, when the front asks for one
  --card HOST:PORT    the secure element: a virtual SE listening there (virtual-se --listen)
  --reader NAME|N     or the card in a PC/SC reader (pcscd), by name or number (wallet readers)
  --action-code CODE  override the command's actionCode
  --timeout SECONDS   per request (default 30)
  --verbose           print every APDU and the card's answer
  --json              print the result as one JSON object

Exit codes: 0 success, 1 bad arguments, 2 refused (4xx), 3 the operation ended with a failure
outcome, 5 a server failed (5xx), 6 the front or the card could not be reached.
)";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Options as --name VALUE / --name=VALUE / flags; positional words kept in order.
struct Args {
    std::vector<std::string> words;
    std::map<std::string, std::string> options;
    bool flag(const std::string& n) const { return options.count(n) != 0; }
    std::optional<std::string> get(const std::string& n) const {
        auto it = options.find(n);
        if (it == options.end()) return std::nullopt;
        return it->second;
    }
    std::string need(const std::string& n) const {
        auto v = get(n);
        if (!v || v->empty()) throw UsageError("--" + n + " is required");
        return *v;
    }
};

/// Options each command accepts besides the global ones.
const std::map<std::string, std::vector<std::string>>& command_options() {
    static const std::map<std::string, std::vector<std::string>> table = {
        {"topup", {"seid", "product", "amount", "aid", "ceiling"}},
        {"install", {"seid", "product", "balance", "isd-aid"}},
        {"delete", {"seid", "product", "isd-aid"}},
        {"lock", {"seid", "product", "isd-aid"}},
        {"unlock", {"seid", "product", "isd-aid"}},
        {"balance", {"seid", "product", "aid"}},
        {"report-loss", {"owner"}},
        {"card-op", {"seid", "new-kmc", "diversification", "key-version", "rotation"}},
        {"run", {"body"}},
        {"card", {"amount", "aid"}},
        {"readers", {}},
    };
    return table;
}

const std::vector<std::string> kGlobalOptions = {"front", "ca",     "cert",       "key",
                                                 "card",  "reader", "timeout",    "verbose",
                                                 "json",  "help",   "action-code"};

Args parse(int argc, char** argv) {
    static const std::vector<std::string> kFlags = {"verbose", "json", "help"};
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        if (s == "-h") s = "--help";
        if (s.rfind("--", 0) != 0) {
            a.words.push_back(s);
            continue;
        }
        std::string name = s.substr(2), value;
        const auto eq = name.find('=');
        const bool is_flag = std::find(kFlags.begin(), kFlags.end(), name) != kFlags.end() &&
                             eq == std::string::npos;
        if (eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        } else if (!is_flag) {
            if (i + 1 >= argc) throw UsageError("--" + name + " needs a value");
            value = argv[++i];
        }
        if (a.options.count(name) != 0) throw UsageError("--" + name + " given twice");
        a.options[name] = value;
    }
    return a;
}

std::string env_or(const Args& a, const std::string& option, const char* variable) {
    if (auto v = a.get(option)) return *v;
    const char* e = std::getenv(variable);
    return e != nullptr ? e : "";
}

std::uint64_t number(const Args& a, const std::string& name, std::uint64_t max) {
    const std::string v = a.need(name);
    if (v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)
        throw UsageError("--" + name + ": not a non-negative decimal number: " + v);
    const std::uint64_t n = std::stoull(v);
    if (n > max) throw UsageError("--" + name + ": at most " + std::to_string(max));
    return n;
}

std::string hex_option(const Args& a, const std::string& name, const std::string& fallback = {}) {
    auto v = a.get(name);
    const std::string text = v ? *v : fallback;
    if (text.empty()) throw UsageError("--" + name + " is required");
    try {
        return to_hex(from_hex(text, name));
    } catch (const std::exception& e) {
        throw UsageError(std::string("--") + name + ": " + e.what());
    }
}

std::string product_of(const Args& a) {
    const std::string product = env_or(a, "product", "WALLET_PRODUCT");
    if (product.empty()) throw UsageError("--product is required (or WALLET_PRODUCT)");
    return product;
}

/// The card the wallet talks to, whichever way it is reached.
class WalletCard : public CardPort {
  public:
    virtual Bytes atr() = 0;
};

/// A card in a PC/SC reader (pcscd): a real one, or the virtual SE behind vsmartcard-vpcd.
class ReaderCard : public WalletCard {
  public:
    explicit ReaderCard(const std::string& reader) : m_card(reader) {}
    Bytes transmit(ByteView command) override { return m_card.transmit(command); }
    Bytes atr() override { return m_card.atr(); }

  private:
    PcscCard m_card;
};

/// The virtual SE by address.
class TcpCard : public WalletCard {
  public:
    explicit TcpCard(const std::string& address) {
        const auto colon = address.rfind(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
            throw UsageError("--card: expected HOST:PORT, got '" + address + "'");
        const std::string port = address.substr(colon + 1);
        if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 ||
            std::stoul(port) == 0 || std::stoul(port) > 65535)
            throw UsageError("--card: bad port '" + port + "'");
        m_link = std::make_unique<tsm::vse::TcpCardLink>(
            address.substr(0, colon), static_cast<std::uint16_t>(std::stoul(port)), 10000);
    }
    Bytes transmit(ByteView command) override { return m_link->transmit(command); }
    Bytes atr() override { return m_link->atr(); }

  private:
    std::unique_ptr<tsm::vse::TcpCardLink> m_link;
};

std::string json_text(const Poco::JSON::Object& o) {
    std::ostringstream out;
    Poco::JSON::Stringifier::stringify(o, out);
    return out.str();
}

/// The start body of a command; the actionCode defaults per command.
std::string start_body(const Args& a, const std::string& command) {
    Poco::JSON::Object body;
    std::string code;
    if (command == "topup") {
        code = "transit.topup";
        Poco::JSON::Object vars;
        vars.set("purseAid", hex_option(a, "aid", "A0000005591010FFFF"));
        vars.set("amount", std::to_string(number(a, "amount", 0xFFFFFFFFu)));
        vars.set("balanceCeiling",
                 a.get("ceiling") ? std::to_string(number(a, "ceiling", 0xFFFFFFFFu)) : "1000000");
        body.set("script", "top-up");
        body.set("seid", hex_option(a, "seid", env_or(a, "seid", "WALLET_SEID")));
        body.set("productId", product_of(a));
        body.set("variables", vars);
    } else if (command == "install" || command == "delete" || command == "lock" ||
               command == "unlock") {
        code = "transit." + command;
        Poco::JSON::Object vars;
        vars.set("isdAid", hex_option(a, "isd-aid", "A000000151000000"));
        if (command == "install")
            vars.set("initialBalance",
                     a.get("balance") ? std::to_string(number(a, "balance", 0xFFFFFFFFu)) : "0");
        body.set("script", command);
        body.set("seid", hex_option(a, "seid", env_or(a, "seid", "WALLET_SEID")));
        body.set("productId", product_of(a));
        body.set("variables", vars);
    } else if (command == "balance") {
        code = "transit.balance";
        Poco::JSON::Object vars;
        vars.set("purseAid", hex_option(a, "aid", "A0000005591010FFFF"));
        body.set("script", "balance");
        body.set("seid", hex_option(a, "seid", env_or(a, "seid", "WALLET_SEID")));
        body.set("productId", product_of(a));
        body.set("variables", vars);
    } else if (command == "card-op") {
        // se-tsm's card operations (docs/se-tsm.md, "Card operations"): the SEID in the body.
        code = "se.card-op";
        const std::string op = a.words.size() > 1 ? a.words[1] : "";
        if (op != "lock" && op != "unlock" && op != "terminate" && op != "list" &&
            op != "rotate-keys" && op != "confirm-keys")
            throw UsageError("card-op: lock, unlock, terminate, list, rotate-keys or confirm-keys");
        body.set("seid", hex_option(a, "seid", env_or(a, "seid", "WALLET_SEID")));
        body.set("operation", op == "list" ? "list-contents" : op);
        if (op == "rotate-keys") {
            Poco::JSON::Object key;
            key.set("keyId", a.need("new-kmc"));
            key.set("diversification", a.get("diversification").value_or("VISA2"));
            body.set("newIsdKey", key);
            if (a.get("key-version")) body.set("keyVersion", number(a, "key-version", 127));
        }
        if (op == "confirm-keys") body.set("rotation", a.need("rotation"));
    } else if (command == "report-loss") {
        code = "se.loss-report";
        body.set("owner", a.need("owner"));
    } else if (command == "run") {
        if (auto given = a.get("body")) {
            try {
                Poco::JSON::Parser parser;
                auto parsed = parser.parse(*given).extract<Poco::JSON::Object::Ptr>();
                if (!parsed) throw std::runtime_error("not an object");
                for (const auto& [k, v] : *parsed) body.set(k, v);
            } catch (const std::exception&) {
                throw UsageError("--body: not a JSON object");
            }
        }
        code = a.need("action-code");
    } else {
        throw UsageError("unknown command '" + command + "' (wallet --help)");
    }
    body.set("actionCode", a.get("action-code").value_or(code));
    return json_text(body);
}

void print_result(const OperationResult& r, bool json) {
    if (json) {
        Poco::JSON::Object o, vars;
        if (!r.operation.empty()) o.set("operation", r.operation);
        o.set("outcome", r.outcome);
        for (const auto& [k, v] : r.variables) vars.set(k, v);
        o.set("variables", vars);
        o.set("apdus", r.apdus);
        o.set("retries", r.retries);
        std::cout << json_text(o) << "\n";
        return;
    }
    if (!r.operation.empty())
        std::cout << "operation " << r.operation << ": " << r.outcome << " (" << r.apdus
                  << " APDUs)\n";
    else
        std::cout << r.outcome << "\n";
    // The script's loadFile.* constants (catalogue facts) are the same for every run: --json
    // shows them, the text form only what the run produced or was given.
    for (const auto& [k, v] : r.variables)
        if (k.rfind("loadFile.", 0) != 0) std::cout << "  " << k << " = " << v << "\n";
}

int card_command(const Args& a, WalletCard& card) {
    const std::string sub = a.words.size() > 1 ? a.words[1] : "";
    if (sub == "atr") {
        std::cout << to_hex(card.atr()) << "\n";
        return kOk;
    }
    if (sub == "apdu") {
        if (a.words.size() < 3) throw UsageError("card apdu: give at least one APDU in hex");
        int rc = kOk;
        for (std::size_t i = 2; i < a.words.size(); ++i) {
            Bytes command;
            try {
                command = from_hex(a.words[i], "APDU");
            } catch (const std::exception& e) {
                throw UsageError(e.what());
            }
            const Bytes response = card.transmit(command);
            std::cout << to_hex(response) << "\n";
            if (response.size() < 2 || response[response.size() - 2] != 0x90) rc = kFailed;
        }
        return rc;
    }
    if (sub == "pay") {
        const std::string aid = hex_option(a, "aid", "A0000005591010FFFF");
        const auto amount = static_cast<std::uint32_t>(number(a, "amount", 0xFFFFFFFFu));
        const Bytes aid_bytes = from_hex(aid);
        Bytes select = {0x00, 0xA4, 0x04, 0x00, static_cast<std::uint8_t>(aid_bytes.size())};
        select.insert(select.end(), aid_bytes.begin(), aid_bytes.end());
        Bytes r = card.transmit(select);
        if (to_hex(r).substr(r.size() * 2 - 4) != "9000") {
            std::cerr << "wallet: SELECT of the purse answered " << to_hex(r) << "\n";
            return kFailed;
        }
        const Bytes debit = {0x80,
                             0x54,
                             0x00,
                             0x00,
                             0x04,
                             static_cast<std::uint8_t>(amount >> 24),
                             static_cast<std::uint8_t>(amount >> 16),
                             static_cast<std::uint8_t>(amount >> 8),
                             static_cast<std::uint8_t>(amount)};
        r = card.transmit(debit);
        const std::string sw = to_hex(r).substr(r.size() * 2 - 4);
        if (sw != "9000") {
            std::cerr << "wallet: DEBIT refused by the card: " << sw
                      << (sw == "6A84" ? " (balance too low)" : "") << "\n";
            return kFailed;
        }
        std::cout << "paid " << amount << "\n";
        return kOk;
    }
    throw UsageError("card: expected atr, apdu or pay");
}

int run(int argc, char** argv) {
    const Args a = parse(argc, argv);
    if (a.flag("help") || a.words.empty()) {
        std::cout << kUsageText;
        return a.words.empty() && !a.flag("help") ? kUsage : kOk;
    }
    const std::string command = a.words[0];
    const auto known = command_options().find(command);
    if (known == command_options().end())
        throw UsageError("unknown command '" + command + "' (wallet --help)");
    for (const auto& [name, value] : a.options) {
        const auto& own = known->second;
        if (std::find(own.begin(), own.end(), name) == own.end() &&
            std::find(kGlobalOptions.begin(), kGlobalOptions.end(), name) == kGlobalOptions.end())
            throw UsageError(command + ": unknown option --" + name + " (wallet --help)");
    }
    if (command == "readers") {
        for (const auto& name : pcsc_readers()) std::cout << name << "\n";
        return kOk;
    }
    // --reader wins over --card (and WALLET_READER over WALLET_CARD).
    const std::string reader = env_or(a, "reader", "WALLET_READER");
    const std::string card_address = reader.empty() ? env_or(a, "card", "WALLET_CARD") : "";
    std::unique_ptr<WalletCard> card;
    if (!reader.empty())
        card = std::make_unique<ReaderCard>(reader);
    else if (!card_address.empty())
        card = std::make_unique<TcpCard>(card_address);
    if (command == "card") {
        if (!card) throw UsageError("card: --card HOST:PORT or --reader NAME is required");
        return card_command(a, *card);
    }
    if (a.words.size() > (command == "card-op" ? 2 : 1))
        throw UsageError("unexpected argument '" + a.words.back() + "'");
    const std::string body = start_body(a, command);  // usage errors before anything is sent
    if (!card && command != "report-loss" && command != "run")
        throw UsageError(command + ": --card HOST:PORT or --reader NAME is required");

    FrontOptions options;
    options.url = env_or(a, "front", "WALLET_FRONT");
    if (options.url.empty()) throw UsageError("--front URL is required");
    if (auto ca = env_or(a, "ca", "WALLET_CA"); !ca.empty()) options.ca_file = ca;
    if (auto cert = env_or(a, "cert", "WALLET_CERT"); !cert.empty()) options.cert_file = cert;
    if (auto key = env_or(a, "key", "WALLET_KEY"); !key.empty()) options.key_file = key;
    if (a.get("timeout")) options.timeout_seconds = static_cast<int>(number(a, "timeout", 3600));
    FrontClient front(options);
    TraceFn trace;
    if (a.flag("verbose")) trace = [](const std::string& line) { std::cerr << line << "\n"; };
    const OperationResult result = run_operation(front, body, card.get(), trace);
    print_result(result, a.flag("json"));
    return result.outcome == "success" || result.outcome == "answered" ? kOk : kFailed;
}

}  // namespace

int main(int argc, char** argv) {
    kms::client::TlsLibrary tls;
    try {
        return run(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "wallet: " << e.what() << "\n";
        return kUsage;
    } catch (const FrontRefused& e) {
        std::cerr << "wallet: refused (" << e.status() << " " << e.code() << "): " << e.what()
                  << "\n";
        return e.status() >= 500 ? kServer : kRefused;
    } catch (const FrontUnreachable& e) {
        std::cerr << "wallet: " << e.what() << "\n";
        return kUnreachable;
    } catch (const kms::Error& e) {
        std::cerr << "wallet: card: " << e.what() << "\n";
        return kUnreachable;
    } catch (const std::exception& e) {
        std::cerr << "wallet: " << e.what() << "\n";
        return kUnreachable;
    }
}
