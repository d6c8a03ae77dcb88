// A tsmd test plugin built against plugin-api/tsm_plugin.h alone (no host code linked), to drive
// the host through every part of the ABI:
//   POST /echo            answers the body with the request's content type
//   GET  /whoami          {"instance config": the configuration JSON, "client": CN, "path"...}
//   PUT|GET|DELETE /kv/T/K   the instance's store (GET first with a 16-byte buffer, so values
//                            longer than that take the TSM_STORE_TOO_LARGE path)
//   GET  /silent          never answers (the host must answer 500)
//   GET  /twice           answers twice (the host keeps the first)
// For the front's tests (the body must be JSON; "servedBy" is this instance's configuration, so
// a test tells upstream processes apart):
//   POST /served          {"servedBy": config, "client": CN, "request": body}
//   POST /ops             201 {"operation": "op-N", "servedBy": config, "request": body}
//   any  /ops/ID[/REST]   200 {"operation": "ID", "servedBy": config, "method", "rest",
//                         "request": body or null}
//   POST /slow            counts the request, then answers 200 {} after 2.5 s
//   GET  /slow            {"hits": how many POST /slow arrived}
// ABI 2:
//   POST /count/K         adds 1 to the decimal counter K (table "counters") with
//                         store_compare_and_put, read-compute-retry until it is not a conflict:
//                         200 {"value": the new value, "conflicts": retries}
// create() refuses a configuration containing "refuse". Built twice: with ECHO_ABI_VERSION 3 it
// claims an ABI newer than the host's.
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "plugin-api/tsm_plugin.h"

#ifndef ECHO_ABI_VERSION
#define ECHO_ABI_VERSION TSM_PLUGIN_ABI_VERSION
#endif

namespace {

struct Echo {
    const tsm_host_api* host;
    std::string config;
    std::atomic<unsigned> operations{0};
    std::atomic<unsigned> slow_hits{0};
};

void answer(const tsm_host_api* h, tsm_response* r, int status, const std::string& body,
            const char* type = "application/json") {
    h->respond(r, status, type, body.data(), body.size());
}

/// The request body as JSON text to embed (the tests send JSON), or null.
std::string body(const tsm_request* req) {
    return req->body_size == 0 ? "null" : std::string(req->body, req->body_size);
}

void* create(const tsm_host_api* host, const char* config, char* error, size_t error_size) {
    if (std::strstr(config, "refuse") != nullptr) {
        std::snprintf(error, error_size, "echo: refused by configuration");
        return nullptr;
    }
    host->log(host->host, TSM_LOG_INFO, "echo: created");
    return new Echo{host, config};
}

void handle(void* instance, const tsm_request* req, tsm_response* r) {
    auto* e = static_cast<Echo*>(instance);
    const tsm_host_api* h = e->host;
    const std::string method = req->method, path = req->path;
    if (method == "POST" && path == "/echo") {
        answer(h, r, 200, std::string(req->body, req->body_size), req->content_type);
    } else if (method == "GET" && path == "/whoami") {
        answer(h, r, 200,
               "{\"config\":" + e->config + ",\"client\":\"" + req->client + "\",\"query\":\"" +
                   req->query + "\"}");
    } else if (path.rfind("/kv/", 0) == 0 && path.find('/', 4) != std::string::npos) {
        const std::size_t slash = path.find('/', 4);
        const std::string table = path.substr(4, slash - 4), key = path.substr(slash + 1);
        int rc = TSM_STORE_FAILED;
        if (method == "PUT") {
            rc = h->store_put(h->host, table.c_str(), key.c_str(), req->body, req->body_size);
            if (rc == TSM_STORE_OK) return answer(h, r, 204, "");
        } else if (method == "DELETE") {
            rc = h->store_delete(h->host, table.c_str(), key.c_str());
            if (rc == TSM_STORE_OK) return answer(h, r, 204, "");
        } else {
            std::vector<char> buffer(16);
            std::size_t size = buffer.size();
            rc = h->store_get(h->host, table.c_str(), key.c_str(), buffer.data(), &size);
            if (rc == TSM_STORE_TOO_LARGE) {
                buffer.resize(size);
                rc = h->store_get(h->host, table.c_str(), key.c_str(), buffer.data(), &size);
            }
            if (rc == TSM_STORE_OK)
                return answer(h, r, 200, std::string(buffer.data(), size),
                              "application/octet-stream");
        }
        answer(h, r,
               rc == TSM_STORE_NOT_FOUND ? 404
               : rc == TSM_STORE_INVALID ? 400
                                         : 503,
               "{\"store\":" + std::to_string(rc) + "}");
    } else if (method == "POST" && path.rfind("/count/", 0) == 0) {
        if (h->abi_version < 2) return answer(h, r, 501, "{\"error\":\"abi 1 host\"}");
        const std::string key = path.substr(7);
        for (int conflicts = 0; conflicts < 10000; ++conflicts) {
            char buffer[32];
            std::size_t size = sizeof buffer;
            const int got = h->store_get(h->host, "counters", key.c_str(), buffer, &size);
            if (got != TSM_STORE_OK && got != TSM_STORE_NOT_FOUND)
                return answer(h, r, 503, "{\"store\":" + std::to_string(got) + "}");
            const std::string current = got == TSM_STORE_OK ? std::string(buffer, size) : "";
            const std::string next =
                std::to_string((current.empty() ? 0 : std::stoll(current)) + 1);
            const int rc = h->store_compare_and_put(
                h->host, "counters", key.c_str(), current.data(), current.size(),
                got == TSM_STORE_NOT_FOUND, next.data(), next.size());
            if (rc == TSM_STORE_OK)
                return answer(
                    h, r, 200,
                    "{\"value\":" + next + ",\"conflicts\":" + std::to_string(conflicts) + "}");
            if (rc != TSM_STORE_CONFLICT)
                return answer(h, r, 503, "{\"store\":" + std::to_string(rc) + "}");
        }
        answer(h, r, 503, "{\"error\":\"too many conflicts\"}");
    } else if (method == "POST" && path == "/served") {
        answer(h, r, 200,
               "{\"servedBy\":" + e->config + ",\"client\":\"" + req->client +
                   "\",\"request\":" + body(req) + "}");
    } else if (path == "/slow") {
        if (method == "POST") {
            ++e->slow_hits;
            std::this_thread::sleep_for(std::chrono::milliseconds(2500));
            return answer(h, r, 200, "{}");
        }
        answer(h, r, 200, "{\"hits\":" + std::to_string(e->slow_hits.load()) + "}");
    } else if (method == "POST" && path == "/ops") {
        answer(h, r, 201,
               "{\"operation\":\"op-" + std::to_string(++e->operations) +
                   "\",\"servedBy\":" + e->config + ",\"request\":" + body(req) + "}");
    } else if (path.rfind("/ops/", 0) == 0) {
        const std::size_t slash = path.find('/', 5);
        const std::string id = path.substr(5, slash == std::string::npos ? slash : slash - 5);
        const std::string rest = slash == std::string::npos ? "" : path.substr(slash);
        answer(h, r, 200,
               "{\"operation\":\"" + id + "\",\"servedBy\":" + e->config + ",\"method\":\"" +
                   method + "\",\"rest\":\"" + rest + "\",\"request\":" + body(req) + "}");
    } else if (path == "/twice") {
        answer(h, r, 200, "{\"first\":true}");
        answer(h, r, 201, "{\"second\":true}");
    } else if (path == "/silent") {
        h->log(h->host, TSM_LOG_WARNING, "echo: not answering on purpose");
    } else {
        answer(h, r, 404, "{\"error\":\"not_found\",\"message\":\"echo has no " + path + "\"}");
    }
}

void destroy(void* instance) {
    delete static_cast<Echo*>(instance);
}

const tsm_plugin kEcho = {ECHO_ABI_VERSION, "echo", "1.0.0", create, handle, destroy};

}  // namespace

extern "C" __attribute__((visibility("default"))) const tsm_plugin* tsm_plugin_entry(
    uint32_t host_abi_version) {
    return host_abi_version >= 1 ? &kEcho : nullptr;
}
