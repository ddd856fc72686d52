#include "cli/commands.h"

#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/api.h"
#include "auth/check.h"
#include "auth/tokens.h"
#include "cli/object_sources.h"
#include "cli/refresher.h"
#include "cli/stream_reader.h"
#include "cli/reloader.h"
#include "config/project.h"
#include "engine/data_checks.h"
#include "engine/engine.h"
#include "engine/memory_limit.h"
#include "engine/result_rows.h"
#include "query/check.h"
#include "query/rollup.h"
#include "auth/http_client.h"
#include "core/metrics.h"
#include "core/periodic.h"
#include "core/trace.h"
#include "core/process_stats.h"
#include "server/server.h"

namespace sightline::cli {
namespace fs = std::filesystem;

namespace {

// Reads each source and model that is read at query time completely once (materialized ones
// were read whole by the build): a value that does not convert on row 3 million is a `check`
// error now, with its file, line and column, rather than a failed widget later. Adds the
// relations that fail to `broken`.
void read_live_relations(const config::Project& project, const engine::Engine& engine, std::vector<config::Diagnostic>& diags,
                         std::set<std::string>& broken, std::string& summary) {
  int64_t rows = 0;
  int relations = 0;
  auto read = [&](const std::string& name, const char* what, const config::Position& pos) {
    if (!engine.relation(name)) return;
    auto n = engine.read_completely(name);
    if (n) {
      rows += *n;
      ++relations;
      return;
    }
    broken.insert(name);
    std::string detail = n.error().for_author();
    diags.push_back({config::Diagnostic::Severity::Error, pos,
                     std::string(what) + " '" + name + "' cannot be read: " + engine::describe_read_error(detail, project.dir),
                     detail.find("converting column") != std::string::npos
                         ? "fix the value in the file, or declare the column's type differently under types:"
                         : ""});
  };
  for (const auto& s : project.sources)
    if (!s.materialize && s.format != config::SourceFormat::DuckDB) read(s.name, "source", s.pos);
  for (const auto& m : project.models)
    if (!m.materialize) read(m.name, "model", m.pos);
  if (relations)
    summary += "; read " + std::to_string(rows) + " rows of " + std::to_string(relations) + " source(s) and model(s) read at query time";
}

// "500ms", "2s", "1m" (a whole number and a unit) for an option named `what`.
std::optional<std::chrono::milliseconds> parse_cli_duration(const std::string& text, const char* what) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string unit = text.substr(digits);
  if (digits == 0 || digits > 9 || (unit != "ms" && unit != "s" && unit != "m")) {
    std::cerr << "error: " << what << " must be a duration such as 500ms, 2s or 1m, got '" << text.substr(0, 32) << "'\n";
    return std::nullopt;
  }
  int64_t n = std::stoll(text.substr(0, digits));
  return std::chrono::milliseconds(unit == "ms" ? n : unit == "s" ? n * 1000 : n * 60'000);
}

// Metrics of the process itself: memory, descriptors, start time and uptime, and what runs.
void register_process_metrics(metrics::Registry& registry) {
  auto one = [](std::optional<int64_t> v) {
    std::vector<metrics::Sample> out;
    if (v) out.push_back({{}, static_cast<double>(*v)});
    return out;
  };
  registry.gauge_function("process_resident_memory_bytes", "Resident memory of the process.", {}, [one] { return one(process_resident_bytes()); });
  registry.gauge_function("process_open_fds", "Open file descriptors.", {}, [one] { return one(process_open_fds()); });
  registry.gauge_function("process_max_fds", "The file descriptor limit.", {}, [one] { return one(process_max_fds()); });
  const double started_unix = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto started = std::chrono::steady_clock::now();
  registry.gauge_function("process_start_time_seconds", "When the process started, in seconds since the Unix epoch.", {},
                          [started_unix] { return std::vector<metrics::Sample>{{{}, std::floor(started_unix)}}; });
  registry.gauge_function("sightline_uptime_seconds", "Seconds since the server started.", {}, [started] {
    return std::vector<metrics::Sample>{{{}, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()}};
  });
  registry.gauge_function("sightline_build_info", "Always 1; the labels say which Sightline and DuckDB run.", {"version", "duckdb_version"},
                          [] { return std::vector<metrics::Sample>{{{SIGHTLINE_VERSION, engine::duckdb_version()}, 1}}; });
}

// `sightline check --data`: runs the checks of each source that loaded and whose rules are valid,
// one diagnostic per failing rule at the rule (its samples included: the author runs this), and
// adds what ran to `summary`.
void run_source_checks(const config::Project& project, const engine::Engine& engine, const std::set<std::string>& broken,
                       std::vector<config::Diagnostic>& diags, std::string& summary) {
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  size_t rules = 0, failing = 0;
  for (const auto& source : project.sources) {
    if (source.checks.empty() || broken.count(source.name) || !engine.relation(source.name)) continue;
    config::Project alone;
    alone.sources = {source};
    if (!engine::validate_checks(alone, engine).empty()) continue;  // reported with the other diagnostics
    for (const auto& r : engine::run_checks(engine, source, {.now_ms = now_ms}).results) {
      ++rules;
      if (r.passed) continue;
      ++failing;
      const auto severity =
          r.severity == config::CheckSeverity::Error ? config::Diagnostic::Severity::Error : config::Diagnostic::Severity::Warning;
      diags.push_back({severity, r.pos, "source '" + source.name + "': " + r.failure_text(/*samples=*/true), ""});
    }
  }
  summary += "; " + std::to_string(rules) + " data check(s) ran, " + std::to_string(failing) + " failing";
}

// A table of text as aligned columns (widths in code points, so accents and CJK line up as well
// as a terminal allows).
void print_table(std::ostream& out, const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  auto width = [](const std::string& s) { return std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }); };
  std::vector<long> widths;
  for (const auto& h : header) widths.push_back(width(h));
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max<long>(widths[i], width(row[i]));
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t i = 0; i < cells.size() && i < widths.size(); ++i)
      text += cells[i] + (i + 1 < cells.size() ? std::string(widths[i] - width(cells[i]) + 2, ' ') : "");
    out << text << "\n";
  };
  line(header);
  std::vector<std::string> rule;
  for (long w : widths) rule.push_back(std::string(w, '-'));
  line(rule);
  for (const auto& row : rows) line(row);
}

}  // namespace

int run_check(const std::string& dir, bool data) {
  auto loaded = config::load_project(dir, config::system_environment());
  std::vector<config::Diagnostic> diags = loaded.diagnostics;
  std::string summary;
  if (loaded.project) {
    // Object sources are checked on their objects: fetched into the project's state directory.
    std::ostringstream fetch_log;
    Logger quiet(fetch_log);
    quiet.hide(loaded.project->secret_values);
    auto fetched = fetch_object_sources(*loaded.project, objects_root(dir, {}), quiet);
    config::redact_secrets(fetched, loaded.project->secret_values);
    diags.insert(diags.end(), fetched.begin(), fetched.end());
    // Keep going past broken sources: the dashboards over the others are checked too.
    auto built = engine::Engine::build(*loaded.project, /*keep_going=*/true);
    diags.insert(diags.end(), built.diagnostics.begin(), built.diagnostics.end());
    name_copies_by_url(diags, *loaded.project);
    if (built.engine) {
      const engine::Engine& engine = *built.engine;
      std::set<std::string> broken;
      for (const auto& s : loaded.project->sources)
        if (!engine.relation(s.name)) broken.insert(s.name);
      for (const auto& m : loaded.project->models)
        if (!engine.relation(m.name)) broken.insert(m.name);
      std::string read_summary;
      read_live_relations(*loaded.project, engine, diags, broken, read_summary);
      // Dashboards over a broken relation would only repeat its error.
      config::Project checkable = *loaded.project;
      std::erase_if(checkable.dashboards, [&](const config::DashboardSpec& d) {
        if (broken.count(d.source)) return true;
        for (const auto& p : d.pages)
          for (const auto& w : p.widgets)
            if (broken.count(w.source)) return true;
        return false;
      });
      std::erase_if(checkable.policies, [&](const config::PolicySpec& p) { return broken.count(p.relation) > 0; });
      auto more = query::check_dashboards(checkable, engine);
      auto secured = auth::check_security(checkable, engine);
      more.insert(more.end(), secured.begin(), secured.end());
      auto rules = engine::validate_checks(*loaded.project, engine);
      more.insert(more.end(), rules.begin(), rules.end());
      config::redact_secrets(more, loaded.project->secret_values);
      diags.insert(diags.end(), more.begin(), more.end());
      size_t widgets = 0;
      for (const auto& d : loaded.project->dashboards)
        for (const auto& p : d.pages) widgets += p.widgets.size();
      summary = std::to_string(loaded.project->sources.size()) + " sources, " + std::to_string(loaded.project->models.size()) +
                " models, " + std::to_string(loaded.project->dashboards.size()) + " dashboards, " + std::to_string(widgets) + " widgets" +
                read_summary;
      if (data) run_source_checks(*loaded.project, engine, broken, diags, summary);
    }
  }
  config::redact_secrets(diags, loaded.project ? loaded.project->secret_values : std::vector<std::string>{});
  size_t errors = 0, warnings = 0;
  for (const auto& d : diags) {
    std::cerr << config::format_diagnostic(d) << "\n";
    (d.severity == config::Diagnostic::Severity::Error ? errors : warnings)++;
  }
  if (errors) {
    std::cerr << "check failed: " << errors << " error(s), " << warnings << " warning(s)\n";
    return 1;
  }
  std::cout << "ok: " << summary << (warnings ? ", " + std::to_string(warnings) + " warning(s)" : "") << "\n";
  return 0;
}

int run_profile(const std::string& dir, const std::string& source_name) {
  auto loaded = config::load_project(dir, config::system_environment());
  for (const auto& d : loaded.diagnostics)
    if (d.severity == config::Diagnostic::Severity::Error) std::cerr << config::format_diagnostic(d) << "\n";
  if (!loaded.project) {
    std::cerr << "error: the project has errors (sightline check " << dir << " lists them)\n";
    return 1;
  }
  config::Project project = *loaded.project;
  auto source = std::find_if(project.sources.begin(), project.sources.end(), [&](const auto& s) { return s.name == source_name; });
  if (source == project.sources.end()) {
    std::string names, best;
    for (const auto& s : project.sources) {
      names += (names.empty() ? "" : ", ") + s.name;
      if (config::edit_distance(source_name, s.name) <= 2) best = s.name;
    }
    std::cerr << "error: no source '" << source_name.substr(0, 64) << "' in " << dir << "/sightline.yaml\n"
              << "  hint: " << (best.empty() ? "its sources: " + names : "did you mean '" + best + "'?") << "\n";
    return 2;
  }
  // Only that source is loaded (in memory): nothing else is read, the state directory is untouched
  // (but for the copies of an object source's objects, which it reads).
  project.sources = {*source};
  if (source->object) {
    std::ostringstream fetch_log;
    Logger quiet(fetch_log);
    auto fetched = fetch_object_sources(project, objects_root(dir, {}), quiet, /*remove_unused=*/false);
    config::redact_secrets(fetched, project.secret_values);
    for (const auto& d : fetched) std::cerr << config::format_diagnostic(d) << "\n";
  }
  project.models.clear();
  project.dashboards.clear();
  project.policies.clear();
  auto built = engine::Engine::build(project);
  for (const auto& d : built.diagnostics)
    if (d.severity == config::Diagnostic::Severity::Error) std::cerr << config::format_diagnostic(d) << "\n";
  if (!built.engine) return 1;
  const std::string sql = "SUMMARIZE SELECT * FROM " + engine::quote_identifier(source_name);
  auto out = built.engine->pool().run<engine::QueryOutput>(built.engine->export_timeout(),
                                                           [&](engine::Connection& c) { return c.query(sql, 100'000); });
  auto rows = out ? engine::rows_of(*out) : Result<nlohmann::json>(fail(out.error()));
  if (!rows) {
    std::cerr << "error: source '" << source_name << "' could not be summarized: " << rows.error().for_author() << "\n";
    return 1;
  }
  std::vector<std::string> header;
  for (const auto& c : out->columns) header.push_back(c.name);
  std::vector<std::vector<std::string>> cells;
  for (const auto& row : *rows) {
    auto& line = cells.emplace_back();
    for (const auto& v : row) line.push_back(v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump());
  }
  print_table(std::cout, header, cells);
  return 0;
}

int run_demo_data(const demo::DemoDataOptions& options) {
  std::cerr << "writing " << options.rows << " demo rows to " << options.out_dir.string() << " ...\n";
  auto r = demo::generate_demo_data(options);
  if (!r) {
    std::cerr << "error: " << r.error().message << (r.error().hint.empty() ? "" : "\n  hint: " + r.error().hint) << "\n";
    return 1;
  }
  std::cout << "wrote " << r->rows << " rows in " << r->files << " Parquet files (" << r->first_date << " .. " << r->last_date << ") in "
            << r->seconds << " s\n";
  return 0;
}

int run_serve(const ServeOptions& options) {
  // Signals are handled by one thread that waits for them, so no handler touches state.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  Logger log(std::cerr);
  int port = 8501;
  if (options.port) {
    port = *options.port;
  } else if (const char* env_port = std::getenv("PORT"); env_port && *env_port) {
    std::string text = env_port;
    bool digits = text.size() <= 5 && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) {
      std::cerr << "error: $PORT must be a port number, got '" << text.substr(0, 32) << "'\n";
      return 2;
    }
    port = std::stoi(text);
  }
  if (port < 0 || port > 65535) {
    std::cerr << "error: the port must be between 0 and 65535\n";
    return 2;
  }

  // Options are checked before the project is loaded (which can take minutes).
  auto queue_timeout = parse_cli_duration(options.queue_timeout, "--queue-timeout");
  auto drain_delay = parse_cli_duration(options.drain_delay, "--drain-delay");
  auto shutdown_timeout = parse_cli_duration(options.shutdown_timeout, "--shutdown-timeout");
  if (!queue_timeout || !drain_delay || !shutdown_timeout) return 2;
  auto memory_guard = engine::parse_memory_guard(options.memory_guard, engine::usable_memory(engine::read_machine_memory()));
  if (!memory_guard) {
    std::cerr << "error: --memory-guard: " << memory_guard.error().message
              << (memory_guard.error().hint.empty() ? "" : "\n  hint: " + memory_guard.error().hint) << "\n";
    return 2;
  }
  if (!options.otlp_endpoint.empty() && !options.otlp_endpoint.starts_with("http://") && !options.otlp_endpoint.starts_with("https://")) {
    std::cerr << "error: --otlp-endpoint must be an http:// or https:// URL\n";
    return 2;
  }
  for (const auto& a : options.metrics_allow) {
    if (!api::valid_address_or_cidr(a)) {
      std::cerr << "error: --metrics-allow: '" << a.substr(0, 64) << "' is not an address or CIDR block\n";
      return 2;
    }
  }
  // Serve at once; rollups are built in the background and swapped in when ready.
  auto loaded_at = std::filesystem::file_time_type::clock::now();
  const std::filesystem::path state_dir = options.no_state            ? std::filesystem::path()
                                          : options.state_dir.empty() ? std::filesystem::absolute(options.dir) / ".sightline" / "state"
                                                                      : std::filesystem::absolute(options.state_dir);
  auto first = load_snapshot(options.dir, nullptr, 1, log, false, state_dir);
  if (first.snapshot) {
    auto marked = std::make_shared<api::Snapshot>(*first.snapshot);
    marked->rollups_enabled = !options.no_rollups;
    // Pending from the first request on: /readyz must not report the rollups ready in the moment
    // between listening and the background build taking over.
    marked->rollups_pending = !options.no_rollups;
    first.snapshot = std::move(marked);
  }
  for (const auto& d : first.diagnostics) {
    log.warn("config", {{"diagnostic", config::format_diagnostic(d)}});
    std::cerr << config::format_diagnostic(d) << "\n";
  }
  if (!first.snapshot) {
    std::cerr << "error: the project has errors; fix them and start again (sightline check " << options.dir << " lists them)\n";
    return 1;
  }
  {
    // Without sign-in, only this machine may connect, unless the project says otherwise.
    const auto& auth = first.snapshot->project.auth;
    const std::string& h = options.host;
    bool loopback = h == "localhost" || h == "::1" || h.starts_with("127.");
    if (!auth.enabled()) {
      if (!loopback && !auth.allow_remote) {
        std::cerr
            << "error: auth mode is none (no sign-in), so Sightline serves loopback only, not " << h << "\n"
            << "  hint: configure auth (docs/security.md), or set auth: { mode: none, allow_remote: true } to serve everyone all data\n";
        return 1;
      }
      std::cerr << "WARNING: sign-in is off (auth mode none): everyone who can reach this server sees every row"
                << (loopback ? " (serving loopback only)" : " — and it is serving beyond loopback") << "\n";
      log.warn("auth_disabled", {{"host", h}, {"allow_remote", auth.allow_remote}});
    } else {
      log.info("auth", {{"mode", config::auth_mode_name(auth.mode)},
                        {"roles", first.snapshot->project.roles.size()},
                        {"policies", first.snapshot->project.policies.size()}});
    }
  }
  // Declared before the server and the API, which record into it, so it outlives both.
  metrics::Registry registry;
  register_process_metrics(registry);
  auto& rollup_build_seconds =
      registry.gauge("sightline_rollup_build_seconds", "Duration of the last background rollup build (at start), in seconds.").with({});
  auto& rollup_builds = registry.counter("sightline_rollup_builds_total", "Background rollup builds finished (at start).", {"result"});

  api::SnapshotHolder holder;
  holder.set(first.snapshot);
  {
    const auto& engine = *first.snapshot->engine;
    log.info("project_loaded", {{"project", first.snapshot->project.name},
                                {"dashboards", first.snapshot->project.dashboards.size()},
                                {"load_seconds", engine.load_seconds()},
                                {"state", engine.state_file().empty() ? "memory" : "file"},
                                {"reused", engine.reused_relations()},
                                {"clustered_by", engine.clustered()}});
  }

  query::QueryService service(static_cast<size_t>(options.cache_mb) << 20, log);
  api::Api api(holder, service, log);
  // Freshness per source, from what answers were last served with (api/source_board.h).
  registry.gauge_function("sightline_source_data_age_seconds", "Age of the data of each source last served (now minus its as-of time).",
                          {"source"}, [&api, &holder] {
                            std::vector<metrics::Sample> out;
                            auto snap = holder.get();
                            if (!snap) return out;
                            const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
                            for (const auto& s : snap->project.sources)
                              if (auto v = api.sources().last_version(s.name); v && v->as_of_ms > 0)
                                out.push_back({{s.name}, now - v->as_of_ms / 1000.0});
                            return out;
                          });
  registry.gauge_function("sightline_source_refresh_failing", "1 while the last refresh of a source failed (the last good data serves).",
                          {"source"}, [&api, &holder] {
                            std::vector<metrics::Sample> out;
                            auto snap = holder.get();
                            if (!snap) return out;
                            const auto failing = api.sources().failing();
                            for (const auto& s : snap->project.sources)
                              out.push_back({{s.name}, std::find(failing.begin(), failing.end(), s.name) != failing.end() ? 1.0 : 0.0});
                            return out;
                          });
  // Downloads are spooled in $TMPDIR, beside DuckDB's spill files: bounded so they cannot fill it.
  auto spool_budget = std::make_shared<SpoolBudget>([&]() -> uint64_t {
    if (options.spool_mb > 0) return static_cast<uint64_t>(options.spool_mb) << 20;
    std::error_code ec;
    auto space = std::filesystem::space(api::Api::default_spool_dir(), ec);
    return ec ? uint64_t{1} << 30 : std::max<uint64_t>(space.available / 2, uint64_t{64} << 20);
  }());
  api.set_spool_budget(spool_budget);
  registry.gauge_function("sightline_download_spool_bytes", "Bytes that downloads being prepared or sent hold in spool files.", {},
                          [spool_budget] { return std::vector<metrics::Sample>{{{}, static_cast<double>(spool_budget->used())}}; });
  // Tracing, when an endpoint is given: spans leave through one background thread.
  std::unique_ptr<Tracer> tracer;
  std::shared_ptr<auth::HttpClient> trace_client;
  if (!options.otlp_endpoint.empty()) {
    trace_client = auth::make_curl_http_client(std::chrono::seconds(5), 64 * 1024);
    auto warned = std::make_shared<std::atomic<bool>>(false);
    const bool json = options.otlp_protocol == "http/json";
    tracer = std::make_unique<Tracer>(
        Tracer::Options{.sample_ratio = options.trace_sample,
                        .service_version = SIGHTLINE_VERSION,
                        .encoding = json ? Tracer::Options::Encoding::Json : Tracer::Options::Encoding::Protobuf},
        [client = trace_client, url = options.otlp_endpoint, warned, &log,
         type = std::string(json ? "application/json" : "application/x-protobuf")](const std::string& body) {
          auto r = client->post_body(url, body, type);
          bool ok = r && r->status >= 200 && r->status < 300;
          // Said once, not per batch: a collector that is down must not flood the log.
          if (!ok && !warned->exchange(true))
            log.warn("trace_export_failed", {{"reason", r ? "HTTP " + std::to_string(r->status) : r.error().message}});
          return ok;
        });
    api.enable_tracing(tracer.get());
    Tracer* t = tracer.get();
    registry.counter_function("sightline_trace_spans_exported_total", "Spans sent to the trace collector.", {},
                              [t] { return std::vector<metrics::Sample>{{{}, static_cast<double>(t->exported())}}; });
    registry.counter_function("sightline_trace_spans_dropped_total",
                              "Spans not sent: the export queue was full, or the collector refused or could not be reached.", {},
                              [t] { return std::vector<metrics::Sample>{{{}, static_cast<double>(t->dropped() + t->failed())}}; });
    // Scheme, host and port only: never credentials written into the URL (user:password@).
    std::string shown = options.otlp_endpoint.substr(0, options.otlp_endpoint.find('/', 8));
    if (size_t at = shown.find('@'); at != std::string::npos) shown = shown.substr(0, shown.find("//") + 2) + shown.substr(at + 1);
    log.info("tracing", {{"endpoint_host", shown},
                         {"protocol", options.otlp_protocol},
                         {"sample", options.trace_sample},
                         {"trust_traceparent", options.trust_traceparent}});
  }
  {
    std::vector<std::string> allow = options.metrics_allow;
    // Metrics name the project's dashboards and widgets: with sign-in on, the main port serves
    // them to this machine and private networks only, unless the operator says otherwise.
    if (allow.empty() && first.snapshot->project.auth.enabled() && options.metrics_port < 0)
      allow = {"127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"};
    api.enable_metrics(registry, allow, options.metrics_port < 0);
  }
  server::ServerOptions so;
  so.host = options.host;
  so.port = static_cast<uint16_t>(port);
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  so.worker_threads = options.threads > 0 ? options.threads : static_cast<int>(std::max(4u, 2 * cores));
  so.io_threads = 1;
  so.max_body_bytes = api::kMaxBodyBytes;
  so.tls_cert_file = options.tls_cert;
  so.tls_key_file = options.tls_key;
  // Queries are CPU-bound and DuckDB runs each on every core: more busy at once than cores adds
  // no throughput (bench/load.mjs: the same completed queries per second with 1, 2 or 4 at once
  // on 2 cores). But a request often waits for another's work (a state's subset being made, the
  // same statement running): with one slot per core, such waiters left cores idle while cheap
  // widgets queued. Twice the cores: rides at 10M rows, the sum of interactions ~8 % lower.
  so.heavy_workers = static_cast<int>(std::max(4u, 2 * cores));
  so.max_queued = static_cast<size_t>(options.max_queued);
  so.queue_timeout = *queue_timeout;
  so.shutdown_timeout = *shutdown_timeout;
  so.metrics = &registry;
  so.tracer = tracer.get();
  so.trust_traceparent = options.trust_traceparent;
  so.memory_guard_bytes = *memory_guard;
  so.resident_bytes = [] { return process_resident_bytes(); };
  log.info("memory_guard", {{"bytes", *memory_guard}});
  auto srv = server::Server::start(so,
                                   server::Handlers{[&api](const api::HttpRequest& r) { return api.handle(r); },
                                                    [&api](const api::HttpRequest& r) { return api.handle_inline(r); },
                                                    [](const api::HttpRequest& r) { return api::Api::is_heavy(r); }},
                                   log);
  if (!srv) {
    std::cerr << "error: " << srv.error().message << (srv.error().hint.empty() ? "" : "\n  hint: " + srv.error().hint) << "\n";
    return 1;
  }
  uint16_t bound = (*srv)->port();
  std::string shown_host = options.host == "0.0.0.0" || options.host == "::" ? "localhost"
                           : options.host.find(':') != std::string::npos     ? "[" + options.host + "]"
                                                                             : options.host;
  std::cout << "Sightline is serving " << first.snapshot->project.name << " at " << (options.tls_cert.empty() ? "http" : "https") << "://"
            << shown_host << ":" << bound << "/" << std::endl;
  log.info("listening", {{"host", options.host}, {"port", bound}});
  // /metrics on its own port: nothing else is served there.
  std::unique_ptr<server::Server> metrics_server;
  if (options.metrics_port >= 0) {
    server::ServerOptions mo;
    mo.host = options.host;
    mo.port = static_cast<uint16_t>(options.metrics_port);
    mo.worker_threads = 1;
    mo.heavy_workers = 1;
    auto only_metrics = [&api](const api::HttpRequest& r) -> std::optional<api::HttpResponse> { return api.metrics_response(r); };
    auto started_metrics = server::Server::start(
        mo, server::Handlers{[&api](const api::HttpRequest& r) { return *api.metrics_response(r); }, only_metrics, nullptr}, log);
    if (!started_metrics) {
      std::cerr << "error: " << started_metrics.error().message << "\n";
      (*srv)->stop();
      return 1;
    }
    metrics_server = std::move(*started_metrics);
    std::cout << "Metrics at http://" << shown_host << ":" << metrics_server->port() << "/metrics" << std::endl;
    log.info("metrics_listening", {{"host", options.host}, {"port", metrics_server->port()}});
  }

  // In the background, once serving: read the sources whose values convert at query time
  // completely (a bad value is found now, not by a viewer), then build the rollups.
  std::thread rollup_builder;
  {
    bool rollups = !options.no_rollups;
    auto pending = std::make_shared<api::Snapshot>(*first.snapshot);
    pending->rollups_pending = rollups;
    auto progress = std::make_shared<query::BuildProgress>();
    pending->rollup_progress = progress;
    std::shared_ptr<const api::Snapshot> serving = pending;
    holder.set(serving);
    rollup_builder = std::thread([&holder, &log, serving, rollups, progress, &rollup_build_seconds, &rollup_builds] {
      auto started = std::chrono::steady_clock::now();
      auto ready = std::make_shared<api::Snapshot>(*serving);
      ready->unreadable_sources = find_unreadable_sources(*serving->engine, log);
      if (rollups) ready->rollups = query::Rollups::build(serving->planning_project(), serving->engine, log, nullptr, {.progress = progress.get()});
      ready->rollups_pending = false;
      ready->rollup_progress.reset();
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      bool swapped = holder.replace_if(serving, ready);
      if (rollups) {
        log.info("rollups_ready", {{"rollups", ready->rollups->all().size()}, {"seconds", secs}, {"applied", swapped}});
        rollup_build_seconds.set(secs);
        rollup_builds.with({swapped ? "applied" : "superseded"}).inc();
      }
      // The first requests then find the tables' blocks in memory, also after a start that took
      // everything from the state file.
      warm_new_engine(*serving->engine, log);
    });
  }
  // DuckDB's memory for /metrics, sampled here: its query can wait behind the engine, and
  // /metrics is answered on the I/O thread. The first sample is taken before anyone can ask.
  first.snapshot->engine->sample_memory();
  PeriodicTask memory_sampler(std::chrono::seconds(5), [&holder] {
    if (auto snap = holder.get(); snap && snap->engine) snap->engine->sample_memory();
  });
  const std::string& h = options.host;
  bool beyond_loopback = !(h == "localhost" || h == "::1" || h.starts_with("127."));
  // Refresh policies run on the reloader's thread (one engine build at a time); under
  // --no-reload it watches no project file and only refreshes.
  Refresher refresher({.dir = options.dir, .rollups = !options.no_rollups, .state_dir = state_dir, .now_ms = nullptr}, holder,
                      api.sources(), log, &registry);
  auto reloader = std::make_unique<Reloader>(options.dir, holder, log, std::chrono::milliseconds(1000), !options.no_rollups,
                                             beyond_loopback, loaded_at, state_dir, &refresher, !options.no_reload);
  api.sources().on_request([r = reloader.get()] { r->wake(); });
  // Sources that read a Redis stream: a reader thread each (cli/stream_reader.h).
  auto streams = std::make_unique<StreamReaders>(holder, api.sources(), log);
  streams->start();

  std::thread signal_waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    log.info("shutdown", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    // Readiness turns 503 at once, so load balancers stop sending; new requests are still
    // served for the drain delay (while they notice); then the server stops accepting and lets
    // what is in flight finish (up to --shutdown-timeout).
    api.set_draining();
    if (drain_delay->count() > 0) std::this_thread::sleep_for(*drain_delay);
    (*srv)->stop();
  });
  (*srv)->wait();
  if (metrics_server) metrics_server->stop();
  api.sources().on_request(nullptr);
  streams.reset();
  reloader.reset();
  if (rollup_builder.joinable()) {
    // Requests are answered by now: stop building rollups rather than wait for it.
    first.snapshot->engine->pool().close();
    rollup_builder.join();
  }
  // The waiter is blocked in sigwait only if stop() came from elsewhere; wake it to exit.
  pthread_kill(signal_waiter.native_handle(), SIGTERM);
  signal_waiter.join();
  if (state_dir.empty()) {
    // Rows received without a state directory lived in this process only.
    std::error_code ec;
    std::filesystem::remove_all(engine::temporary_ingest_root(), ec);
  }
  return 0;
}

}  // namespace sightline::cli

namespace sightline::cli {

int run_token(const TokenOptions& o) {
  auto loaded = config::load_project(std::filesystem::absolute(o.dir), config::system_environment());
  for (const auto& d : loaded.diagnostics)
    if (d.severity == config::Diagnostic::Severity::Error) std::cerr << config::format_diagnostic(d) << "\n";
  if (!loaded.project) {
    std::cerr << "error: the project has errors; the tokens file is named by its sightline.yaml\n";
    return 1;
  }
  const auto& project = *loaded.project;
  auth::TokenFile file(project.dir / project.auth.tokens_file, [] { return std::chrono::system_clock::now(); });
  auto when = [](std::chrono::system_clock::time_point t) { return format_utc(t).substr(0, 19) + "Z"; };
  if (o.action == "create") {
    for (const auto& role : o.roles) {
      bool defined = std::any_of(project.roles.begin(), project.roles.end(), [&](const auto& r) { return r.name == role; });
      if (!defined) {
        std::cerr << "error: unknown role '" << role << "'; define it under roles: in sightline.yaml\n";
        return 2;
      }
    }
    auto lifetime = auth::parse_lifetime(o.expires);
    if (!lifetime) {
      std::cerr << "error: " << lifetime.error().message << "\n";
      return 2;
    }
    auto made = file.create(o.name, o.subject, o.roles, *lifetime);
    if (!made) {
      std::cerr << "error: " << made.error().message << "\n";
      return 1;
    }
    std::cerr << "Created token " << made->record.id << " for '" << o.subject << "' (expires " << when(made->record.expires)
              << "). It is shown once; only its hash is kept.\n";
    std::cout << made->token << std::endl;
    return 0;
  }
  if (o.action == "list") {
    auto records = file.list();
    if (!records) {
      std::cerr << "error: " << records.error().message << "\n";
      return 1;
    }
    auto now = std::chrono::system_clock::now();
    std::cout << "id            subject              roles                expires               status   name\n";
    for (const auto& r : *records) {
      std::string roles;
      for (const auto& role : r.roles) roles += (roles.empty() ? "" : ",") + role;
      std::string status = r.revoked ? "revoked" : now >= r.expires ? "expired" : "active";
      std::printf("%-13s %-20s %-20s %-21s %-8s %s\n", r.id.c_str(), r.subject.c_str(), roles.c_str(), when(r.expires).c_str(),
                  status.c_str(), r.name.c_str());
    }
    return 0;
  }
  if (o.action == "revoke") {
    auto r = file.revoke(o.id);
    if (!r) {
      std::cerr << "error: " << r.error().message << "\n";
      return r.error().kind == ErrorKind::NotFound ? 2 : 1;
    }
    std::cout << "revoked " << r->id << " (" << r->subject << ")\n";
    return 0;
  }
  return 2;
}

}  // namespace sightline::cli
