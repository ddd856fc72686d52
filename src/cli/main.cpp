// sightline: serve, check, profile, token and demo-data subcommands.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <iostream>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "config/project.h"
#include "engine/duckdb.h"

namespace {

// CLI11 answers a command it does not know with "A subcommand is required". Name the command and
// list the real ones instead; the exit code when argv names a command that does not exist.
std::optional<int> refuse_unknown_command(const CLI::App& app, int argc, char** argv) {
  const CLI::App* level = &app;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto commands = level->get_subcommands([](const CLI::App*) { return true; });
    // Options, and the arguments of a command without subcommands, are CLI11's to parse.
    if (arg.empty() || arg[0] == '-' || commands.empty()) return std::nullopt;
    auto known = std::find_if(commands.begin(), commands.end(), [&](const CLI::App* c) { return c->get_name() == arg; });
    path += (path.empty() ? "" : " ") + arg;
    if (known != commands.end()) {
      level = *known;
      continue;
    }
    std::cerr << "error: unknown command '" << path << "'\n";
    for (const CLI::App* c : commands)
      if (sightline::config::edit_distance(arg, c->get_name()) <= 2) std::cerr << "  hint: did you mean '" << c->get_name() << "'?\n";
    std::cerr << "commands:\n";
    for (const CLI::App* c : commands) {
      std::string name = c->get_name();
      std::cerr << "  " << name << std::string(name.size() < 12 ? 12 - name.size() : 1, ' ') << c->get_description() << "\n";
    }
    std::cerr << "Run with --help for more information.\n";
    return 2;
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sightline::cli;
  CLI::App app{"Sightline: dashboards as code over embedded DuckDB, served as one fast binary."};
  app.set_version_flag("--version",
                       std::string("sightline ") + SIGHTLINE_VERSION + " (DuckDB " + sightline::engine::duckdb_version() + ")");
  app.require_subcommand(1);

  ServeOptions serve;
  auto* serve_cmd = app.add_subcommand("serve", "Serve a project folder over HTTP");
  serve_cmd->add_option("dir", serve.dir, "Project folder (holds sightline.yaml)")->required()->check(CLI::ExistingDirectory);
  serve_cmd->add_option("--port,-p", serve.port, "Port to listen on; 0 picks a free one (default: $PORT, else 8501)");
  serve_cmd->add_option("--host", serve.host, "Address to bind")->capture_default_str();
  serve_cmd->add_option("--threads", serve.threads, "Concurrent request handlers (default: 2 x cores, at least 4)");
  serve_cmd->add_option("--cache-mb", serve.cache_mb, "Result cache size in MiB")->capture_default_str()->check(CLI::Range(0, 1 << 20));
  serve_cmd->add_option("--spool-mb", serve.spool_mb,
                        "Most MiB that downloads being prepared or sent may hold in $TMPDIR at once (0: half its disk's free space at start)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  serve_cmd->add_flag("--no-reload", serve.no_reload, "Do not watch the project files for changes");
  serve_cmd->add_flag("--no-rollups", serve.no_rollups, "Do not pre-aggregate (every query reads the sources)");
  auto* state_dir = serve_cmd->add_option("--state-dir", serve.state_dir,
                                          "Where to keep loaded sources and pre-aggregates between starts (default: DIR/.sightline/state)");
  auto* no_state = serve_cmd->add_flag("--no-state", serve.no_state, "Keep everything in memory: every start loads all sources again");
  state_dir->excludes(no_state);
  auto* tls_cert =
      serve_cmd->add_option("--tls-cert", serve.tls_cert, "Serve HTTPS with this PEM certificate chain")->check(CLI::ExistingFile);
  auto* tls_key = serve_cmd->add_option("--tls-key", serve.tls_key, "The PEM private key for --tls-cert")->check(CLI::ExistingFile);
  tls_cert->needs(tls_key);
  tls_key->needs(tls_cert);
  serve_cmd->add_option("--metrics-port", serve.metrics_port, "Serve /metrics on this port instead of the main one (0: any free port)")
      ->check(CLI::Range(0, 65535));
  serve_cmd->add_option("--metrics-allow", serve.metrics_allow,
                        "Addresses or CIDR blocks that may read /metrics, comma-separated (default: anyone; with sign-in on and no "
                        "--metrics-port, loopback and private networks)")
      ->delimiter(',');
  serve_cmd->add_option("--max-queued", serve.max_queued, "Queries waiting for the engine beyond which new ones are answered 503 at once")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  serve_cmd->add_option("--queue-timeout", serve.queue_timeout, "A query that waited this long for the engine is answered 503")
      ->capture_default_str();
  serve_cmd->add_option("--memory-guard", serve.memory_guard,
                        "Shed queries (503) while the process's resident memory is above this: a share of the machine's or "
                        "container's memory (90%), a size (12GiB), or off")
      ->capture_default_str();
  serve_cmd->add_option("--otlp-endpoint", serve.otlp_endpoint,
                        "Export traces over OTLP/HTTP to this URL (e.g. http://collector:4318/v1/traces)");
  serve_cmd->add_option("--otlp-protocol", serve.otlp_protocol, "How traces are encoded: http/protobuf (OTLP's default) or http/json")
      ->capture_default_str()
      ->check(CLI::IsMember({"http/protobuf", "http/json"}));
  serve_cmd->add_option("--trace-sample", serve.trace_sample, "Share of new traces recorded, 0 to 1")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  serve_cmd->add_flag("--trust-traceparent", serve.trust_traceparent,
                      "Continue the trace of a caller's W3C traceparent header (only behind a proxy or caller you trust)");
  serve_cmd->add_option("--drain-delay", serve.drain_delay,
                        "On SIGTERM: how long /readyz says 503 while new requests are still served, before the server stops accepting")
      ->capture_default_str();
  serve_cmd->add_option("--shutdown-timeout", serve.shutdown_timeout,
                        "On SIGTERM: how long requests in flight may take before they are interrupted (answered 503)")
      ->capture_default_str();

  std::string check_dir;
  bool check_data = false;
  auto* check_cmd = app.add_subcommand("check", "Validate a project without serving it (exit 0 when clean)");
  check_cmd->add_option("dir", check_dir, "Project folder")->required();
  check_cmd->add_flag("--data", check_data, "Also run every source's data checks (checks:); exit 1 when an error rule fails");

  sightline::demo::DemoDataOptions demo;
  std::string demo_out;
  auto* demo_cmd = app.add_subcommand("demo-data", "Write the deterministic demo sales data set (hive-partitioned Parquet)");
  demo_cmd->add_option("--rows", demo.rows, "Number of order rows")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{2'000'000'000}));
  demo_cmd->add_option("--out", demo_out, "Output folder (e.g. examples/sales/data)")->required();
  demo_cmd->add_option("--seed", demo.seed, "Random seed")->capture_default_str();
  demo_cmd->add_option("--threads", demo.threads, "DuckDB threads (default: all cores)");

  TokenOptions token;
  auto* token_cmd = app.add_subcommand("token", "Create, list and revoke API tokens (Authorization: Bearer)");
  token_cmd->require_subcommand(1);
  auto* token_create = token_cmd->add_subcommand("create", "Create a token; prints it once");
  token_create->add_option("dir", token.dir, "Project folder")->required()->check(CLI::ExistingDirectory);
  token_create->add_option("--subject", token.subject, "The identity the token acts as (e.g. etl-bot)")->required();
  token_create->add_option("--name", token.name, "What the token is for");
  token_create->add_option("--roles", token.roles, "Roles it carries (comma-separated)")->delimiter(',');
  token_create->add_option("--expires", token.expires, "Lifetime, e.g. 90d, 12h, 30m")->capture_default_str();
  auto* token_list = token_cmd->add_subcommand("list", "List tokens (never the tokens themselves)");
  token_list->add_option("dir", token.dir, "Project folder")->required()->check(CLI::ExistingDirectory);
  auto* token_revoke = token_cmd->add_subcommand("revoke", "Revoke a token by id; effective on the next request");
  token_revoke->add_option("dir", token.dir, "Project folder")->required()->check(CLI::ExistingDirectory);
  token_revoke->add_option("id", token.id, "Token id from `token list`")->required();

  std::string profile_dir, profile_source;
  auto* profile_cmd = app.add_subcommand("profile", "Summarize a source's columns (DuckDB's SUMMARIZE) as a table");
  profile_cmd->add_option("dir", profile_dir, "Project folder")->required();
  profile_cmd->add_option("source", profile_source, "The source to summarize")->required();

  if (auto code = refuse_unknown_command(app, argc, argv)) return *code;
  if (argc == 1) {  // no command: say which there are, as a usage error
    std::cerr << app.help() << "\nerror: name a command: serve, check, token or demo-data\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*serve_cmd) return run_serve(serve);
  if (*check_cmd) return run_check(check_dir, check_data);
  if (*profile_cmd) return run_profile(profile_dir, profile_source);
  if (*token_cmd) {
    token.action = *token_create ? "create" : *token_list ? "list" : "revoke";
    return run_token(token);
  }
  if (*demo_cmd) {
    demo.out_dir = demo_out;
    return run_demo_data(demo);
  }
  return 2;
}
