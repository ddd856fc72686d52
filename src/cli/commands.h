// The subcommands behind main(). Each returns the process exit code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "demo/demo_data.h"

namespace sightline::cli {

struct ServeOptions {
  std::string dir;
  std::optional<int> port;  // unset: $PORT, else 8501
  std::string host = "127.0.0.1";
  int threads = 0;
  int cache_mb = 256;
  int64_t spool_mb = 0;  // downloads' spool files at once; 0: half the free space of $TMPDIR's disk at start
  bool no_reload = false;
  bool no_rollups = false;
  // Where the engine keeps its database (engine/state_dir.h); empty: DIR/.sightline/state.
  std::string state_dir;
  bool no_state = false;  // keep everything in memory; load every source at each start
  std::string tls_cert;  // PEM certificate chain: serve HTTPS natively
  std::string tls_key;   // PEM private key
  // Operations (docs/operations.md): where /metrics is served and to whom; the admission queue;
  // shutdown. Durations as "500ms", "2s", "1m".
  int metrics_port = -1;                  // -1: /metrics on the main port
  std::vector<std::string> metrics_allow;  // CIDR blocks or addresses; empty: see run_serve
  int max_queued = 64;
  std::string queue_timeout = "10s";
  std::string drain_delay = "0s";
  std::string shutdown_timeout = "30s";
  std::string memory_guard = "90%";
  // Tracing: OTLP/HTTP to this URL (e.g. http://collector:4318/v1/traces); empty: off.
  std::string otlp_endpoint;
  std::string otlp_protocol = "http/protobuf";  // or http/json
  double trace_sample = 1.0;       // share of new traces recorded
  bool trust_traceparent = false;  // continue callers' W3C traceparent  // of the machine's or container's memory; a size; "off"
};

// `sightline token create|list|revoke DIR ...`: API tokens in the project's tokens file.
struct TokenOptions {
  std::string action;  // create | list | revoke
  std::string dir;
  std::string name;
  std::string subject;
  std::vector<std::string> roles;
  std::string expires = "90d";
  std::string id;  // revoke
};

int run_serve(const ServeOptions& options);
int run_token(const TokenOptions& options);
// `sightline check DIR [--data]`: with `data`, also runs every source's data checks (exit 1 when
// an error rule fails).
int run_check(const std::string& dir, bool data = false);
// `sightline profile DIR SOURCE`: DuckDB's SUMMARIZE of one source, as an aligned table.
int run_profile(const std::string& dir, const std::string& source);
int run_demo_data(const demo::DemoDataOptions& options);

}  // namespace sightline::cli
