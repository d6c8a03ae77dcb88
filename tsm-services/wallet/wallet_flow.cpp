// The wallet's conversation with the front: start, relay APDUs, retry lost answers.
#include "wallet_flow.hpp"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <sstream>
#include <stdexcept>

#include "client/https_connection.hpp"

namespace kms::tsm::wallet {

namespace {

Poco::JSON::Object::Ptr parse_object(const std::string& text, const std::string& what) {
    try {
        Poco::JSON::Parser parser;
        auto value = parser.parse(text);
        auto object = value.extract<Poco::JSON::Object::Ptr>();
        if (object) return object;
    } catch (const std::exception&) {
    }
    throw std::runtime_error(what + ": the answer is not a JSON object: " + text.substr(0, 200));
}

std::string text_of(const Poco::Dynamic::Var& v) {
    if (v.isString()) return v.extract<std::string>();
    return v.convert<std::string>();
}

}  // namespace

struct FrontClient::Impl {
    client::HttpsConnection connection;
    explicit Impl(const client::HttpsEndpoint& e) : connection(e) {}
};

FrontClient::FrontClient(const FrontOptions& options) : m_max_retries(options.retries) {
    client::HttpsEndpoint endpoint;
    try {
        client::parse_https_url(options.url, endpoint);
    } catch (const std::invalid_argument& e) {
        throw FrontUnreachable(std::string("--front: ") + e.what());
    }
    endpoint.ca_file = options.ca_file;
    endpoint.cert_file = options.cert_file;
    endpoint.key_file = options.key_file;
    endpoint.timeout_seconds = options.timeout_seconds;
    try {
        m_impl = std::make_unique<Impl>(endpoint);
    } catch (const client::TransportError& e) {
        throw FrontUnreachable(e.what());
    }
}

FrontClient::~FrontClient() = default;

std::string FrontClient::post(const std::string& target, const std::string& body, bool idempotent) {
    client::HttpCall call;
    call.method = "POST";
    call.target = target;
    call.body = body;
    call.user_agent = "kms-wallet/0.1";
    for (int attempt = 0;; ++attempt) {
        client::HttpAnswer answer;
        try {
            answer = m_impl->connection.send(call);
        } catch (const client::TransportError& e) {
            const bool may_resend = idempotent || !e.request_sent();
            if (!may_resend || attempt >= m_max_retries ||
                e.kind() == client::TransportError::Kind::Setup)
                throw FrontUnreachable(std::string("the front did not answer: ") + e.what());
            ++m_retries;
            continue;
        }
        if (answer.status >= 400) {
            std::string code = "http_" + std::to_string(answer.status);
            std::string message = answer.body;
            try {
                auto error = parse_object(answer.body, "error");
                if (error->has("error")) code = error->getValue<std::string>("error");
                if (error->has("message")) message = error->getValue<std::string>("message");
            } catch (const std::exception&) {
            }
            throw FrontRefused(answer.status, code, message);
        }
        return answer.body;
    }
}

std::string FrontClient::start(const std::string& body) {
    return post("/actions", body, false);
}

std::string FrontClient::respond(const std::string& operation, std::uint64_t seq,
                                 ByteView response) {
    std::ostringstream body;
    body << "{\"seq\":" << seq << ",\"response\":\"" << to_hex(response) << "\"}";
    return post("/operations/" + operation + "/responses", body.str(), true);
}

OperationResult run_operation(FrontClient& front, const std::string& start_body, CardPort* card,
                              const TraceFn& trace) {
    OperationResult result;
    auto answer = parse_object(front.start(start_body), "start");
    if (!answer->has("action")) {
        // Not a conversation (a loss report, a registration): the answer is the result.
        result.outcome = "answered";
        for (const auto& [name, value] : *answer) {
            if (value.isString() || value.isNumeric() || value.isBoolean())
                result.variables[name] = text_of(value);
        }
        return result;
    }
    if (!answer->has("operation")) throw std::runtime_error("start: the answer has no operation");
    result.operation = answer->getValue<std::string>("operation");
    for (;;) {
        auto action = answer->getObject("action");
        if (!action || !action->has("kind"))
            throw std::runtime_error("the TSM's answer has no action kind");
        const std::string kind = action->getValue<std::string>("kind");
        if (kind == "done") {
            result.outcome = action->optValue<std::string>("outcome", "");
            if (auto vars = action->getObject("variables")) {
                for (const auto& [name, value] : *vars) result.variables[name] = text_of(value);
            }
            result.retries = front.retries();
            return result;
        }
        if (kind != "apdu") throw std::runtime_error("unknown action kind '" + kind + "'");
        if (card == nullptr)
            throw std::runtime_error("the TSM asks for a card APDU but no card was given (--card)");
        const std::uint64_t seq = answer->getValue<std::uint64_t>("seq");
        const Bytes command = from_hex(action->getValue<std::string>("apdu"));
        const Bytes response = card->transmit(command);
        ++result.apdus;
        if (trace) trace("-> " + to_hex(command) + "\n<- " + to_hex(response));
        answer = parse_object(front.respond(result.operation, seq, response), "response");
    }
}

}  // namespace kms::tsm::wallet
