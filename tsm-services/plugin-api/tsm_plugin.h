/* The tsmd plugin ABI, version 2: how tsmd (tsm-services/host) loads a TSM plugin (front,
 * se-tsm, sp-tsm) from a shared library and hands it HTTPS requests. Plain C: no C++ class,
 * exception, allocator or standard-library type crosses the boundary, so a plugin may be built
 * by another compiler or language.
 *
 * Life of a plugin instance:
 *   1. tsmd dlopen()s the library and calls tsm_plugin_entry(TSM_PLUGIN_ABI_VERSION). The
 *      plugin returns its descriptor, or NULL when it cannot serve that ABI version.
 *   2. For each configured instance tsmd calls create() with the host's function table and the
 *      instance's configuration (JSON text: its name, KMS settings with its own client
 *      certificate, and the plugin's own settings). One library can have several instances.
 *   3. handle() is called for every HTTPS request under /<instance name>/..., concurrently from
 *      several threads: it must be thread-safe. It answers through host->respond() exactly once.
 *   4. destroy() when tsmd stops; no call is in flight then.
 *
 * Memory: every pointer tsmd passes is valid only during the call; the plugin copies what it
 * keeps. Every buffer the plugin passes is copied by tsmd before the call returns. Strings are
 * NUL-terminated UTF-8 unless a size is given.
 *
 * Compatibility: a later ABI version only appends members to tsm_host_api and tsm_plugin and
 * says so in `abi_version`; a plugin built for version N runs on hosts >= N. */
#ifndef TSM_PLUGIN_H
#define TSM_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TSM_PLUGIN_ABI_VERSION 2u

/* Log levels for tsm_host_api.log. */
enum tsm_log_level { TSM_LOG_DEBUG = 0, TSM_LOG_INFO = 1, TSM_LOG_WARNING = 2, TSM_LOG_ERROR = 3 };

/* Results of the store calls. */
enum tsm_store_result {
    TSM_STORE_OK = 0,
    TSM_STORE_NOT_FOUND = 1,
    TSM_STORE_TOO_LARGE = 2, /* the value does not fit the caller's buffer: see *size */
    TSM_STORE_INVALID = 3,   /* bad table or key (empty, too long, not printable ASCII) */
    TSM_STORE_FAILED = 4,    /* the store could not read or write durably */
    TSM_STORE_CONFLICT = 5   /* ABI 2, store_compare_and_put: the value is not the expected one */
};

/* One HTTPS request, as the plugin sees it. */
typedef struct tsm_request {
    const char* method;  /* "GET", "POST", "PUT", "DELETE" */
    const char* path;    /* after the instance prefix, starting with '/', e.g. "/topup" */
    const char* query;   /* raw query string without '?', "" when none */
    const char* body;    /* not NUL-terminated; body_size bytes */
    size_t body_size;
    const char* content_type; /* "" when none */
    const char* client;       /* who called: the client certificate's CN, or "" */
    const char* request_id;   /* unique per request, for logs */
} tsm_request;

/* Opaque: the answer being built for one request. */
typedef struct tsm_response tsm_response;

/* What tsmd offers a plugin instance. `host` is passed back as the first argument. */
typedef struct tsm_host_api {
    uint32_t abi_version; /* the host's, >= the plugin's */
    void* host;

    /* Writes one line to tsmd's log, prefixed with the instance name. */
    void (*log)(void* host, int level, const char* message);

    /* Answers the request: status, content type (e.g. "application/json") and body. Must be
     * called exactly once per handle(); a second call is ignored and logged. */
    void (*respond)(tsm_response* response, int status, const char* content_type,
                    const char* body, size_t body_size);

    /* The instance's durable key-value store in tsmd's LMDB environment, separate from every
     * other instance's. Tables and keys: 1..200 printable ASCII characters. Each put or delete
     * is committed durably before the call returns. */
    int (*store_put)(void* host, const char* table, const char* key, const void* value,
                     size_t value_size);
    /* Copies the value into buffer (capacity *size) and sets *size to its length; with
     * TSM_STORE_TOO_LARGE only *size is set (call again with a larger buffer). */
    int (*store_get)(void* host, const char* table, const char* key, void* buffer, size_t* size);
    int (*store_delete)(void* host, const char* table, const char* key);

    /* ---- ABI 2 (use only when abi_version >= 2) ---- */

    /* Writes value under key only if the key's current value is exactly `expected`
     * (expected_size bytes), or, with expect_absent non-zero, only if the key has no value;
     * atomically with respect to every other write of every tsmd process sharing the store, and
     * durably before the call returns. TSM_STORE_CONFLICT when the value differs (nothing is
     * written: read it again, recompute, retry). This is how a plugin updates a shared record
     * (a counter, an index) from several tsmd processes without losing an update. */
    int (*store_compare_and_put)(void* host, const char* table, const char* key,
                                 const void* expected, size_t expected_size, int expect_absent,
                                 const void* value, size_t value_size);
} tsm_host_api;

/* What a plugin library exports through tsm_plugin_entry. */
typedef struct tsm_plugin {
    uint32_t abi_version; /* TSM_PLUGIN_ABI_VERSION the plugin was built with */
    const char* name;     /* e.g. "sp-tsm" */
    const char* version;  /* the plugin's own version, e.g. "0.1.0" */

    /* Creates an instance; returns NULL on failure after writing a message into error
     * (capacity error_size, NUL-terminated). */
    void* (*create)(const tsm_host_api* host, const char* config_json, char* error,
                    size_t error_size);
    /* Handles one request; must call host->respond() once before returning. */
    void (*handle)(void* instance, const tsm_request* request, tsm_response* response);
    void (*destroy)(void* instance);
} tsm_plugin;

/* The one symbol a plugin library exports. */
typedef const tsm_plugin* (*tsm_plugin_entry_fn)(uint32_t host_abi_version);
#define TSM_PLUGIN_ENTRY_SYMBOL "tsm_plugin_entry"

#ifdef __cplusplus
}
#endif

#endif /* TSM_PLUGIN_H */
