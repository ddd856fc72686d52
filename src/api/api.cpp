#include "api/api.h"

#include <strings.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "api/placeholder_page.h"
#include "arrow/batch_writer.h"
#include "arrow/csv_writer.h"
#include "arrow/ipc_writer.h"
#include "arrow/json_writer.h"
#include "query/planner.h"
#include "web/static_files.h"

namespace sightline::api {
using nlohmann::json;

int http_status(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidInput:
      return 400;
    case ErrorKind::Unauthenticated:
      return 401;
    case ErrorKind::NotFound:
      return 404;
    case ErrorKind::Forbidden:
      return 403;
    case ErrorKind::Conflict:
      return 409;
    case ErrorKind::TooLarge:
      return 413;
    case ErrorKind::UnsupportedMediaType:
      return 415;
    case ErrorKind::TooManyRequests:
      return 429;
    case ErrorKind::Cancelled:
      return 499;
    case ErrorKind::Timeout:
      return 504;
    case ErrorKind::Unavailable:
      return 503;
    case ErrorKind::SourceFailed:
      return 502;
    case ErrorKind::Internal:
      return 500;
  }
  return 500;
}

namespace {

const char* status_title(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 499:
      return "Client Closed Request";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

HttpResponse json_response(const json& j, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = dump(j);
  return r;
}

// Decodes %XX and (in query strings) '+'. Fails on malformed escapes.
Result<std::string> url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) || !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
        return fail(ErrorKind::InvalidInput, "malformed percent-encoding in the URL");
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

// A request's path segments and query parameters, decoded.
struct Target {
  std::vector<std::string> segments;
  std::vector<std::pair<std::string, std::string>> query;
  std::string param(std::string_view name) const {
    for (const auto& [k, v] : query)
      if (k == name) return v;
    return {};
  }
  bool has(std::string_view name) const {
    for (const auto& [k, v] : query)
      if (k == name) return true;
    return false;
  }
};

namespace {

Result<Target> parse_target(const std::string& target) {
  Target t;
  size_t q = target.find('?');
  std::string_view path = std::string_view(target).substr(0, q);
  if (path.empty() || path[0] != '/') return fail(ErrorKind::InvalidInput, "the request target must be an absolute path");
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    auto seg = url_decode(path.substr(start, end - start), false);
    if (!seg) return fail(seg.error());
    if (!seg->empty()) t.segments.push_back(*seg);
    start = end + 1;
  }
  if (q != std::string::npos) {
    std::string_view qs = std::string_view(target).substr(q + 1);
    size_t pos = 0;
    while (pos <= qs.size()) {
      size_t amp = qs.find('&', pos);
      if (amp == std::string_view::npos) amp = qs.size();
      std::string_view pair = qs.substr(pos, amp - pos);
      if (!pair.empty()) {
        size_t eq = pair.find('=');
        auto k = url_decode(pair.substr(0, eq), true);
        auto v = url_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
        if (!k) return fail(k.error());
        if (!v) return fail(v.error());
        t.query.emplace_back(*k, *v);
      }
      pos = amp + 1;
    }
  }
  return t;
}

// Rejects JSON nested deeper than kMaxJsonDepth before parsing it (parsers and destructors
// of deeply nested documents recurse).
Result<void> check_json_depth(std::string_view body) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        return fail(ErrorKind::InvalidInput, "the JSON body is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    } else if (c == ']' || c == '}')
      --depth;
  }
  return {};
}

Result<json> parse_json_body(const HttpRequest& req) {
  if (req.body.empty()) return json(nullptr);
  std::string ct = req.header("content-type");
  if (!ct.empty() && ct.find("application/json") == std::string::npos && ct.find("+json") == std::string::npos) {
    return fail(ErrorKind::InvalidInput, "the request body must be JSON (Content-Type: application/json), got '" + ct.substr(0, 64) + "'");
  }
  if (auto r = check_json_depth(req.body); !r) return fail(r.error());
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded()) return fail(ErrorKind::InvalidInput, "the request body is not valid JSON");
  return j;
}

json dimension_json(const config::DimensionSpec& d) {
  json j = {{"field", d.name}, {"column", d.column}, {"label", d.label}};
  if (!d.grain.empty()) j["grain"] = d.grain;
  return j;
}

json measure_json(const config::MeasureSpec& m) {
  // An approximate measure says so wherever its label is shown (KPIs, axes, legends, headers).
  json j = {{"field", m.name}, {"label", m.approx ? "≈ " + m.label : m.label}};
  if (m.approx) j["approx"] = true;
  if (!m.format.empty()) j["format"] = m.format;
  return j;
}

json widget_json(const config::WidgetSpec& w) {
  json j = {{"id", w.id}, {"type", config::widget_type_name(w.type)}, {"title", w.title}, {"layout", {{"width", w.width}}}};
  if (w.height) j["layout"]["height"] = w.height;
  if (!w.description.empty()) j["description"] = w.description;
  if (w.type == config::WidgetType::Text) j["text"] = w.text;
  json enc = json::object();
  if (w.x) enc["x"] = dimension_json(*w.x);
  if (w.y_dim) enc["y"] = dimension_json(*w.y_dim);
  if (w.color) enc["color"] = dimension_json(*w.color);
  if (!w.measures.empty()) {
    json ms = json::array();
    for (const auto& m : w.measures) ms.push_back(measure_json(m));
    if (w.type == config::WidgetType::Kpi) {
      enc["value"] = ms[0];
      if (!w.compare_filter.empty()) {
        enc["compare"] = {{"field", w.measures[0].name + "_previous"},
                          {"label", "previous period"},
                          {"period", "previous_period"},
                          {"filter", w.compare_filter}};
        if (!w.measures[0].format.empty()) enc["compare"]["format"] = w.measures[0].format;
      }
    } else if (w.type == config::WidgetType::Heatmap)
      enc["value"] = ms[0];
    else if (w.type == config::WidgetType::Table)
      enc["measures"] = ms;
    else
      enc["y"] = ms;
  }
  if (w.type == config::WidgetType::Histogram) {
    enc["bins"] = w.bins;
    enc["value"] = {{"field", "count"}, {"label", "Count"}};
  }
  if (!w.columns.empty()) {
    json cols = json::array();
    for (const auto& c : w.columns) cols.push_back(dimension_json(c));
    enc["columns"] = cols;
  }
  if (w.sort) {
    std::string field = w.sort->column;
    if (field == "x" && w.x) field = w.x->name;
    if ((field == "y" || field == "value") && !w.measures.empty()) field = w.measures[0].name;
    j["sort"] = {{"field", field}, {"desc", w.sort->descending}};
  }
  if (w.limit) j["limit"] = w.limit;
  if (!w.sql.empty()) j["custom_sql"] = true;  // that it has SQL, never the SQL itself
  j["encoding"] = enc;
  j["options"] = w.options;
  return j;
}

json dashboard_json(const config::DashboardSpec& d, const engine::Engine& engine,
                    const std::function<bool(const config::PageSpec&, const config::WidgetSpec&)>& visible,
                    const std::function<bool(const config::PageSpec&)>& page_visible) {
  json filters = json::array();
  const engine::Relation* rel = engine.relation(d.source);
  for (const auto& f : d.filters) {
    json fj = {
        {"id", f.id}, {"type", config::filter_type_name(f.type)}, {"label", f.label}, {"column", f.column}, {"default", f.default_value}};
    if (rel) {
      if (const auto* c = rel->column(f.column)) fj["column_type"] = c->type;
      // Range sliders stop on the column's bin edges: ranges between them come from rollups.
      if (f.type == config::FilterType::Range)
        if (const auto* b = rel->bins_of(f.column)) fj["bins"] = {{"edges", b->edges}};
    }
    if (f.type == config::FilterType::Select || f.type == config::FilterType::MultiSelect) fj["options_limit"] = f.options_limit;
    filters.push_back(fj);
  }
  json pages = json::array();
  for (const auto& p : d.pages) {
    json ws = json::array();
    for (const auto& w : p.widgets)
      if (visible(p, w)) ws.push_back(widget_json(w));
    if (!page_visible(p) || (ws.empty() && !p.widgets.empty())) continue;  // hidden page, or every widget hidden
    pages.push_back({{"id", p.id}, {"title", p.title}, {"widgets", ws}});
  }
  json j = {{"id", d.id},         {"title", d.title}, {"description", d.description}, {"dimensions", d.dimensions},
            {"filters", filters}, {"pages", pages}};
  return j;
}

using arrow::Encoding;

Result<Encoding> negotiate(const HttpRequest& req, const Target& t) {
  std::string f = t.param("format");
  if (f == "arrow") return Encoding::ArrowIpc;
  if (f == "json") return Encoding::Json;
  if (f == "csv") return Encoding::Csv;
  if (!f.empty()) return fail(ErrorKind::InvalidInput, "unknown format '" + f.substr(0, 32) + "'", "use arrow, json or csv");
  std::string accept = req.header("accept");
  if (accept.find("application/vnd.apache.arrow.stream") != std::string::npos) return Encoding::ArrowIpc;
  if (accept.find("application/json") != std::string::npos) return Encoding::Json;
  if (accept.find("text/csv") != std::string::npos) return Encoding::Csv;
  return Encoding::ArrowIpc;
}

// The Content-Type of an answer in `encoding` (and, for CSV, that it is a file named `name`.csv).
void set_content_type(HttpResponse& r, Encoding encoding, const std::string& name) {
  switch (encoding) {
    case Encoding::ArrowIpc: r.content_type = "application/vnd.apache.arrow.stream"; break;
    case Encoding::Json: r.content_type = "application/json"; break;
    case Encoding::Csv:
      r.content_type = "text/csv; charset=utf-8";
      r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + ".csv\"");
      break;
  }
}

Result<HttpResponse> encode(const engine::QueryOutput& out, Encoding encoding, const std::string& download_name) {
  HttpResponse r;
  r.rows = out.table.num_rows;
  auto body = arrow::write_table(out.table, encoding);
  if (!body) return fail(body.error());
  r.body = std::move(*body);
  set_content_type(r, encoding, download_name);
  if (out.truncated) r.headers.emplace_back("X-Sightline-Truncated", "true");
  return r;
}

}  // namespace

HttpResponse method_not_allowed(const HttpRequest& req, const char* allow) {
  HttpResponse r;
  r.status = 405;
  r.content_type = "application/problem+json";
  r.body = dump(json{{"type", "urn:sightline:problem:method-not-allowed"},
                     {"title", "Method Not Allowed"},
                     {"status", 405},
                     {"detail", "method " + req.method.substr(0, 16) + " is not allowed here; use " + std::string(allow)},
                     {"request_id", req.request_id}});
  r.headers.emplace_back("Allow", allow);
  return r;
}

HttpResponse problem_response(const Error& error, const std::string& request_id) {
  int status = http_status(error.kind);
  json j = {
      {"type", std::string("urn:sightline:problem:") + error_kind_name(error.kind)},
      {"title", status_title(status)},
      {"status", status},
      // Never error.detail: it holds the engine's own words (data values, paths), for the log only.
      {"detail", error.kind == ErrorKind::Internal ? "internal error; the server log has details under this request id" : error.message}};
  if (!error.hint.empty() && error.kind != ErrorKind::Internal) j["hint"] = error.hint;
  if (!request_id.empty()) j["request_id"] = request_id;
  HttpResponse r;
  r.status = status;
  r.content_type = "application/problem+json";
  r.body = dump(j);
  return r;
}

Api::Api(const SnapshotHolder& snapshots, query::QueryService& service, Logger& log, std::span<const web::Asset> ui_assets)
    : snapshots_(snapshots), service_(service), log_(log), ui_assets_(ui_assets), gate_(log, [] {
        return std::chrono::system_clock::now();
      }) {}

void Api::add_security_headers(HttpResponse& r, const Snapshot* snap, bool tls) const {
  auto has = [&](std::string_view name) {
    return std::any_of(r.headers.begin(), r.headers.end(),
                       [&](const auto& h) { return strcasecmp(h.first.c_str(), std::string(name).c_str()) == 0; });
  };
  const config::AuthSpec* auth = snap ? &snap->project.auth : nullptr;
  std::string ancestors = "'none'";
  if (auth && !auth->frame_ancestors.empty()) {
    ancestors.clear();
    for (const auto& o : auth->frame_ancestors) ancestors += (ancestors.empty() ? "" : " ") + o;
  }
  if (!has("Content-Security-Policy")) {
    r.headers.emplace_back("Content-Security-Policy", "default-src 'none'; frame-ancestors " + ancestors);
  } else if (ancestors != "'none'") {
    // The UI may be framed by the configured origins: rewrite frame-ancestors, drop X-Frame-Options.
    for (auto& [k, v] : r.headers) {
      if (k != "Content-Security-Policy") continue;
      size_t at = v.find("frame-ancestors");
      if (at != std::string::npos) {
        size_t end = v.find(';', at);
        v = v.substr(0, at) + "frame-ancestors " + ancestors + (end == std::string::npos ? "" : v.substr(end));
      }
    }
    std::erase_if(r.headers, [](const auto& h) { return h.first == "X-Frame-Options"; });
  }
  if (tls || (auth && auth->public_url.starts_with("https://"))) r.headers.emplace_back("Strict-Transport-Security", "max-age=31536000");
}

// What went wrong on the server's side, in full, for the operator: the engine's own words
// (detail) go here and nowhere else. The caller's own mistakes (4xx) are in the request line.
void Api::log_failure(const HttpRequest& request, const std::string& user, const Error& error) const {
  bool server_side = error.kind == ErrorKind::Internal || error.kind == ErrorKind::SourceFailed || error.kind == ErrorKind::Timeout ||
                     error.kind == ErrorKind::Unavailable;
  if (!server_side && error.detail.empty()) return;
  json fields = {{"request_id", request.request_id}, {"kind", error_kind_name(error.kind)}, {"message", error.message}};
  if (!user.empty()) fields["user"] = user;
  if (request.trace) fields["trace_id"] = request.trace->trace_hex();
  if (!error.detail.empty()) fields["detail"] = error.detail;
  if (error.kind == ErrorKind::Internal)
    log_.error("request_failed", fields);
  else
    log_.warn("request_failed", fields);
}

HttpResponse Api::handle(const HttpRequest& request) {
  std::string user;
  Result<HttpResponse> r = [&]() -> Result<HttpResponse> {
    try {
      return route(request, user);
    } catch (const std::exception& e) {
      return fail(ErrorKind::Internal, e.what());
    }
  }();
  const std::string route = route_template(std::string_view(request.target).substr(0, request.target.find('?')));
  if (r) {
    auto snap = snapshots_.get();
    add_security_headers(*r, snap.get(), request.tls);
    r->log_user = user;
    r->route = route;
    return std::move(*r);
  }
  log_failure(request, user, r.error());
  HttpResponse p = problem_response(r.error(), request.request_id);
  if (r.error().kind == ErrorKind::Unavailable) p.headers.emplace_back("Retry-After", "1");
  if (r.error().kind == ErrorKind::TooManyRequests) p.headers.emplace_back("Retry-After", "1");
  if (r.error().kind == ErrorKind::Unauthenticated) {
    p.headers.emplace_back("WWW-Authenticate", "Bearer");
    // Where a browser signs in, when this server has a sign-in (behind a proxy it does not).
    auto snap = snapshots_.get();
    if (snap && snap->project.auth.mode == config::AuthMode::Oidc) p.headers.emplace_back("X-Sign-In", "/auth/login");
  }
  add_security_headers(p, snapshots_.get().get(), request.tls);
  p.log_user = user;
  p.route = route;
  return p;
}

std::optional<HttpResponse> Api::handle_inline(const HttpRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") return std::nullopt;
  std::string_view path = std::string_view(request.target).substr(0, request.target.find('?'));
  if (path == "/healthz" || path == "/readyz" || (path == "/metrics" && metrics_here_)) return handle(request);
  return std::nullopt;
}

bool Api::is_heavy(const HttpRequest& request) {
  std::string_view path = std::string_view(request.target).substr(0, request.target.find('?'));
  std::string route = route_template(path);
  return route == "/api/v1/dashboards/{dashboard}/widgets/{widget}/query" ||
         route == "/api/v1/dashboards/{dashboard}/filters/{filter}/options";
}

std::string route_template(std::string_view path) {
  std::vector<std::string_view> seg;
  for (size_t at = 0; at < path.size();) {
    size_t slash = path.find('/', at);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > at) seg.push_back(path.substr(at, slash - at));
    at = slash + 1;
  }
  if (seg.empty()) return "/";
  const std::string_view first = seg[0];
  if (seg.size() == 1 && (first == "healthz" || first == "readyz" || first == "metrics" || first == "index.html"))
    return "/" + std::string(first);
  if (first == "d" && seg.size() == 2) return "/d/{dashboard}";
  if (first == "data" && seg.size() == 1) return "/data";
  if (first == "assets") return "/assets/{file}";
  if (first == "auth" && seg.size() == 2 && (seg[1] == "login" || seg[1] == "callback" || seg[1] == "logout"))
    return "/auth/" + std::string(seg[1]);
  if (first != "api" || seg.size() < 3 || seg[1] != "v1") return "other";
  if (seg.size() == 3 && seg[2] == "me") return "/api/v1/me";
  if (seg.size() == 3 && seg[2] == "events") return "/api/v1/events";
  if (seg[2] == "sources") {
    if (seg.size() == 3) return "/api/v1/sources";
    if (seg.size() == 4) return "/api/v1/sources/{source}";
    if (seg.size() == 5 && seg[4] == "refresh") return "/api/v1/sources/{source}/refresh";
    return "other";
  }
  if (seg[2] != "dashboards") return "other";
  if (seg.size() == 3) return "/api/v1/dashboards";
  if (seg.size() == 4) return "/api/v1/dashboards/{dashboard}";
  if (seg.size() == 7 && seg[4] == "widgets" && seg[6] == "query") return "/api/v1/dashboards/{dashboard}/widgets/{widget}/query";
  if (seg.size() == 7 && seg[4] == "filters" && seg[6] == "options") return "/api/v1/dashboards/{dashboard}/filters/{filter}/options";
  return "other";
}

Result<HttpResponse> Api::route(const HttpRequest& req, std::string& user_for_log) {
  auto target = parse_target(req.target);
  if (!target) return fail(target.error());
  const auto& seg = target->segments;
  auto method_not_allowed = [&](const char* allow) -> Result<HttpResponse> { return api::method_not_allowed(req, allow); };
  bool get = req.method == "GET" || req.method == "HEAD";

  // Credentials never travel in URLs (they end up in logs and browser history).
  for (const char* name : {"access_token", "id_token"}) {
    if (target->has(name))
      return fail(ErrorKind::InvalidInput, std::string("credentials are not accepted in the URL ('") + name + "')",
                  "send Authorization: Bearer <token> instead");
  }
  // Sign-in and sign-out, and who am I.
  std::string_view req_path = std::string_view(req.target).substr(0, req.target.find('?'));
  if (req_path.starts_with("/auth/") || req_path == "/api/v1/me") {
    auto snap = snapshots_.get();
    if (!snap) return fail(ErrorKind::Unavailable, "the project is still loading");
    if (auto handled = gate_.route(req, *snap)) return std::move(*handled);
  }

  // The browser UI: the page at "/" and "/d/<dashboard>", and its hashed assets.
  if (seg.empty() || (seg[0] != "api" && seg[0] != "healthz" && seg[0] != "readyz" && !(seg[0] == "metrics" && metrics_here_))) {
    std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
    bool page = path == "/" || path == "/index.html" || path == "/data" || path.starts_with("/d/");
    if (page && get) {
      // Pages need a signed-in user (assets are public: code, no data). Browsers are sent to sign in.
      auto snap = snapshots_.get();
      if (snap && snap->project.auth.enabled()) {
        if (auto user = gate_.authenticate(req, snap->project); !user) {
          if (snap->project.auth.mode != config::AuthMode::Oidc) return fail(user.error());
          std::string back = req.target.substr(0, 2048);
          std::string encoded;
          for (unsigned char c : back) {
            if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
              encoded += static_cast<char>(c);
            else {
              char buf[4];
              std::snprintf(buf, sizeof buf, "%%%02X", c);
              encoded += buf;
            }
          }
          HttpResponse r;
          r.status = 302;
          r.content_type = "text/plain; charset=utf-8";
          r.body = "Sign in first: /auth/login\n";
          r.headers.emplace_back("Location", "/auth/login?return_to=" + encoded);
          r.headers.emplace_back("Cache-Control", "no-store");
          return r;
        }
      }
    }
    if (!ui_assets_.empty() && get) {
      if (auto page = web::serve_static(ui_assets_, path, req)) return std::move(*page);
    } else if (!ui_assets_.empty() && (path == "/" || path == "/data" || path.starts_with("/d/") || path.starts_with("/assets/"))) {
      return method_not_allowed("GET");
    }
  }
  if (seg.empty()) {
    if (!get) return method_not_allowed("GET");
    HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string(kPlaceholderPage);
    r.headers.emplace_back("Cache-Control", "no-cache");
    return r;
  }
  if (seg.size() == 1 && seg[0] == "metrics" && metrics_here_) {
    // The problem documents of metrics_response are made by handle(), like every other error.
    if (!get) return method_not_allowed("GET");
    if (!metrics_allow_.empty() &&
        std::none_of(metrics_allow_.begin(), metrics_allow_.end(), [&](const std::string& cidr) { return address_in(req.peer, cidr); }))
      return fail(ErrorKind::Forbidden, "metrics are not served to this address", "see --metrics-allow");
    return *metrics_response(req);
  }
  if (seg.size() == 1 && seg[0] == "healthz") {
    if (!get) return method_not_allowed("GET");
    return json_response({{"status", "ok"}});
  }
  auto snap = snapshots_.get();
  if (seg.size() == 1 && seg[0] == "readyz") {
    if (!get) return method_not_allowed("GET");
    // Answered from the server's state, never by waiting for the engine: under load the
    // engine is busy, not broken, and a probe that queues behind queries would fail the check.
    if (draining_) return fail(ErrorKind::Unavailable, "the server is shutting down");
    if (!snap) return fail(ErrorKind::Unavailable, "the project is still loading");
    json j = {{"status", "ready"},
              {"project", snap->project.name},
              {"generation", snap->generation},
              {"auth", config::auth_mode_name(snap->project.auth.mode)},
              {"rollups", !snap->rollups_enabled  ? "disabled"
                          : snap->rollups_pending ? "building"
                                                  : std::to_string(snap->rollups->all().size()) + " ready"}};
    // While building: how far, so the UI and an operator can tell it moves.
    if (snap->rollups_pending && snap->rollup_progress)
      j["rollups_progress"] = {{"dashboards", snap->rollup_progress->dashboards.load()},
                               {"dashboards_done", snap->rollup_progress->dashboards_done.load()},
                               {"built", snap->rollup_progress->built.load()}};
    // With sign-in on, this unauthenticated endpoint does not tell how many dashboards exist, nor
    // the names of sources.
    if (!snap->project.auth.enabled()) {
      j["dashboards"] = snap->project.dashboards.size();
      if (!snap->unreadable_sources.empty()) j["unreadable_sources"] = snap->unreadable_sources;
    }
    // Sources whose last refresh failed: the last good data still serves (so: ready), but say so.
    if (auto failing = sources_.failing(); !failing.empty()) {
      if (snap->project.auth.enabled())
        j["sources_failing_refresh"] = failing.size();
      else
        j["sources_failing_refresh"] = failing;
    }
    std::string reload_error = snapshots_.last_error();
    // With sign-in on, this unauthenticated endpoint does not quote the diagnostics either (an
    // engine's message can hold a value from the data); the log has them.
    if (!reload_error.empty())
      j["last_reload_error"] =
          snap->project.auth.enabled() ? "the last reload failed; the server log and `sightline check` list the errors" : reload_error;
    return json_response(j);
  }
  if (seg.size() < 2 || seg[0] != "api" || seg[1] != "v1") {
    return fail(ErrorKind::NotFound, "no such page: " + req.target.substr(0, 200));
  }
  if (!snap) return fail(ErrorKind::Unavailable, "the project is still loading");
  auto user = gate_.authenticate(req, snap->project);
  if (!user) return fail(user.error());
  user_for_log = user->identity.subject;
  if (auto c = gate_.check_csrf(req, *user, snap->project); !c) return fail(c.error());
  auto answer = data_route(req, *snap, *user);
  // Every answer here is computed for this caller (their dashboards, their rows): no cache keeps it.
  if (answer && std::none_of(answer->headers.begin(), answer->headers.end(), [](const auto& h) { return h.first == "Cache-Control"; }))
    answer->headers.emplace_back("Cache-Control", "no-store");
  return answer;
}

namespace {

// What the query layer reads of a snapshot.
query::DataView data_view(const Snapshot& snap) {
  return query::DataView{*snap.engine, *snap.rollups, snap.subsets.get(), &snap.sql_widget_columns, &snap.sql_equivalents};
}

}  // namespace

Result<HttpResponse> Api::data_route(const HttpRequest& req, const Snapshot& snapshot, const auth::User& user) {
  auto target = parse_target(req.target);
  if (!target) return fail(target.error());
  const auto& seg = target->segments;
  const Snapshot& snap = snapshot;
  bool get = req.method == "GET" || req.method == "HEAD";
  const auto& project = snap.project;
  if (seg.size() == 2) return fail(ErrorKind::NotFound, "no such API endpoint", "see /api/v1/dashboards");
  if (seg[2] == "sources") return sources_route(req, seg, snap, user);
  if (seg[2] == "events") {
    if (seg.size() != 3) return fail(ErrorKind::NotFound, "no such API endpoint", "see docs/api.md");
    return events_route(req, target->param("dashboard"), snap, user);
  }
  if (seg[2] != "dashboards") return fail(ErrorKind::NotFound, "no such API endpoint: " + seg[2].substr(0, 64), "see /api/v1/dashboards");

  if (seg.size() == 3) {
    if (!get) return api::method_not_allowed(req, "GET");
    json list = json::array();
    for (const auto& d : project.dashboards) {
      if (auth::can_see(d.roles, user)) list.push_back({{"id", d.id}, {"title", d.title}, {"description", d.description}});
    }
    return json_response({{"dashboards", list}});
  }
  const config::DashboardSpec* dash = project.find_dashboard(seg[3]);
  // A dashboard the caller may not see does not exist for them: the same 404 as a wrong id.
  if (!dash || !auth::can_see(dash->roles, user)) return fail(ErrorKind::NotFound, "no dashboard '" + seg[3].substr(0, 64) + "'");
  auto visible = [&](const config::PageSpec& page, const config::WidgetSpec& w) {
    return auth::can_see(page.roles, user) && auth::can_see(w.roles, user);
  };
  if (seg.size() == 4) {
    if (!get) return api::method_not_allowed(req, "GET");
    json described =
        dashboard_json(*dash, *snap.engine, visible, [&](const config::PageSpec& page) { return auth::can_see(page.roles, user); });
    described["data"] = dashboard_data_json(sources_, snap, *dash, user);
    return json_response(described);
  }
  // The caller's rows: every data path below reads through this scope.
  auto scoped = project.auth.enabled() ? auth::scope_for(project, user) : Result<query::Scope>(query::Scope::local_development());
  if (!scoped) return fail(scoped.error());
  const query::Scope& scope = *scoped;
  auto admitted = gate_.admit(user, project);
  if (!admitted) return fail(admitted.error());
  LogContext log_fields = {{"request_id", req.request_id}, {"user", user.identity.subject}};
  if (req.trace) log_fields.emplace_back("trace_id", req.trace->trace_hex());
  query::QueryContext ctx = query::QueryContext::begin(data_view(snap), scope, std::move(log_fields), req.cancel);
  ctx.run.trace = req.trace;
  ctx.run.tracer = tracer_;

  if (seg.size() == 7 && seg[4] == "widgets" && seg[6] == "query") {
    const config::WidgetSpec* widget = nullptr;
    for (const auto& page : dash->pages)
      for (const auto& w : page.widgets)
        if (w.id == seg[5] && visible(page, w)) widget = &w;
    if (!widget) return fail(ErrorKind::NotFound, "dashboard '" + dash->id + "' has no widget '" + seg[5].substr(0, 64) + "'");
    if (req.method != "POST") return api::method_not_allowed(req, "POST");
    return query_widget(req, *target, snap, ctx, user, *dash, *widget);
  }
  if (seg.size() == 7 && seg[4] == "filters" && seg[6] == "options") {
    const config::FilterSpec* filter = dash->find_filter(seg[5]);
    if (!filter) return fail(ErrorKind::NotFound, "dashboard '" + dash->id + "' has no filter '" + seg[5].substr(0, 64) + "'");
    if (!get) return api::method_not_allowed(req, "GET");
    return filter_options(req, *target, snap, ctx, user, *dash, *filter);
  }
  return fail(ErrorKind::NotFound, "no such API endpoint", "see docs/api.md");
}

Result<HttpResponse> Api::query_widget(const HttpRequest& req, const Target& target, const Snapshot& snap, const query::QueryContext& ctx,
                                       const auth::User& user, const config::DashboardSpec& dash, const config::WidgetSpec& widget) {
  auto format = negotiate(req, target);
  if (!format) return fail(format.error());
  auto body = parse_json_body(req);
  if (!body) return fail(body.error());
  auto request = query::parse_query_request(*body);
  if (!request) return fail(request.error());
  // More rows than an answer holds: a download, written to a spool file as the engine produces it.
  if (request->limit && *request->limit > snap.engine->max_rows())
    return download_widget(req, snap, ctx, user, dash, widget, *format, std::move(*request));
  auto started = std::chrono::steady_clock::now();
  // Planning and every statement of the answer, as one span with the statements under it.
  std::optional<ScopedSpan> answering(std::in_place, tracer_, ctx.run.trace, "sightline.widget");
  answering->attr("sightline.dashboard", dash.id);
  answering->attr("sightline.widget", widget.id);
  query::QueryContext traced = ctx;
  if (auto c = answering->context()) traced.run.trace = c;
  auto answer = query::answer_widget(service_, data_view(snap), traced, dash, widget, std::move(*request));
  if (!answer) answering->fail(error_kind_name(answer.error().kind));
  answering.reset();
  if (!answer) return fail(answer.error());
  if (widget_seconds_) {
    // What answered: the cache, a rollup, a subset, or the rows (tables, models, own SQL).
    const std::string& from = answer->read_from;
    const char* by = answer->cache_hit                           ? "cache"
                     : from.find("__sightline_rollup") != std::string::npos ? "rollup"
                     : from.find("__sightline_subset") != std::string::npos ? "subset"
                                                                            : "table";
    widget_seconds_->with({dash.id, widget.id, by}).observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  auto response = [&] {
    ScopedSpan encoding(tracer_, ctx.run.trace, "sightline.encode");
    encoding.attr("sightline.rows", static_cast<int64_t>(answer->output->table.num_rows));
    return encode(*answer->output, *format, widget.id);
  }();
  if (!response) return fail(response.error());
  response->headers.emplace_back("X-Sightline-Cache", answer->cache_hit ? "hit" : "miss");
  add_data_version(*response, snap, ctx, dash, widget);
  if (answer->total) response->headers.emplace_back("X-Total-Count", std::to_string(*answer->total));
  response->headers.emplace_back("Cache-Control", "no-store");
  if (snap.project.auth.enabled())
    gate_.audit("query", req, &user,
                {{"dashboard", dash.id}, {"widget", widget.id}, {"policies", ctx.scope.policies()}, {"rows", response->rows}});
  return response;
}

void Api::add_data_version(HttpResponse& response, const Snapshot& snap, const query::QueryContext& ctx, const config::DashboardSpec& dash,
                           const config::WidgetSpec& widget) {
  // Numbers count per relation: the relation says which one (a widget of own SQL may read
  // another than its dashboard's).
  const auto [relation, version] = widget_data_version(snap, ctx, dash, widget);
  response.headers.emplace_back("X-Sightline-Data-Relation", relation);
  response.headers.emplace_back("X-Sightline-Data-Version", version.token());
  response.headers.emplace_back("X-Sightline-Data-As-Of", utc_time_text(version.as_of_ms));
}

Result<HttpResponse> Api::download_widget(const HttpRequest& req, const Snapshot& snap, const query::QueryContext& ctx, const auth::User& user,
                                          const config::DashboardSpec& dash, const config::WidgetSpec& widget, arrow::Encoding encoding,
                                          query::QueryRequest request) {
  ScopedSpan answering(tracer_, ctx.run.trace, "sightline.widget");
  answering.attr("sightline.dashboard", dash.id);
  answering.attr("sightline.widget", widget.id);
  query::QueryContext traced = ctx;
  if (auto c = answering.context()) traced.run.trace = c;
  auto spool = SpoolFile::create(spool_dir_, spool_budget_);
  if (!spool) return fail(spool.error());
  // Batches are encoded into `pending` and moved to the spool file in blocks of about a MiB.
  std::string pending;
  std::unique_ptr<arrow::BatchWriter> writer;
  auto spill = [&]() -> Result<void> {
    auto ok = spool->append(pending);
    pending.clear();
    return ok;
  };
  engine::BatchSink sink{
      .start = [&](const std::vector<engine::ColumnInfo>&, const ArrowSchema& schema) -> Result<void> {
        auto started = arrow::start_batch_writer(encoding, schema, pending);
        if (!started) return fail(started.error());
        writer = std::move(*started);
        return {};
      },
      .batch = [&](const ArrowArray& batch) -> Result<void> {
        if (auto ok = writer->write_batch(batch); !ok) return ok;
        return pending.size() >= (1u << 20) ? spill() : Result<void>();
      }};
  auto exported = query::export_widget(service_, data_view(snap), traced, dash, widget, std::move(request), sink);
  if (!exported) {
    answering.fail(error_kind_name(exported.error().kind));
    return fail(exported.error());
  }
  if (!writer) return fail(ErrorKind::Internal, "the download's statement returned no schema");
  writer->finish();
  if (auto ok = spill(); !ok) return fail(ok.error());
  auto file = spool->finish();
  if (!file) return fail(file.error());
  HttpResponse r;
  r.rows = exported->rows;
  r.file_body = std::move(*file);
  set_content_type(r, encoding, widget.id);
  if (exported->truncated) {
    r.headers.emplace_back("X-Sightline-Truncated", "true");
    r.headers.emplace_back("X-Sightline-Row-Limit", std::to_string(snap.engine->max_export_rows()));
  }
  if (exported->total) r.headers.emplace_back("X-Total-Count", std::to_string(*exported->total));
  r.headers.emplace_back("X-Sightline-Cache", "bypass");
  r.headers.emplace_back("Cache-Control", "no-store");
  add_data_version(r, snap, ctx, dash, widget);
  if (snap.project.auth.enabled())
    gate_.audit("download", req, &user,
                {{"dashboard", dash.id}, {"widget", widget.id}, {"policies", ctx.scope.policies()}, {"rows", r.rows},
                 {"bytes", r.file_body->size()}, {"truncated", exported->truncated}});
  return r;
}

Result<HttpResponse> Api::filter_options(const HttpRequest& req, const Target& target, const Snapshot& snap, const query::QueryContext& ctx,
                                         const auth::User& user, const config::DashboardSpec& dash, const config::FilterSpec& filter) {
  int64_t limit = 0;
  if (std::string l = target.param("limit"); !l.empty()) {
    try {
      size_t used = 0;
      limit = std::stoll(l, &used);
      if (used != l.size() || limit < 1 || limit > 10'000) throw std::out_of_range("limit");
    } catch (const std::exception&) {
      return fail(ErrorKind::InvalidInput, "'limit' must be a whole number from 1 to 10000");
    }
  }
  auto options = query::answer_filter_options(service_, data_view(snap), ctx, dash, filter, target.param("q"), limit);
  if (!options) return fail(options.error());
  HttpResponse r = json_response(options->body);
  r.rows = options->rows;
  if (snap.project.auth.enabled())
    gate_.audit("filter_options", req, &user, {{"dashboard", dash.id}, {"filter", filter.id}, {"policies", ctx.scope.policies()}});
  return r;
}

}  // namespace sightline::api

namespace sightline::api {

namespace {
std::vector<metrics::Sample> one(double v) { return {{{}, v}}; }
}  // namespace

std::optional<HttpResponse> Api::metrics_response(const HttpRequest& request) const {
  auto answer = [&]() -> Result<HttpResponse> {
    std::string_view path = std::string_view(request.target).substr(0, request.target.find('?'));
    if (path != "/metrics" || !metrics_) return fail(ErrorKind::NotFound, "this port serves /metrics only");
    if (request.method != "GET" && request.method != "HEAD") return api::method_not_allowed(request, "GET");
    if (!metrics_allow_.empty() && std::none_of(metrics_allow_.begin(), metrics_allow_.end(),
                                                [&](const std::string& cidr) { return address_in(request.peer, cidr); }))
      return fail(ErrorKind::Forbidden, "metrics are not served to this address", "see --metrics-allow");
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_->render();
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  }();
  HttpResponse r = answer ? std::move(*answer) : problem_response(answer.error(), request.request_id);
  r.route = "/metrics";
  return r;
}

void Api::enable_metrics(metrics::Registry& registry, std::vector<std::string> allow, bool on_this_port) {
  metrics_ = &registry;
  metrics_allow_ = std::move(allow);
  metrics_here_ = on_this_port;
  widget_seconds_ = &registry.histogram("sightline_widget_query_duration_seconds",
                                        "Time to answer a widget query, by dashboard, widget and what answered it (cache, rollup, subset, table).",
                                        {"dashboard", "widget", "answered_by"});
  gate_.register_metrics(registry);

  query::QueryService& service = service_;
  registry.counter_function("sightline_query_cache_hits_total", "Statements answered from the result cache (or by joining the same statement running).",
                            {}, [&service] { return one(static_cast<double>(service.cache_counts().hits)); });
  registry.counter_function("sightline_query_cache_misses_total", "Statements run on the engine.", {},
                            [&service] { return one(static_cast<double>(service.cache_counts().misses)); });
  registry.counter_function("sightline_query_cache_evictions_total", "Cached results evicted to make room.", {},
                            [&service] { return one(static_cast<double>(service.cache_counts().evictions)); });
  registry.gauge_function("sightline_query_cache_bytes", "Estimated bytes held by the result cache.", {},
                          [&service] { return one(static_cast<double>(service.cached_bytes())); });
  registry.gauge_function("sightline_query_cache_entries", "Results held by the result cache.", {},
                          [&service] { return one(static_cast<double>(service.cached_entries())); });

  // Of the snapshot being served: an empty sample list before the project is loaded.
  const SnapshotHolder& holder = snapshots_;
  auto of_snapshot = [&holder](std::function<std::optional<double>(const Snapshot&)> read) {
    return [&holder, read] {
      auto snap = holder.get();
      std::vector<metrics::Sample> out;
      if (snap && snap->engine)
        if (auto v = read(*snap)) out.push_back({{}, *v});
      return out;
    };
  };
  registry.gauge_function("sightline_engine_connections", "Engine connections in the pool.", {},
                          of_snapshot([](const Snapshot& s) { return std::optional<double>(s.engine->pool().size()); }));
  registry.gauge_function("sightline_engine_connections_in_use", "Engine connections running a statement.", {},
                          of_snapshot([](const Snapshot& s) { return std::optional<double>(s.engine->pool().in_use()); }));
  registry.gauge_function("sightline_engine_waiting", "Statements waiting for a free engine connection.", {},
                          of_snapshot([](const Snapshot& s) { return std::optional<double>(s.engine->pool().waiting()); }));
  registry.gauge_function("sightline_duckdb_memory_bytes", "Bytes DuckDB's buffer manager holds in memory (sampled every 5 s).", {},
                          of_snapshot([](const Snapshot& s) -> std::optional<double> {
                            auto bytes = s.engine->memory_sample();
                            return bytes ? std::optional<double>(static_cast<double>(*bytes)) : std::nullopt;
                          }));
  registry.gauge_function("sightline_project_generation", "The loaded project version: 1 at start, +1 per successful reload.", {},
                          of_snapshot([](const Snapshot& s) { return std::optional<double>(static_cast<double>(s.generation)); }));
  registry.gauge_function("sightline_rollups", "Rollups (pre-aggregates) in use.", {}, of_snapshot([](const Snapshot& s) {
                            return std::optional<double>(s.rollups ? static_cast<double>(s.rollups->all().size()) : 0);
                          }));
  registry.gauge_function("sightline_rollup_rows", "Rows of all rollups in use.", {}, of_snapshot([](const Snapshot& s) {
                            double rows = 0;
                            if (s.rollups)
                              for (const auto& r : s.rollups->all()) rows += static_cast<double>(r.rows);
                            return std::optional<double>(rows);
                          }));
  registry.gauge_function("sightline_rollups_building", "1 while rollups are being built in the background, else 0.", {},
                          of_snapshot([](const Snapshot& s) { return std::optional<double>(s.rollups_pending ? 1 : 0); }));
}

}  // namespace sightline::api
