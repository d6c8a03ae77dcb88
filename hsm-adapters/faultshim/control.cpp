// Parsing of the fault shim's control file and its name tables (see control.hpp).
#include "faultshim/control.hpp"

#include <charconv>
#include <cstdio>

namespace kms::hsm::faultshim {

namespace {

constexpr std::string_view kFunctionNames[] = {
#define KMS_FAULTSHIM_NAME(f) #f,
    KMS_FAULTSHIM_FUNCTIONS(KMS_FAULTSHIM_NAME)
#undef KMS_FAULTSHIM_NAME
};
static_assert(std::size(kFunctionNames) == kFunctionCount);

struct Named {
    unsigned long value;
    std::string_view name;
};

// PKCS#11 v2.40 §5.1: the return values a fault test or a vendor quirk is likely to need.
// Anything else is written as a number.
constexpr Named kRvNames[] = {
    {CKR_OK, "CKR_OK"},
    {CKR_HOST_MEMORY, "CKR_HOST_MEMORY"},
    {CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID"},
    {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"},
    {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED"},
    {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"},
    {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"},
    {CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY"},
    {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED"},
    {CKR_FUNCTION_CANCELED, "CKR_FUNCTION_CANCELED"},
    {CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED"},
    {CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID"},
    {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"},
    {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID"},
    {CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE"},
    {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
    {CKR_PIN_LOCKED, "CKR_PIN_LOCKED"},
    {CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED"},
    {CKR_SESSION_COUNT, "CKR_SESSION_COUNT"},
    {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"},
    {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"},
    {CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED"},
    {CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN"},
    {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"},
    {CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"},
    {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED"},
};

// PKCS#11 v2.40 §2 (Mechanisms): the mechanisms kmsd uses or a profile decides on.
constexpr Named kMechanismNames[] = {
    {CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN"},
    {CKM_RSA_PKCS, "CKM_RSA_PKCS"},
    {CKM_RSA_X_509, "CKM_RSA_X_509"},
    {CKM_RSA_PKCS_OAEP, "CKM_RSA_PKCS_OAEP"},
    {CKM_SHA256_RSA_PKCS, "CKM_SHA256_RSA_PKCS"},
    {CKM_SHA256_RSA_PKCS_PSS, "CKM_SHA256_RSA_PKCS_PSS"},
    {CKM_DES3_KEY_GEN, "CKM_DES3_KEY_GEN"},
    {CKM_DES3_ECB, "CKM_DES3_ECB"},
    {CKM_DES3_CBC, "CKM_DES3_CBC"},
    {CKM_DES3_CMAC, "CKM_DES3_CMAC"},
    {CKM_SHA256, "CKM_SHA256"},
    {CKM_SHA256_HMAC, "CKM_SHA256_HMAC"},
    {CKM_GENERIC_SECRET_KEY_GEN, "CKM_GENERIC_SECRET_KEY_GEN"},
    {CKM_DES3_ECB_ENCRYPT_DATA, "CKM_DES3_ECB_ENCRYPT_DATA"},
    {CKM_DES3_CBC_ENCRYPT_DATA, "CKM_DES3_CBC_ENCRYPT_DATA"},
    {CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"},
    {CKM_ECDSA, "CKM_ECDSA"},
    {CKM_ECDSA_SHA256, "CKM_ECDSA_SHA256"},
    {CKM_ECDSA_SHA384, "CKM_ECDSA_SHA384"},
    {CKM_AES_KEY_GEN, "CKM_AES_KEY_GEN"},
    {CKM_AES_ECB, "CKM_AES_ECB"},
    {CKM_AES_CBC, "CKM_AES_CBC"},
    {CKM_AES_CBC_PAD, "CKM_AES_CBC_PAD"},
    {CKM_AES_GCM, "CKM_AES_GCM"},
    {CKM_AES_CMAC, "CKM_AES_CMAC"},
    {CKM_AES_KEY_WRAP, "CKM_AES_KEY_WRAP"},
    {CKM_AES_KEY_WRAP_PAD, "CKM_AES_KEY_WRAP_PAD"},
    {CKM_AES_KEY_WRAP_KWP, "CKM_AES_KEY_WRAP_KWP"},
};

std::optional<unsigned long> parse_number(std::string_view t) noexcept {
    int base = 10;
    if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
        t.remove_prefix(2);
        base = 16;
    }
    unsigned long v = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v, base);
    if (ec != std::errc() || end != t.data() + t.size()) return std::nullopt;
    return v;
}

template <std::size_t N>
std::optional<unsigned long> parse_named(std::string_view t, const Named (&table)[N]) noexcept {
    for (const auto& e : table)
        if (e.name == t) return e.value;
    return parse_number(t);
}

std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) words.push_back(line.substr(start, i - start));
    }
    return words;
}

/// "*" or a function name; false (and an error) for anything else.
bool parse_target_function(std::string_view word, std::optional<Fn>& out, std::string& error) {
    if (word == "*") {
        out.reset();
        return true;
    }
    out = function_by_name(word);
    if (!out) error = "unknown function '" + std::string(word) + "'";
    return out.has_value();
}

}  // namespace

std::string_view function_name(Fn f) noexcept {
    const auto i = static_cast<std::size_t>(f);
    return i < kFunctionCount ? kFunctionNames[i] : std::string_view("?");
}

std::optional<Fn> function_by_name(std::string_view name) noexcept {
    for (std::size_t i = 0; i < kFunctionCount; ++i)
        if (kFunctionNames[i] == name) return static_cast<Fn>(i);
    return std::nullopt;
}

std::string ckr_label(CK_RV rv) {
    for (const auto& e : kRvNames)
        if (e.value == rv) return std::string(e.name);
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%lX", static_cast<unsigned long>(rv));
    return buf;
}

std::optional<CK_RV> parse_ckr(std::string_view text) noexcept {
    return parse_named(text, kRvNames);
}

std::optional<CK_MECHANISM_TYPE> parse_ckm(std::string_view text) noexcept {
    return parse_named(text, kMechanismNames);
}

Control parse_control(std::string_view text, std::vector<std::string>& errors) {
    Control c;
    std::size_t line_no = 0;
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        ++line_no;
        if (const auto hash = line.find('#'); hash != std::string_view::npos)
            line = line.substr(0, hash);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const auto w = split_words(line);
        if (w.empty()) continue;

        std::string error;
        const std::string_view verb = w[0];
        if (verb == "target" && w.size() == 2) {
            c.target = std::string(w[1]);
        } else if (verb == "fail" && w.size() >= 3) {
            FailRule r;
            if (!parse_target_function(w[1], r.function, error)) {
            } else if (const auto rv = parse_ckr(w[2]); !rv) {
                error = "unknown CKR '" + std::string(w[2]) + "'";
            } else {
                r.rv = *rv;
                for (std::size_t i = 3; i < w.size() && error.empty(); ++i) {
                    const auto eq = w[i].find('=');
                    const auto key = w[i].substr(0, eq);
                    const auto n = eq == std::string_view::npos ? std::nullopt
                                                                : parse_number(w[i].substr(eq + 1));
                    if (n && key == "count" && *n > 0)
                        r.count = *n;
                    else if (n && key == "after")
                        r.after = *n;
                    else
                        error = "bad option '" + std::string(w[i]) + "' (count=N>0, after=N)";
                }
                if (error.empty()) c.fails.push_back(r);
            }
        } else if (verb == "delay" && w.size() == 3) {
            DelayRule d;
            const auto ms = parse_number(w[2]);
            if (!parse_target_function(w[1], d.function, error)) {
            } else if (!ms || *ms > 60000) {
                error = "delay must be 0..60000 ms, not '" + std::string(w[2]) + "'";
            } else {
                d.milliseconds = static_cast<unsigned>(*ms);
                c.delays.push_back(d);
            }
        } else if (verb == "remove" && w.size() == 1) {
            c.removed = true;
        } else if (verb == "reset" && w.size() == 1) {
            c.reset = true;
        } else if (verb == "clear" && w.size() == 1) {
            const std::string target = c.target;  // the target is not a fault
            c = Control{};
            c.target = target;
        } else if (verb == "hide" && w.size() == 2) {
            if (const auto m = parse_ckm(w[1]))
                c.hidden.push_back(*m);
            else
                error = "unknown CKM '" + std::string(w[1]) + "'";
        } else if (verb == "unsupported" && w.size() == 2) {
            FailRule r;
            if (parse_target_function(w[1], r.function, error) && r.function) {
                r.rv = CKR_FUNCTION_NOT_SUPPORTED;
                r.quirk = true;
                c.fails.push_back(r);
            } else if (error.empty()) {
                error = "unsupported needs one function, not '*'";
            }
        } else if (verb == "login-already-logged-in" && w.size() == 1) {
            c.login_already_logged_in = true;
        } else if (verb == "manufacturer" && w.size() >= 2) {
            // The rest of the line, words joined by one space (CK_INFO pads it to 32 bytes).
            std::string m;
            for (std::size_t i = 1; i < w.size(); ++i) {
                if (i > 1) m += ' ';
                m += w[i];
            }
            c.manufacturer = m;
        } else {
            error = "cannot parse '" + std::string(line) + "'";
        }
        if (!error.empty()) errors.push_back("line " + std::to_string(line_no) + ": " + error);
    }
    return c;
}

}  // namespace kms::hsm::faultshim
