// The sources API (docs/api.md, docs/freshness.md):
//   GET  /api/v1/sources                 the sources the caller may know of, with their data
//                                        versions and refresh status
//   GET  /api/v1/sources/{name}          one of them
//   POST /api/v1/sources/{name}/refresh  ask for a refresh (roles in the source's refresh.roles;
//                                        everyone with auth none): 202, done in the background
//   POST /api/v1/sources/{name}/rows     a batch of rows for a source with `ingest:` (roles in its
//                                        ingest.roles; everyone with auth none), CSV or NDJSON,
//                                        checked against its columns and appended atomically:
//                                        200 once committed (engine/ingest_writer.h,
//                                        engine/append_store.h)
// plus the data version of widget answers and of dashboards.
//
// Who sees what: a source is listed to a caller who may refresh it or who may see a dashboard
// over it (a source no visible dashboard reads does not exist for them: 404, as for a wrong
// name). Row counts and the reason a refresh failed (an engine's words: a file name, a value) go
// only to those who may refresh the source.
//
// Data checks (engine/data_checks.h): "checks" lists each rule's last result on the serving data
// ({rule, severity, passed, failing, ran_at}; `failing` counts rows for rules over rows, findings
// for row_count, freshness and schema) and "checks_failing" counts the failing rules by severity.
// Their sample values, details (data) and positions in the YAML go only to those who may refresh
// the source, as the reason of a failed refresh does.
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "api/api.h"
#include "api/appending.h"
#include "auth/crypto.h"
#include "auth/policies.h"
#include "engine/ingest_writer.h"

namespace sightline::api {
namespace {

using nlohmann::json;


HttpResponse json_response(const json& j, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

json time_or_null(int64_t ms) {
  return ms > 0 ? json(utc_time_text(ms)) : json(nullptr);
}

bool may_refresh(const config::SourceSpec& source, const config::Project& project, const auth::User& user) {
  if (!project.auth.enabled()) return true;
  if (!source.refresh) return false;
  for (const auto& role : source.refresh->roles)
    if (std::find(user.roles.begin(), user.roles.end(), role) != user.roles.end()) return true;
  return false;
}

bool may_ingest(const config::SourceSpec& source, const config::Project& project, const auth::User& user) {
  if (!source.ingest) return false;
  if (!project.auth.enabled()) return true;
  for (const auto& role : source.ingest->roles)
    if (std::find(user.roles.begin(), user.roles.end(), role) != user.roles.end()) return true;
  return false;
}

bool may_know(const config::SourceSpec& source, const config::Project& project, const auth::User& user) {
  if (may_refresh(source, project, user) || may_ingest(source, project, user)) return true;
  return std::any_of(project.dashboards.begin(), project.dashboards.end(),
                     [&](const config::DashboardSpec& d) { return d.source == source.name && auth::can_see(d.roles, user); });
}

const config::SourceSpec* find_source(const config::Project& project, std::string_view name) {
  for (const auto& s : project.sources)
    if (s.name == name) return &s;
  return nullptr;
}

json policy_json(const config::SourceSpec& source) {
  const auto& spec = source.refresh;
  if (!spec) return nullptr;
  json j = json::object();
  if (spec->every_ms) j["every_seconds"] = *spec->every_ms / 1000.0;
  if (!spec->cron.empty()) j["cron"] = spec->cron;
  if (spec->on_change) {
    j["on_change"] = true;
    j["debounce_seconds"] = spec->debounce_ms / 1000.0;
    if (source.object) j["poll_seconds"] = spec->poll_ms / 1000.0;
  }
  return j;
}

json checks_json(const Snapshot& snap, const std::string& source, bool operator_view) {
  json list = json::array();
  json failing = {{"error", 0}, {"warn", 0}};
  auto found = snap.checks.find(source);
  if (found == snap.checks.end()) return {{"checks", list}, {"checks_failing", failing}};
  for (const auto& r : found->second.results) {
    json j = {{"rule", r.rule},
              {"severity", engine::check_severity_name(r.severity)},
              {"passed", r.passed},
              {"failing", r.failing},
              {"ran_at", time_or_null(r.ran_at_ms)}};
    if (operator_view) {
      j["samples"] = r.samples;
      if (!r.detail.empty()) j["detail"] = r.detail;
      j["at"] = r.pos.file + ":" + std::to_string(r.pos.line) + ":" + std::to_string(r.pos.column);
    }
    list.push_back(std::move(j));
  }
  failing["error"] = found->second.failing(config::CheckSeverity::Error);
  failing["warn"] = found->second.failing(config::CheckSeverity::Warn);
  return {{"checks", list}, {"checks_failing", failing}};
}

DataVersion version_of(SourceBoard& board, const engine::Engine& engine, const engine::DataVersions& versions, const std::string& relation) {
  return board.version(relation, versions.of(relation), [&] { return engine.freshness(relation).as_of_ms; });
}

json source_json(SourceBoard& board, const Snapshot& snap, const engine::DataVersions& versions, const config::SourceSpec& source,
                 const auth::User& user) {
  const engine::Engine& engine = *snap.engine;
  const bool operator_view = may_refresh(source, snap.project, user);
  const DataVersion v = version_of(board, engine, versions, source.name);
  const auto files = engine.source_files(source.name);
  const RefreshStatus r = board.status(source.name);
  json refresh = {{"policy", policy_json(source)},
                  {"can_refresh", operator_view},
                  {"last_check", time_or_null(r.last_check_ms)},
                  {"last_outcome", r.last_outcome ? json(refresh_outcome_name(*r.last_outcome)) : json(nullptr)},
                  {"last_success", time_or_null(r.last_success_ms)},
                  {"failing", r.last_outcome == RefreshOutcome::Failed},
                  {"failing_since", time_or_null(r.failing_since_ms)},
                  {"next_check", r.next_check_ms ? time_or_null(*r.next_check_ms) : json(nullptr)},
                  {"running", r.running},
                  {"requested", r.requested},
                  {"checks", {{"refreshed", r.refreshed}, {"unchanged", r.unchanged}, {"failed", r.failed}}}};
  if (operator_view && !r.last_error.empty()) refresh["last_error"] = r.last_error;
  json j = {{"name", source.name},
            {"read", files && files->read_at_load ? "at_load" : "at_query_time"},
            {"mode", source.receives_rows() ? source.receiver_key() : source.appends() ? "append" : "replace"},
            {"version", v.token()},
            {"version_number", v.number},
            {"as_of", time_or_null(v.as_of_ms)},
            {"refresh", refresh}};
  if (source.object)
    if (const auto* store = snap.project.find_object_store(source.object->store))
      j["stored_in"] = {{"type", store->kind == config::ObjectStoreKind::S3 ? "s3" : "azure"}, {"store", store->name}};
  if (operator_view)
    if (auto rows = engine.freshness(source.name).rows) j["rows"] = *rows;
  j.update(checks_json(snap, source.name, operator_view));
  return j;
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A name for a batch received at `now_ms`: sorts by arrival; a random part keeps batches of one
// millisecond apart (base64url: letters, digits, - and _).
std::string batch_file_name(int64_t now_ms) {
  char time[32];
  std::snprintf(time, sizeof time, "%015lld", static_cast<long long>(now_ms));
  return std::string(time) + "-" + auth::random_token(9) + ".parquet";
}

}  // namespace

Result<HttpResponse> Api::ingest_rows(const HttpRequest& req, const Snapshot& snap, const config::SourceSpec& source, const auth::User& user) {
  if (req.method != "POST") return method_not_allowed(req, "POST");
  if (!source.ingest)
    return fail(ErrorKind::Conflict,
                "source '" + source.name + "' " + (source.redis ? "reads a Redis stream" : source.mqtt ? "reads an MQTT topic" : "reads files") + "; it does not receive rows",
                "rows can be sent to sources declared with ingest: and columns:");
  if (!may_ingest(source, snap.project, user))
    return fail(ErrorKind::Forbidden, "you may not send rows to source '" + source.name + "'",
                "the roles listed in its ingest.roles may; ask an administrator");
  const auto format = engine::ingest_format_of(req.header("content-type"));
  if (!format)
    return fail(ErrorKind::UnsupportedMediaType,
                "rows are read as text/csv (with a header line), application/x-ndjson or application/vnd.apache.arrow.stream",
                "set Content-Type to text/csv, application/x-ndjson or application/vnd.apache.arrow.stream");
  const std::filesystem::path folder = snap.engine->ingest_folder(source.name);
  if (folder.empty()) return fail(ErrorKind::Unavailable, "source '" + source.name + "' is not loaded", "try again in a moment");
  const int64_t now_ms = wall_ms();
  // With an Idempotency-Key, a batch sent again (the answer to the first try was lost) lands in
  // the same file and so replaces the rows of the first try instead of adding them twice.
  const std::string key = req.header("idempotency-key");
  if (!key.empty() && (key.size() > 128 || key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:") !=
                                               std::string::npos))
    return fail(ErrorKind::InvalidInput, "the Idempotency-Key header must be 1 to 128 letters, digits or - _ . :");
  const std::filesystem::path target =
      folder / (key.empty() ? batch_file_name(now_ms) : "key-" + auth::sha256_hex(source.name + "\n" + key).substr(0, 40) + ".parquet");
  auto received = append_received_batch(snap, source, req.body, *format, target, now_ms, sources_, log_);
  if (!received) return fail(received.error());
  if (!received->outcome.error.empty()) {
    const bool refused = received->refused;
    return fail(Error{refused ? ErrorKind::InvalidInput : ErrorKind::SourceFailed,
                      refused ? "the batch was refused: " + received->refusal : "the batch could not be appended",
                      refused ? "" : "the server log has details", received->outcome.error});
  }
  const DataVersion v = version_of(sources_, *snap.engine, snap.engine->data_versions(), source.name);
  const int64_t rows = received->rows;
  if (snap.project.auth.enabled()) gate_.audit("ingest", req, &user, {{"source", source.name}, {"rows", rows}});
  log_.info("rows_received", {{"source", source.name}, {"rows", rows}, {"user", user.identity.subject}, {"request_id", req.request_id}});
  return json_response({{"source", source.name}, {"rows", rows}, {"version", v.token()}, {"as_of", time_or_null(v.as_of_ms)}});
}

std::pair<std::string, DataVersion> Api::widget_data_version(const Snapshot& snap, const query::QueryContext& ctx,
                                                             const config::DashboardSpec& dash, const config::WidgetSpec& widget) {
  const engine::Relation* rel = query::widget_relation(dash, widget, *snap.engine);
  std::string name = rel ? rel->name : dash.source;
  DataVersion v = version_of(sources_, *snap.engine, ctx.versions, name);
  return {std::move(name), v};
}

// The "data" block of a dashboard's description: its relation's version and whether a source
// it may read is failing to refresh.
json dashboard_data_json(SourceBoard& board, const Snapshot& snap, const config::DashboardSpec& dash, const auth::User& user) {
  const engine::DataVersions versions = snap.engine->data_versions();
  const DataVersion v = version_of(board, *snap.engine, versions, dash.source);
  const config::SourceSpec* source = find_source(snap.project, dash.source);
  bool failing = false;
  for (const auto& name : board.failing())
    if (!source || name == source->name) failing = true;  // a model may read any source
  return {{"relation", dash.source},
          {"version", v.token()},
          {"as_of", time_or_null(v.as_of_ms)},
          {"refresh_failing", failing},
          {"can_refresh", source != nullptr && may_refresh(*source, snap.project, user)}};
}

Result<HttpResponse> Api::sources_route(const HttpRequest& req, const std::vector<std::string>& seg, const Snapshot& snap,
                                        const auth::User& user) {
  // seg: api v1 sources [name [refresh]]
  const bool get = req.method == "GET" || req.method == "HEAD";
  const auto& project = snap.project;
  if (seg.size() == 3) {
    if (!get) return method_not_allowed(req, "GET");
    const engine::DataVersions versions = snap.engine->data_versions();
    json list = json::array();
    for (const auto& s : project.sources)
      if (may_know(s, project, user)) list.push_back(source_json(sources_, snap, versions, s, user));
    return json_response({{"sources", list}});
  }
  const config::SourceSpec* source = find_source(project, seg[3]);
  if (!source || !may_know(*source, project, user)) return fail(ErrorKind::NotFound, "no source '" + seg[3].substr(0, 64) + "'", "see /api/v1/sources");
  if (seg.size() == 4) {
    if (!get) return method_not_allowed(req, "GET");
    return json_response(source_json(sources_, snap, snap.engine->data_versions(), *source, user));
  }
  if (seg.size() == 5 && seg[4] == "rows") return ingest_rows(req, snap, *source, user);
  if (seg.size() != 5 || seg[4] != "refresh") return fail(ErrorKind::NotFound, "no such API endpoint", "see docs/api.md");
  if (req.method != "POST") return method_not_allowed(req, "POST");
  if (!may_refresh(*source, project, user))
    return fail(ErrorKind::Forbidden, "you may not refresh source '" + source->name + "'",
                "the roles listed in its refresh.roles may; ask an administrator");
  sources_.request(source->name);
  if (project.auth.enabled()) gate_.audit("refresh", req, &user, {{"source", source->name}});
  log_.info("source_refresh_requested", {{"source", source->name}, {"user", user.identity.subject}, {"request_id", req.request_id}});
  auto r = json_response(source_json(sources_, snap, snap.engine->data_versions(), *source, user), 202);
  r.headers.emplace_back("Location", "/api/v1/sources/" + source->name);
  return r;
}

}  // namespace sightline::api
