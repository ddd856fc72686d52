// YAML -> Project. Every problem becomes a Diagnostic with file:line:column and, where we can
// guess what was meant, a hint.
#include <fnmatch.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "config/project.h"
#include "config/service_url.h"
#include "core/cron.h"

namespace sightline::config {
namespace fs = std::filesystem;

namespace {

// The kind of object store an s3:// or az:// (azure://) path names; nullopt for local paths.
std::optional<ObjectStoreKind> object_url_scheme(std::string_view path) {
  if (path.starts_with("s3://")) return ObjectStoreKind::S3;
  if (path.starts_with("az://") || path.starts_with("azure://")) return ObjectStoreKind::Azure;
  return std::nullopt;
}

// 20GB, 512MiB, 1.5TB, 4096 (bytes): units of 1000 and 1024 as written; nullopt when malformed.
std::optional<int64_t> parse_byte_size(const std::string& text) {
  static const std::regex re(R"(\s*([0-9]+(?:\.[0-9]+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*)", std::regex::icase);
  std::smatch m;
  if (!std::regex_match(text, m, re)) return std::nullopt;
  std::string unit = m[2].str();
  std::transform(unit.begin(), unit.end(), unit.begin(), ::tolower);
  static const std::map<std::string, double> scale = {{"", 1},       {"b", 1},         {"kb", 1e3},      {"mb", 1e6},
                                                      {"gb", 1e9},   {"tb", 1e12},     {"kib", 1024.0},  {"mib", 1048576.0},
                                                      {"gib", 1073741824.0}, {"tib", 1099511627776.0}};
  const double bytes = std::stod(m[1].str()) * scale.at(unit);
  if (bytes > 9e18) return std::nullopt;
  return static_cast<int64_t>(bytes);
}

bool valid_id(const std::string& s) {
  static const std::regex re("[A-Za-z0-9_][A-Za-z0-9_-]{0,63}");
  return std::regex_match(s, re);
}

// Reads one YAML file, collecting diagnostics; interpolates ${env:} / ${file:} in scalars.
class Reader {
 public:
  Reader(std::string file, const fs::path& project_dir, const Environment& env, std::vector<Diagnostic>& diags,
         std::vector<std::string>& secrets)
      : file_(std::move(file)), dir_(project_dir), env_(env), diags_(diags), secrets_(secrets) {}

  Position pos(const YAML::Node& n) const {
    auto m = n.Mark();
    if (m.is_null()) return {file_, 0, 0};
    return {file_, m.line + 1, m.column + 1};
  }
  void error(const YAML::Node& n, std::string message, std::string hint = {}) {
    diags_.push_back({Diagnostic::Severity::Error, pos(n), std::move(message), std::move(hint)});
  }
  void warning(const YAML::Node& n, std::string message, std::string hint = {}) {
    diags_.push_back({Diagnostic::Severity::Warning, pos(n), std::move(message), std::move(hint)});
  }

  // Unknown keys are errors with a did-you-mean hint: a typo must not silently do nothing.
  void check_keys(const YAML::Node& map, std::initializer_list<const char*> allowed, const std::string& what) {
    if (!map.IsMap()) return;
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string key = it->first.Scalar();
      bool known = std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; });
      if (known) continue;
      std::string best;
      size_t best_d = 3;
      for (const char* a : allowed) {
        size_t d = edit_distance(key, a);
        if (d < best_d) best_d = d, best = a;
      }
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      error(it->first, "unknown key '" + key + "' in " + what, best.empty() ? "allowed keys: " + list : "did you mean '" + best + "'?");
    }
  }

  bool is_map(const YAML::Node& n, const std::string& what) {
    if (n.IsMap()) return true;
    error(n, what + " must be a mapping (key: value)");
    return false;
  }

  std::optional<std::string> scalar(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) {
      error(n, what + " must be a single value, not a " + (n.IsMap() ? "mapping" : n.IsSequence() ? "list" : "null"));
      return std::nullopt;
    }
    return interpolate(n, n.Scalar());
  }
  std::string str(const YAML::Node& n, const std::string& what, std::string fallback = {}) {
    if (!n || n.IsNull()) return fallback;
    return scalar(n, what).value_or(fallback);
  }
  std::optional<int64_t> integer(const YAML::Node& n, const std::string& what, int64_t lo, int64_t hi) {
    auto s = scalar(n, what);
    if (!s) return std::nullopt;
    try {
      size_t used = 0;
      long long v = std::stoll(*s, &used);
      if (used != s->size()) throw std::invalid_argument("trailing");
      if (v < lo || v > hi) {
        error(n, what + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + *s);
        return std::nullopt;
      }
      return v;
    } catch (const std::exception&) {
      error(n, what + " must be a whole number, got '" + *s + "'");
      return std::nullopt;
    }
  }
  std::optional<bool> boolean(const YAML::Node& n, const std::string& what) {
    auto s = scalar(n, what);
    if (!s) return std::nullopt;
    if (*s == "true" || *s == "yes" || *s == "on") return true;
    if (*s == "false" || *s == "no" || *s == "off") return false;
    error(n, what + " must be true or false, got '" + *s + "'");
    return std::nullopt;
  }
  // "10s", "500ms", "2m", or a plain number of seconds.
  std::optional<int64_t> duration_ms(const YAML::Node& n, const std::string& what) {
    auto s = scalar(n, what);
    if (!s) return std::nullopt;
    static const std::regex re(R"(\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|min|h)?\s*)");
    std::smatch m;
    if (!std::regex_match(*s, m, re)) {
      error(n, what + " must be a duration like 10s, 500ms, 2m or 12h, got '" + *s + "'");
      return std::nullopt;
    }
    double v = std::stod(m[1]);
    std::string unit = m[2];
    double ms = unit == "ms" ? v : (unit == "m" || unit == "min") ? v * 60000 : unit == "h" ? v * 3600000 : v * 1000;
    if (ms < 1 || ms > 24 * 3600 * 1000.0) {
      error(n, what + " must be between 1ms and 24h");
      return std::nullopt;
    }
    return static_cast<int64_t>(ms);
  }

  // A duration from `lo_ms` to `hi_ms`: "90s", "5m", "12h", "7d", "250ms" (a plain number is seconds).
  std::optional<int64_t> long_duration_ms(const YAML::Node& n, const std::string& what, int64_t lo_ms, int64_t hi_ms) {
    auto s = scalar(n, what);
    if (!s) return std::nullopt;
    static const std::regex re(R"(\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|min|h|d)?\s*)");
    std::smatch m;
    if (s->size() > 32 || !std::regex_match(*s, m, re)) {
      error(n, what + " must be a duration like 30s, 5m, 12h or 7d, got '" + s->substr(0, 32) + "'");
      return std::nullopt;
    }
    const double v = std::stod(m[1]);
    const std::string unit = m[2];
    const double scale = unit == "ms" ? 1 : (unit == "m" || unit == "min") ? 60'000 : unit == "h" ? 3'600'000 : unit == "d" ? 86'400'000 : 1000;
    const double ms = v * scale;
    auto say = [](int64_t x) {
      return x % 86'400'000 == 0 ? std::to_string(x / 86'400'000) + "d"
             : x % 3'600'000 == 0 ? std::to_string(x / 3'600'000) + "h"
             : x % 60'000 == 0    ? std::to_string(x / 60'000) + "m"
             : x % 1000 == 0      ? std::to_string(x / 1000) + "s"
                                  : std::to_string(x) + "ms";
    };
    if (ms < static_cast<double>(lo_ms) || ms > static_cast<double>(hi_ms)) {
      error(n, what + " must be between " + say(lo_ms) + " and " + say(hi_ms) + ", got '" + *s + "'");
      return std::nullopt;
    }
    return static_cast<int64_t>(ms);
  }

  // Converts YAML to JSON (for defaults and presentation options), interpolating scalars.
  nlohmann::json to_json(const YAML::Node& n) {
    if (!n || n.IsNull()) return nullptr;
    if (n.IsSequence()) {
      auto arr = nlohmann::json::array();
      for (const auto& e : n) arr.push_back(to_json(e));
      return arr;
    }
    if (n.IsMap()) {
      auto obj = nlohmann::json::object();
      for (auto it = n.begin(); it != n.end(); ++it) obj[it->first.Scalar()] = to_json(it->second);
      return obj;
    }
    std::string s = interpolate(n, n.Scalar());
    if (n.Tag() == "!") return s;  // explicitly quoted in YAML: keep it a string
    if (s == "true") return true;
    if (s == "false") return false;
    if (s == "null" || s == "~") return nullptr;
    static const std::regex int_re("-?[0-9]{1,18}");
    static const std::regex num_re(R"(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)");
    if (std::regex_match(s, int_re)) return std::stoll(s);
    if (std::regex_match(s, num_re)) return std::stod(s);
    return s;
  }

  const std::string& file() const { return file_; }

 private:
  // ${env:NAME} and ${file:PATH}; a value that came from either is remembered as a secret.
  std::string interpolate(const YAML::Node& n, const std::string& text) {
    if (text.find("${") == std::string::npos) return text;
    static const std::regex re(R"(\$\{(env|file):([^}]*)\})");
    std::string out;
    auto begin = std::sregex_iterator(text.begin(), text.end(), re);
    size_t last = 0;
    for (auto it = begin; it != std::sregex_iterator(); ++it) {
      const auto& m = *it;
      out += text.substr(last, m.position() - last);
      last = m.position() + m.length();
      std::string kind = m[1], arg = m[2];
      std::optional<std::string> value;
      if (kind == "env") {
        value = env_.get_env ? env_.get_env(arg) : std::nullopt;
        if (!value) {
          error(n, "environment variable '" + arg + "' is not set", "set it before starting sightline, or remove ${env:" + arg + "}");
          continue;
        }
      } else {
        fs::path p = arg;
        if (p.is_relative()) p = dir_ / p;
        value = env_.read_file ? env_.read_file(p) : std::nullopt;
        if (!value) {
          error(n, "cannot read secret file '" + arg + "'", "check that the file exists and is readable");
          continue;
        }
        while (!value->empty() && (value->back() == '\n' || value->back() == '\r')) value->pop_back();
      }
      if (!value->empty()) secrets_.push_back(*value);
      out += *value;
    }
    out += text.substr(last);
    return out;
  }

  std::string file_;
  fs::path dir_;
  const Environment& env_;
  std::vector<Diagnostic>& diags_;
  std::vector<std::string>& secrets_;
};

std::optional<YAML::Node> load_yaml(const fs::path& path, const std::string& shown, std::vector<Diagnostic>& diags) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diags.push_back({Diagnostic::Severity::Error, {shown, 0, 0}, "cannot read file", "check that it exists and is readable"});
    return std::nullopt;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  if (text.size() > 8 * 1024 * 1024) {
    diags.push_back({Diagnostic::Severity::Error, {shown, 0, 0}, "file is larger than 8 MiB", "split it up"});
    return std::nullopt;
  }
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    diags.push_back({Diagnostic::Severity::Error,
                     {shown, e.mark.line + 1, e.mark.column + 1},
                     "YAML syntax error: " + e.msg,
                     "check indentation and quoting near this position"});
  } catch (const std::exception& e) {
    diags.push_back({Diagnostic::Severity::Error, {shown, 0, 0}, std::string("cannot parse YAML: ") + e.what(), ""});
  }
  return std::nullopt;
}

// "order_date" -> "Order date": the default label of a column or measure name.
std::string humanize(const std::string& name) {
  std::string out;
  for (char c : name) out += (c == '_') ? ' ' : c;
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

std::string derive_name(const std::string& expr) {
  std::string out;
  for (char c : expr) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!out.empty() && out.back() != '_')
      out += '_';
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  if (out.empty()) out = "value";
  if (std::isdigit(static_cast<unsigned char>(out[0]))) out = "v_" + out;
  return out.substr(0, 63);
}

class ProjectParser {
 public:
  ProjectParser(const fs::path& dir, const Environment& env, LoadResult& result) : dir_(dir), env_(env), result_(result) {}

  void run() {
    fs::path file = dir_ / "sightline.yaml";
    Project p;
    p.dir = dir_;
    if (!fs::exists(file)) {
      result_.diagnostics.push_back({Diagnostic::Severity::Error,
                                     {"sightline.yaml", 0, 0},
                                     "no sightline.yaml in " + dir_.string(),
                                     "a project is a folder with a sightline.yaml; see docs/project-format.md"});
      return;
    }
    p.files.push_back(file);
    auto root = load_yaml(file, "sightline.yaml", result_.diagnostics);
    if (!root) return;
    Reader r("sightline.yaml", dir_, env_, result_.diagnostics, p.secret_values);
    if (!r.is_map(*root, "sightline.yaml")) return;
    r.check_keys(*root, {"name", "timezone", "engine", "object_stores", "sources", "models", "dashboards", "auth", "roles", "policies"},
                 "sightline.yaml");
    p.name = r.str((*root)["name"], "name", dir_.filename().string());
    if (const YAML::Node tz = (*root)["timezone"]) {
      p.timezone = r.str(tz, "timezone", "UTC");
      p.timezone_pos = r.pos(tz);
      // The engine knows the zones; here only the shape (a name like Europe/Berlin, UTC, Etc/GMT+5).
      static const std::regex shape(R"([A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*)");
      if (!std::regex_match(p.timezone, shape))
        r.error(tz, "timezone must be an IANA time zone name such as UTC or Europe/Berlin, got '" + p.timezone.substr(0, 64) + "'");
    }
    parse_engine(r, (*root)["engine"], p.engine);
    parse_object_stores(r, (*root)["object_stores"], p);
    parse_sources(r, (*root)["sources"], p);
    parse_models(r, (*root)["models"], p);
    parse_auth(r, (*root)["auth"], p.auth);
    parse_roles(r, (*root)["roles"], p);
    parse_policies(r, (*root)["policies"], p);
    parse_dashboards(r, (*root)["dashboards"], p);
    check_role_references(r, p);
    if (p.auth.enabled()) {
      for (const auto& rel : relation_names(p)) {
        bool covered = std::any_of(p.policies.begin(), p.policies.end(), [&](const PolicySpec& x) { return x.relation == rel; });
        if (!covered)
          r.warning((*root)["policies"] ? (*root)["policies"] : (*root)["auth"],
                    "'" + rel + "' has no row policy: with auth on, nobody sees its rows",
                    "add policies: " + rel + ": { <role>: all }, or a condition per role");
      }
    } else if (!p.policies.empty() || !p.roles.empty()) {
      r.warning((*root)["policies"] ? (*root)["policies"] : (*root)["roles"],
                "roles and policies apply only when auth.mode is oidc or proxy", "with auth.mode none every visitor sees every row");
    }
    bool errors = std::any_of(result_.diagnostics.begin(), result_.diagnostics.end(),
                              [](const Diagnostic& d) { return d.severity == Diagnostic::Severity::Error; });
    redact_secrets(result_.diagnostics, p.secret_values);
    if (!errors) result_.project = std::move(p);
  }

 private:
  void parse_engine(Reader& r, const YAML::Node& n, EngineSpec& e) {
    if (!n) return;
    if (!r.is_map(n, "engine")) return;
    r.check_keys(n, {"threads", "memory_limit", "max_spill", "query_timeout", "max_rows", "pool_size", "max_export_rows",
                       "export_timeout"},
                  "engine");
    if (n["threads"]) e.threads = static_cast<int>(r.integer(n["threads"], "engine.threads", 1, 256).value_or(0));
    // A size as DuckDB reads it: 4GB, 512MB, 1.5GiB.
    auto size = [&](const char* key, std::string& out) {
      out = r.str(n[key], std::string("engine.") + key);
      static const std::regex re(R"(\s*[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*)", std::regex::icase);
      if (!out.empty() && !std::regex_match(out, re))
        r.error(n[key], std::string("engine.") + key + " must look like 4GB or 512MB, got '" + out + "'");
    };
    size("memory_limit", e.memory_limit);
    size("max_spill", e.max_spill);
    if (n["query_timeout"]) e.query_timeout_ms = r.duration_ms(n["query_timeout"], "engine.query_timeout").value_or(e.query_timeout_ms);
    if (n["max_rows"]) e.max_rows = r.integer(n["max_rows"], "engine.max_rows", 1, 10'000'000).value_or(e.max_rows);
    if (n["max_export_rows"])
      e.max_export_rows = r.integer(n["max_export_rows"], "engine.max_export_rows", 1, 100'000'000).value_or(e.max_export_rows);
    if (n["export_timeout"])
      e.export_timeout_ms = r.duration_ms(n["export_timeout"], "engine.export_timeout").value_or(e.export_timeout_ms);
    if (n["pool_size"]) e.pool_size = static_cast<int>(r.integer(n["pool_size"], "engine.pool_size", 1, 256).value_or(0));
  }

  // A list of names, or one name.
  std::vector<std::string> string_list(Reader& r, const YAML::Node& n, const std::string& what) {
    std::vector<std::string> out;
    if (!n || n.IsNull()) return out;
    if (n.IsScalar()) {
      out.push_back(r.str(n, what));
    } else if (n.IsSequence()) {
      for (const auto& e : n) out.push_back(r.str(e, what));
    } else {
      r.error(n, what + " must be a list");
    }
    return out;
  }

  // A secret written into the YAML itself ends up in git: say so (check and serve print it).
  void warn_if_literal_secret(Reader& r, const YAML::Node& n, const std::string& what) {
    if (n && n.IsScalar() && !n.Scalar().empty() && n.Scalar().find("${") == std::string::npos) {
      r.warning(n, what + " is written into the YAML file", "use ${env:NAME} or ${file:PATH} so the secret stays out of git");
    }
  }

  static bool loopback_url(const std::string& url) {
    static const std::regex re(R"(^https?://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?(/.*)?$)", std::regex::icase);
    return std::regex_match(url, re);
  }

  void parse_auth(Reader& r, const YAML::Node& n, AuthSpec& a) {
    if (!n) return;
    if (!r.is_map(n, "auth")) return;
    a.pos = r.pos(n);
    r.check_keys(n, {"mode", "public_url", "session", "oidc", "proxy", "tokens_file", "allow_remote", "frame_ancestors", "limits",
                     "forwarded_by"},
                 "auth");
    std::string mode = r.str(n["mode"], "auth.mode", "none");
    if (mode == "none")
      a.mode = AuthMode::None;
    else if (mode == "oidc")
      a.mode = AuthMode::Oidc;
    else if (mode == "proxy")
      a.mode = AuthMode::Proxy;
    else {
      r.error(n["mode"], "unknown auth mode '" + mode + "'", "use none, oidc or proxy");
      return;
    }
    a.public_url = r.str(n["public_url"], "auth.public_url");
    while (!a.public_url.empty() && a.public_url.back() == '/') a.public_url.pop_back();
    if (!a.public_url.empty()) {
      static const std::regex url(R"(^https?://[A-Za-z0-9.\-\[\]:]+$)", std::regex::icase);
      if (!std::regex_match(a.public_url, url)) {
        r.error(n["public_url"], "auth.public_url must be scheme://host[:port], got '" + a.public_url + "'",
                "e.g. https://dashboards.example.com (no path)");
      }
    }
    if (n["allow_remote"]) a.allow_remote = r.boolean(n["allow_remote"], "auth.allow_remote").value_or(false);
    a.tokens_file = r.str(n["tokens_file"], "auth.tokens_file", a.tokens_file);
    for (const auto& origin : string_list(r, n["frame_ancestors"], "auth.frame_ancestors")) {
      static const std::regex re(R"(^(https?://[A-Za-z0-9.\-*]+(:[0-9]+)?|'self')$)", std::regex::icase);
      if (!std::regex_match(origin, re)) {
        r.error(n["frame_ancestors"], "auth.frame_ancestors: '" + origin + "' is not an origin",
                "e.g. https://intranet.example.com or 'self'");
        continue;
      }
      a.frame_ancestors.push_back(origin);
    }
    for (const auto& cidr : string_list(r, n["forwarded_by"], "auth.forwarded_by")) {
      static const std::regex re(R"(^([0-9.]+|[0-9A-Fa-f:]+)(/[0-9]{1,3})?$)");
      if (!std::regex_match(cidr, re)) {
        r.error(n["forwarded_by"], "'" + cidr + "' is not an address or CIDR block", "e.g. 10.0.0.0/8 (your load balancer)");
        continue;
      }
      a.forwarded_by.push_back(cidr);
    }
    if (const auto& l = n["limits"]) {
      if (r.is_map(l, "auth.limits")) {
        r.check_keys(l, {"sign_in_per_minute", "concurrent_queries_per_user"}, "auth.limits");
        if (l["sign_in_per_minute"])
          a.sign_in_per_minute =
              static_cast<int>(r.integer(l["sign_in_per_minute"], "auth.limits.sign_in_per_minute", 1, 100'000).value_or(30));
        if (l["concurrent_queries_per_user"])
          a.concurrent_queries_per_user =
              static_cast<int>(r.integer(l["concurrent_queries_per_user"], "auth.limits.concurrent_queries_per_user", 1, 1000).value_or(8));
      }
    }
    if (const auto& sn = n["session"]) {
      if (r.is_map(sn, "auth.session")) {
        r.check_keys(sn, {"secret", "idle_timeout", "absolute_timeout"}, "auth.session");
        warn_if_literal_secret(r, sn["secret"], "auth.session.secret");
        a.session_secret = r.str(sn["secret"], "auth.session.secret");
        if (sn["idle_timeout"])
          a.idle_timeout_ms = r.duration_ms(sn["idle_timeout"], "auth.session.idle_timeout").value_or(a.idle_timeout_ms);
        if (sn["absolute_timeout"])
          a.absolute_timeout_ms = r.duration_ms(sn["absolute_timeout"], "auth.session.absolute_timeout").value_or(a.absolute_timeout_ms);
      }
    }
    if (a.mode == AuthMode::Oidc) {
      const auto& o = n["oidc"];
      if (!o) {
        r.error(n, "auth mode oidc needs an oidc: section", "give issuer, client_id and (for confidential clients) client_secret");
        return;
      }
      if (!r.is_map(o, "auth.oidc")) return;
      r.check_keys(o, {"issuer", "client_id", "client_secret", "scopes", "claims"}, "auth.oidc");
      a.oidc.issuer = r.str(o["issuer"], "auth.oidc.issuer");
      a.oidc.client_id = r.str(o["client_id"], "auth.oidc.client_id");
      warn_if_literal_secret(r, o["client_secret"], "auth.oidc.client_secret");
      a.oidc.client_secret = r.str(o["client_secret"], "auth.oidc.client_secret");
      if (a.oidc.issuer.empty())
        r.error(o, "auth.oidc.issuer is missing", "the provider's issuer URL, e.g. https://login.example.com/realms/acme");
      else if (!a.oidc.issuer.starts_with("https://") && !loopback_url(a.oidc.issuer))
        r.error(o["issuer"], "auth.oidc.issuer must be an https URL, got '" + a.oidc.issuer + "'",
                "plain http is accepted only for a provider on this machine (loopback)");
      if (a.oidc.client_id.empty()) r.error(o, "auth.oidc.client_id is missing");
      if (o["scopes"]) {
        a.oidc.scopes = string_list(r, o["scopes"], "auth.oidc.scopes");
        if (std::find(a.oidc.scopes.begin(), a.oidc.scopes.end(), "openid") == a.oidc.scopes.end())
          r.error(o["scopes"], "auth.oidc.scopes must include openid");
      }
      if (const auto& c = o["claims"]) {
        if (r.is_map(c, "auth.oidc.claims")) {
          r.check_keys(c, {"email", "name", "groups"}, "auth.oidc.claims");
          a.oidc.email_claim = r.str(c["email"], "auth.oidc.claims.email", a.oidc.email_claim);
          a.oidc.name_claim = r.str(c["name"], "auth.oidc.claims.name", a.oidc.name_claim);
          a.oidc.groups_claim = r.str(c["groups"], "auth.oidc.claims.groups", a.oidc.groups_claim);
        }
      }
      if (a.public_url.empty())
        r.error(n, "auth mode oidc needs auth.public_url",
                "the URL browsers use to reach Sightline; the redirect URI is <public_url>/auth/callback");
    } else if (n["oidc"]) {
      r.warning(n["oidc"], "auth.oidc is ignored: auth.mode is " + mode);
    }
    if (a.mode == AuthMode::Proxy) {
      const auto& px = n["proxy"];
      if (!px || !r.is_map(px, "auth.proxy")) {
        if (!px) r.error(n, "auth mode proxy needs a proxy: section", "list trusted_proxies: the addresses of the authenticating proxy");
        return;
      }
      r.check_keys(px, {"trusted_proxies", "headers"}, "auth.proxy");
      for (const auto& cidr : string_list(r, px["trusted_proxies"], "auth.proxy.trusted_proxies")) {
        static const std::regex re(R"(^([0-9.]+|[0-9A-Fa-f:]+)(/[0-9]{1,3})?$)");
        if (!std::regex_match(cidr, re)) {
          r.error(px["trusted_proxies"], "'" + cidr + "' is not an address or CIDR block", "e.g. 10.0.0.0/8 or 127.0.0.1");
          continue;
        }
        a.proxy.trusted_proxies.push_back(cidr);
      }
      if (a.proxy.trusted_proxies.empty())
        r.error(px, "auth.proxy.trusted_proxies is empty", "identity headers are only believed from these addresses");
      if (const auto& h = px["headers"]) {
        if (r.is_map(h, "auth.proxy.headers")) {
          r.check_keys(h, {"user", "email", "name", "groups"}, "auth.proxy.headers");
          auto header = [&](const char* key, std::string& out) {
            std::string v = r.str(h[key], std::string("auth.proxy.headers.") + key, out);
            std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
            out = v;
          };
          header("user", a.proxy.user_header);
          header("email", a.proxy.email_header);
          header("name", a.proxy.name_header);
          header("groups", a.proxy.groups_header);
        }
      }
    } else if (n["proxy"]) {
      r.warning(n["proxy"], "auth.proxy is ignored: auth.mode is " + mode);
    }
    if (a.mode == AuthMode::Oidc) {
      // Sessions are keyed with the secret: a missing, short or placeholder one is refused.
      const YAML::Node& at = n["session"] && n["session"]["secret"] ? n["session"]["secret"] : n;
      if (a.session_secret.empty()) {
        r.error(at, "auth.session.secret is missing",
                "set it from a secret store: secret: ${env:SIGHTLINE_SESSION_SECRET} (32+ random characters)");
      } else if (a.session_secret.size() < kMinSecretLength) {
        r.error(at,
                "auth.session.secret is too short (" + std::to_string(a.session_secret.size()) + " characters; at least " +
                    std::to_string(kMinSecretLength) + ")",
                "generate one with: openssl rand -base64 48");
      } else {
        std::set<char> distinct(a.session_secret.begin(), a.session_secret.end());
        std::string lower = a.session_secret;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        bool placeholder = distinct.size() < 8 || lower.find("changeme") != std::string::npos ||
                           lower.find("change-me") != std::string::npos || lower.find("secret") != std::string::npos ||
                           lower.find("example") != std::string::npos;
        if (placeholder)
          r.error(at, "auth.session.secret looks like a placeholder, not a random key", "generate one with: openssl rand -base64 48");
      }
    }
  }

  void parse_roles(Reader& r, const YAML::Node& n, Project& p) {
    if (!n) return;
    if (!r.is_map(n, "roles")) return;
    for (auto it = n.begin(); it != n.end(); ++it) {
      RoleSpec role;
      role.name = it->first.Scalar();
      role.pos = r.pos(it->first);
      if (!valid_id(role.name)) {
        r.error(it->first, "role name '" + role.name + "' is not valid", "use letters, digits, _ and -");
        continue;
      }
      const YAML::Node& body = it->second;
      if (body && !body.IsNull()) {
        if (!r.is_map(body, "role '" + role.name + "'")) continue;
        r.check_keys(body, {"groups"}, "role '" + role.name + "'");
        role.groups = string_list(r, body["groups"], "roles." + role.name + ".groups");
      }
      p.roles.push_back(std::move(role));
    }
  }

  bool has_role(const Project& p, const std::string& name) const {
    return std::any_of(p.roles.begin(), p.roles.end(), [&](const RoleSpec& r) { return r.name == name; });
  }
  std::string role_hint(const Project& p, const std::string& name) const {
    std::string best, all;
    size_t best_d = 3;
    for (const auto& r : p.roles) {
      all += (all.empty() ? "" : ", ") + r.name;
      size_t d = edit_distance(name, r.name);
      if (d < best_d) best_d = d, best = r.name;
    }
    if (!best.empty()) return "did you mean '" + best + "'?";
    return all.empty() ? "define roles: in sightline.yaml" : "roles: " + all;
  }

  void parse_policies(Reader& r, const YAML::Node& n, Project& p) {
    if (!n) return;
    if (!r.is_map(n, "policies")) return;
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string relation = it->first.Scalar();
      if (!has_relation(p, relation)) {
        r.error(it->first, "policies: unknown source or model '" + relation + "'", suggest_relation(p, relation));
        continue;
      }
      if (!r.is_map(it->second, "policies for '" + relation + "'")) continue;
      for (auto jt = it->second.begin(); jt != it->second.end(); ++jt) {
        PolicySpec policy;
        policy.relation = relation;
        policy.role = jt->first.Scalar();
        policy.pos = r.pos(jt->second);
        if (!has_role(p, policy.role)) {
          r.error(jt->first, "policies." + relation + ": unknown role '" + policy.role + "'", role_hint(p, policy.role));
          continue;
        }
        std::string text = r.str(jt->second, "policies." + relation + "." + policy.role);
        std::string trimmed = text;
        trimmed.erase(0, trimmed.find_first_not_of(" \t\n"));
        trimmed.erase(trimmed.find_last_not_of(" \t\n;") + 1);
        std::string lower = trimmed;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        if (lower == "all" || lower == "true") {
          policy.all_rows = true;
        } else if (trimmed.empty()) {
          r.error(jt->second, "policies." + relation + "." + policy.role + " is empty",
                  "write a SQL condition, e.g. region = 'North', or `all` for every row");
          continue;
        } else {
          static const std::regex quoted(R"(['"]\s*\{\{|\}\}\s*['"])");
          if (std::regex_search(trimmed, quoted)) {
            r.error(jt->second, "policies." + relation + "." + policy.role + ": a {{ user.* }} placeholder inside quotes",
                    "placeholders are bound values, not text: write owner = {{ user.email }} without quotes");
            continue;
          }
          policy.predicate = trimmed;
        }
        p.policies.push_back(std::move(policy));
      }
    }
  }

  // Roles named by dashboards, pages and widgets must exist: a typo would hide them from everyone.
  void check_role_references(Reader& r, const Project& p) {
    (void)r;
    auto check = [&](const std::vector<std::string>& roles, const std::string& file, const Position& pos, const std::string& what) {
      for (const auto& name : roles) {
        if (has_role(p, name)) continue;
        result_.diagnostics.push_back({Diagnostic::Severity::Error, pos.file.empty() ? Position{file, 0, 0} : pos,
                                       what + ": unknown role '" + name + "'", role_hint(p, name)});
      }
    };
    for (const auto& s : p.sources) {
      if (s.refresh) check(s.refresh->roles, "sightline.yaml", s.refresh->pos, "source '" + s.name + "' refresh");
      if (s.ingest) check(s.ingest->roles, "sightline.yaml", s.ingest->pos, "source '" + s.name + "' ingest");
    }
    for (const auto& d : p.dashboards) {
      check(d.roles, d.file, d.pos, "dashboard '" + d.id + "'");
      for (const auto& pg : d.pages) {
        check(pg.roles, d.file, d.pos, "page '" + pg.id + "'");
        for (const auto& w : pg.widgets) check(w.roles, d.file, w.pos, "widget '" + w.id + "'");
      }
    }
  }

  // mqtt: { url, topic, client_id, batch, session_expiry, topic_column }
  void parse_mqtt(Reader& r, const YAML::Node& v, const YAML::Node& mq, const std::string& what, const std::string& project_name,
                  SourceSpec& s) {
    r.check_keys(mq, {"url", "topic", "client_id", "batch", "session_expiry", "topic_column"}, what + " mqtt");
    MqttSpec spec;
    spec.pos = r.pos(mq);
    spec.url = r.str(mq["url"], what + " mqtt.url");
    spec.topic = r.str(mq["topic"], what + " mqtt.topic");
    spec.client_id = r.str(mq["client_id"], what + " mqtt.client_id", "sightline-" + project_name + "-" + s.name);
    if (mq["batch"]) spec.batch = r.integer(mq["batch"], what + " mqtt.batch", 1, 65'535).value_or(1000);
    if (mq["session_expiry"])
      spec.session_expiry_s = r.long_duration_ms(mq["session_expiry"], what + " mqtt.session_expiry", 60'000, 4'294'967'000LL * 1000)
                                  .value_or(spec.session_expiry_s * 1000) / 1000;
    spec.topic_column = r.str(mq["topic_column"], what + " mqtt.topic_column");
    if (auto address = parse_mqtt_url(spec.url); !address)
      r.error(mq["url"] ? mq["url"] : mq, what + " mqtt.url: " + address.error().message,
              "e.g. mqtt://127.0.0.1:1883 or mqtt://user:password@broker:1883; keep a password out of the file: url: ${env:MQTT_URL}");
    if (spec.url.find('@') != std::string::npos) warn_if_literal_secret(r, mq["url"], what + " mqtt.url");
    if (spec.topic.empty()) r.error(mq, what + " mqtt: names no topic", "e.g. mqtt: { url: mqtt://127.0.0.1:1883, topic: sensors/+/reading }");
    if (const std::string why = mqtt_filter_problem(spec.topic); !spec.topic.empty() && !why.empty())
      r.error(mq["topic"], what + " mqtt.topic: " + why, "+ matches one level, # all levels below and comes last, e.g. sensors/+/reading or sensors/#");
    if (spec.client_id.empty() || spec.client_id.size() > 128)
      r.error(mq["client_id"] ? mq["client_id"] : mq, what + " mqtt.client_id must have 1 to 128 characters");
    if (v["ingest"] || v["redis"])
      r.error(mq, what + " reads an MQTT topic and cannot also receive rows otherwise (ingest: or redis:)", "keep one of them");
    if (v["mode"] && s.mode != SourceMode::Append) r.error(v["mode"], what + " reads a stream: its mode is append", "remove mode:");
    s.mode = SourceMode::Append;
    s.mqtt = std::move(spec);
  }

  // Why `filter` is not a valid MQTT topic filter ("" when it is).
  static std::string mqtt_filter_problem(const std::string& filter) {
    if (filter.size() > 65'535) return "is longer than 65,535 bytes";
    if (filter.find('\0') != std::string::npos) return "holds a NUL character";
    size_t start = 0;
    for (;;) {
      const size_t end = filter.find('/', start);
      const std::string level = filter.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (level.find_first_of("+#") != std::string::npos && level.size() > 1) return "a wildcard (+ or #) must fill a whole level";
      if (level == "#" && end != std::string::npos) return "# must be the last level";
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return "";
  }

  // mode: append | replace, ingest: { roles: [...] }, redis: {...}, mqtt: {...}, columns: { name: TYPE, ... }, keep: 7d
  void parse_append(Reader& r, const YAML::Node& v, SourceSpec& s, const std::string& project_name) {
    const std::string what = "source '" + s.name + "'";
    if (const auto& m = v["mode"]) {
      const std::string mode = r.str(m, "mode");
      if (mode == "append")
        s.mode = SourceMode::Append;
      else if (mode != "replace")
        r.error(m, "unknown mode '" + mode + "'", "use append (keep rows, read only new files) or replace (read everything again)");
    }
    if (const auto& in = v["ingest"]) {
      if (in.IsScalar() && in.Scalar() == "true") {
        s.ingest = IngestSpec{{}, r.pos(in)};
      } else if (r.is_map(in, what + " ingest")) {
        r.check_keys(in, {"roles"}, what + " ingest");
        s.ingest = IngestSpec{string_list(r, in["roles"], what + " ingest.roles"), r.pos(in)};
      }
      if (s.ingest) {
        if (v["mode"] && s.mode != SourceMode::Append) r.error(v["mode"], what + " receives rows: its mode is append", "remove mode:");
        s.mode = SourceMode::Append;
      }
    }
    if (const auto& rd = v["redis"]; rd && r.is_map(rd, what + " redis")) {
      r.check_keys(rd, {"url", "stream", "group", "batch"}, what + " redis");
      RedisSpec spec;
      spec.pos = r.pos(rd);
      spec.url = r.str(rd["url"], what + " redis.url");
      spec.stream = r.str(rd["stream"], what + " redis.stream");
      if (rd["group"]) spec.group = r.str(rd["group"], what + " redis.group");
      if (rd["batch"]) spec.batch = r.integer(rd["batch"], what + " redis.batch", 1, 100'000).value_or(1000);
      if (auto address = parse_redis_url(spec.url); !address)
        r.error(rd["url"] ? rd["url"] : rd, what + " redis.url: " + address.error().message,
                "e.g. redis://127.0.0.1:6379 or redis://:password@host:6379/0; keep a password out of the file: url: ${env:REDIS_URL}");
      if (spec.url.find('@') != std::string::npos) warn_if_literal_secret(r, rd["url"], what + " redis.url");
      if (spec.stream.empty()) r.error(rd, what + " redis: names no stream", "e.g. redis: { url: redis://127.0.0.1:6379, stream: clicks }");
      if (spec.group.empty()) r.error(rd["group"], what + " redis.group must not be empty");
      if (v["ingest"]) r.error(rd, what + " cannot both receive rows over HTTP (ingest:) and read a Redis stream", "keep one of them");
      if (v["mode"] && s.mode != SourceMode::Append) r.error(v["mode"], what + " reads a stream: its mode is append", "remove mode:");
      s.mode = SourceMode::Append;
      s.redis = std::move(spec);
    }
    if (const auto& mq = v["mqtt"]; mq && r.is_map(mq, what + " mqtt")) parse_mqtt(r, v, mq, what, project_name, s);
    if (const auto& c = v["columns"]; c && r.is_map(c, what + " columns")) {
      static const std::regex type_re(R"([A-Za-z][A-Za-z0-9_ ]*(\(\s*[0-9]+\s*(,\s*[0-9]+\s*)?\))?)");
      for (auto ci = c.begin(); ci != c.end(); ++ci) {
        const std::string name = ci->first.Scalar();
        const std::string type = r.str(ci->second, "type");
        if (name.empty() || name.starts_with("__sightline")) {
          r.error(ci->first, "'" + name + "' cannot be a column name", "names starting with __sightline are Sightline's own");
          continue;
        }
        if (!std::regex_match(type, type_re)) {
          const bool cut = type.find('(') != std::string::npos && type.find(')') == std::string::npos;
          r.error(ci->second, "'" + type + "' is not a SQL type",
                  cut ? "inside { } a comma ends the value: quote the type, e.g. amount: \"DECIMAL(12,2)\""
                      : "e.g. BIGINT, VARCHAR, TIMESTAMPTZ, \"DECIMAL(12,2)\"");
          continue;
        }
        s.columns.emplace_back(name, type);
      }
      if (!v["ingest"] && !v["redis"] && !v["mqtt"])
        r.error(c, what + ": columns: declares the schema of rows received over HTTP or from a stream", "add ingest: { roles: [...] }");
    }
    if (const auto& k = v["keep"]) {
      s.keep_ms = r.long_duration_ms(k, what + ".keep", 60'000, 36500LL * 86'400'000);
      if (s.mode != SourceMode::Append) r.error(k, what + ": keep: applies to sources that append", "add mode: append");
    }
    if (s.mqtt && !s.mqtt->topic_column.empty()) {
      const auto& tc = s.mqtt->topic_column;
      auto col = std::find_if(s.columns.begin(), s.columns.end(), [&](const auto& c) { return c.first == tc; });
      if (col == s.columns.end())
        r.error(v["mqtt"]["topic_column"], what + " mqtt.topic_column: '" + tc + "' is not one of its columns", "declare it, e.g. " + tc + ": VARCHAR");
      else if (!std::regex_match(col->second, std::regex("(?:VARCHAR|TEXT|STRING)", std::regex::icase)))
        r.error(v["mqtt"]["topic_column"], what + " mqtt.topic_column: '" + tc + "' is " + col->second + "; a topic is text", "declare it as VARCHAR");
    }
  }

  // refresh: { every: 5m, cron: "0 6 * * *", on_change: true, debounce: 2s, roles: [admin] }
  std::optional<RefreshSpec> parse_refresh(Reader& r, const YAML::Node& n, const std::string& what) {
    if (!r.is_map(n, what)) return std::nullopt;
    r.check_keys(n, {"every", "cron", "on_change", "debounce", "poll", "roles"}, what);
    RefreshSpec spec;
    spec.pos = r.pos(n);
    if (const auto& e = n["every"]) {
      spec.every_ms = r.long_duration_ms(e, what + ".every", 1000, 31LL * 24 * 3600 * 1000);
      if (!spec.every_ms) return std::nullopt;
    }
    if (const auto& c = n["cron"]) {
      spec.cron = r.str(c, what + ".cron");
      if (auto parsed = CronSchedule::parse(spec.cron); !parsed) {
        r.error(c, what + ".cron: " + parsed.error().message, "five fields: minute hour day-of-month month day-of-week, e.g. \"0 6 * * *\"");
        return std::nullopt;
      }
    }
    if (n["on_change"]) spec.on_change = r.boolean(n["on_change"], what + ".on_change").value_or(false);
    if (const auto& d = n["debounce"]) {
      auto ms = r.long_duration_ms(d, what + ".debounce", 0, 3600 * 1000);
      if (!ms) return std::nullopt;
      spec.debounce_ms = *ms;
      if (!spec.on_change) r.warning(d, what + ".debounce only applies with on_change: true");
    }
    if (const auto& pl = n["poll"]) {
      auto ms = r.long_duration_ms(pl, what + ".poll", 1000, 24LL * 3600 * 1000);
      if (!ms) return std::nullopt;
      spec.poll_ms = *ms;
      spec.poll_set = true;
      if (!spec.on_change) r.warning(pl, what + ".poll only applies with on_change: true");
    }
    spec.roles = string_list(r, n["roles"], what + ".roles");
    return spec;
  }

  // checks: [{ not_null: id, severity: error }, { unique: [a, b] }, { range: { column: x, min: 0 } }, ...]
  // Only the shape is checked here; columns, types and patterns are checked against the engine
  // when it is built (engine/data_checks.h: validate_checks).
  std::vector<CheckSpec> parse_checks(Reader& r, const YAML::Node& n, const std::string& source) {
    std::vector<CheckSpec> out;
    const std::string what = "source '" + source + "' checks";
    if (!n.IsSequence()) {
      r.error(n, what + " must be a list of rules", "e.g. checks: [{ not_null: order_id }, { unique: order_id }]");
      return out;
    }
    for (const auto& entry : n)
      if (auto c = parse_check(r, entry, what)) out.push_back(std::move(*c));
    return out;
  }

  std::optional<CheckSpec> parse_check(Reader& r, const YAML::Node& n, const std::string& what) {
    using Parse = bool (ProjectParser::*)(Reader&, const YAML::Node&, CheckSpec&, const std::string&);
    struct Rule {
      const char* name;
      CheckKind kind;
      CheckSeverity severity;  // the default (config/project.h says why)
      Parse parse;
    };
    static constexpr Rule kRules[] = {
        {"not_null", CheckKind::NotNull, CheckSeverity::Error, &ProjectParser::parse_not_null},
        {"unique", CheckKind::Unique, CheckSeverity::Error, &ProjectParser::parse_unique},
        {"accepted_values", CheckKind::AcceptedValues, CheckSeverity::Warn, &ProjectParser::parse_accepted_values},
        {"range", CheckKind::Range, CheckSeverity::Warn, &ProjectParser::parse_range},
        {"regex", CheckKind::Regex, CheckSeverity::Warn, &ProjectParser::parse_regex},
        {"row_count", CheckKind::RowCount, CheckSeverity::Warn, &ProjectParser::parse_row_count},
        {"freshness", CheckKind::Freshness, CheckSeverity::Warn, &ProjectParser::parse_freshness},
        {"schema", CheckKind::Schema, CheckSeverity::Error, &ProjectParser::parse_schema},
    };
    if (!r.is_map(n, what + " entry")) return std::nullopt;
    r.check_keys(n, {"not_null", "unique", "accepted_values", "range", "regex", "row_count", "freshness", "schema", "severity"},
                 what + " entry");
    const Rule* rule = nullptr;
    int rules = 0;
    for (const auto& candidate : kRules)
      if (n[candidate.name]) rules++, rule = rule ? rule : &candidate;
    if (rules != 1) {
      r.error(n, what + ": an entry must name exactly one rule, this one names " + std::to_string(rules),
              "rules: not_null, unique, accepted_values, range, regex, row_count, freshness, schema; e.g. - { not_null: order_id }");
      return std::nullopt;
    }
    CheckSpec c;
    c.kind = rule->kind;
    c.severity = rule->severity;
    c.pos = r.pos(n);
    if (!(this->*rule->parse)(r, n[rule->name], c, what + " " + rule->name)) return std::nullopt;
    if (const auto& s = n["severity"]) {
      const std::string level = r.str(s, what + " severity");
      if (level != "warn" && level != "error") {
        r.error(s, what + ": severity must be warn or error, got '" + level.substr(0, 32) + "'");
        return std::nullopt;
      }
      c.severity = level == "warn" ? CheckSeverity::Warn : CheckSeverity::Error;
    }
    return c;
  }

  // One column name (a scalar) into c.columns; `where` is pointed at when it is missing.
  bool take_column(Reader& r, const YAML::Node& n, const YAML::Node& where, CheckSpec& c, const std::string& what) {
    if (!n || n.IsNull()) {
      r.error(where, what + " names no column", "e.g. column: order_id");
      return false;
    }
    auto column = r.scalar(n, what + " column");
    if (!column) return false;
    if (column->empty()) {
      r.error(n, what + " names no column");
      return false;
    }
    c.columns.push_back(*column);
    c.column_pos.push_back(r.pos(n));
    return true;
  }

  // A rule written as a mapping of the given keys; false (reported) otherwise.
  bool rule_map(Reader& r, const YAML::Node& n, std::initializer_list<const char*> keys, const std::string& what) {
    if (!r.is_map(n, what)) return false;
    r.check_keys(n, keys, what);
    return true;
  }

  bool parse_not_null(Reader& r, const YAML::Node& n, CheckSpec& c, const std::string& what) {
    if (!take_column(r, n, n, c, what)) return false;
    c.text = "not_null: " + c.columns[0];
    return true;
  }

  bool parse_unique(Reader& r, const YAML::Node& n, CheckSpec& c, const std::string& what) {
    if (n.IsSequence()) {
      for (const auto& e : n)
        if (!take_column(r, e, n, c, what)) return false;
    } else if (!take_column(r, n, n, c, what)) {
      return false;
    }
    if (c.columns.empty()) return r.error(n, what + " names no column"), false;
    std::set<std::string> seen(c.columns.begin(), c.columns.end());
    if (seen.size() != c.columns.size()) return r.error(n, what + " names a column twice"), false;
    std::string list;
    for (const auto& col : c.columns) list += (list.empty() ? "" : ", ") + col;
    c.text = "unique: " + (c.columns.size() == 1 ? list : "[" + list + "]");
    return true;
  }

  bool parse_accepted_values(Reader& r, const YAML::Node& n, CheckSpec& c, const std::string& what) {
    if (!rule_map(r, n, {"column", "values"}, what) || !take_column(r, n["column"], n, c, what)) return false;
    const YAML::Node& values = n["values"];
    if (!values || !values.IsSequence() || values.size() == 0 || values.size() > 1000) {
      r.error(values ? values : n, what + ".values must be a list of 1 to 1000 values", "e.g. values: [North, South]");
      return false;
    }
    for (const auto& v : values) {
      auto text = r.scalar(v, what + " value");
      if (!text) return false;
      c.values.push_back(*text);
      c.value_pos.push_back(r.pos(v));
    }
    c.text = "accepted_values: " + c.columns[0];
    return true;
  }

  bool parse_range(Reader& r, const YAML::Node& n, CheckSpec& c, const std::string& what) {
    if (!rule_map(r, n, {"column", "min", "max"}, what) || !take_column(r, n["column"], n, c, what)) return false;
    auto bound = [&](const char* key, std::optional<std::string>& out, Position& pos) {
      if (const auto& b = n[key]; b && !b.IsNull()) out = r.scalar(b, what + "." + key), pos = r.pos(b);
    };
    bound("min", c.min, c.min_pos);
    bound("max", c.max, c.max_pos);
    if (!c.min && !c.max) return r.error(n, what + " needs min, max or both", "e.g. range: { column: amount, min: 0 }"), false;
    c.text = "range: " + c.columns[0];
    return true;
  }

  bool parse_regex(Reader& r, const YAML::Node& n, CheckSpec& c, const std::string& what) {
    if (!rule_map(r, n, {"column", "pattern"}, what) || !take_column(r, n["column"], n, c, what)) return false;
    const YAML::Node& p = n["pattern"];
    auto pattern = p ? r.scalar(p, what + ".pattern") : std::nullopt;
    if (!pattern || pattern->empty()) {
      if (!p || pattern) r.error(p ? p : n, what + " needs a pattern", "e.g. pattern: '[A-Z]{2}-[0-9]+' (it must match the whole value)");
      return false;
    }
    if (std::any_of(pattern->begin(), pattern->end(), [](char ch) { return ch >= 0 && ch < 0x20 && ch != '\t'; })) {
      r.error(p, what + ".pattern holds a control character", "write \\n or \\x00 as the regular expression's own escapes");
      return false;
    }
    c.pattern = *pattern;
    c.pattern_pos = r.pos(p);
    c.text = "regex: " + c.columns[0];
    return true;
  }

  bool parse_row_count(Reader& r, const YAML::Node& n, CheckSpec& c, const std::string& what) {
    if (!rule_map(r, n, {"min", "max", "max_change"}, what)) return false;
    constexpr int64_t kMost = 1'000'000'000'000'000;
    if (n["min"]) c.min_rows = r.integer(n["min"], what + ".min", 0, kMost);
    if (n["max"]) c.max_rows = r.integer(n["max"], what + ".max", 0, kMost);
    if ((n["min"] && !c.min_rows) || (n["max"] && !c.max_rows)) return false;
    if (const auto& m = n["max_change"]) {
      auto text = r.scalar(m, what + ".max_change");
      if (!text) return false;
      static const std::regex fraction(R"([0-9]+(\.[0-9]+)?)");
      const double v = std::regex_match(*text, fraction) && text->size() < 16 ? std::stod(*text) : -1;
      if (v <= 0 || v > 1000) {
        r.error(m, what + ".max_change must be a fraction above 0, got '" + text->substr(0, 32) + "'",
                "0.5 allows the row count to change by at most 50 % against the previous version");
        return false;
      }
      c.max_change = v;
    }
    if (!c.min_rows && !c.max_rows && !c.max_change)
      return r.error(n, what + " needs min, max or max_change", "e.g. row_count: { min: 1000, max_change: 0.5 }"), false;
    if (c.min_rows && c.max_rows && *c.min_rows > *c.max_rows) return r.error(n, what + ": min is above max"), false;
    c.text = "row_count";
    return true;
  }

  bool parse_freshness(Reader& r, const YAML::Node& n, CheckSpec& c, const std::string& what) {
    if (!rule_map(r, n, {"column", "max_age"}, what) || !take_column(r, n["column"], n, c, what)) return false;
    if (!n["max_age"]) return r.error(n, what + " needs max_age", "e.g. max_age: 2d"), false;
    auto age = r.long_duration_ms(n["max_age"], what + ".max_age", 1000, 3650LL * 86'400'000);
    if (!age) return false;
    c.max_age_ms = *age;
    c.text = "freshness: " + c.columns[0];
    return true;
  }

  bool parse_schema(Reader& r, const YAML::Node& n, CheckSpec& c, const std::string& what) {
    if (!rule_map(r, n, {"columns", "extra"}, what)) return false;
    const YAML::Node& cols = n["columns"];
    if (!cols || !cols.IsMap() || cols.size() == 0)
      return r.error(cols ? cols : n, what + ".columns must map each expected column to its type", "e.g. columns: { order_id: BIGINT }"),
             false;
    static const std::regex type_re(R"([A-Za-z][A-Za-z0-9_ ]*(\(\s*[0-9]+\s*(,\s*[0-9]+\s*)?\))?(\[\])?)");
    for (auto it = cols.begin(); it != cols.end(); ++it) {
      auto type = r.scalar(it->second, what + " type");
      if (!type) return false;
      if (!std::regex_match(*type, type_re))
        return r.error(it->second, "'" + type->substr(0, 64) + "' is not a SQL type", "e.g. BIGINT, VARCHAR, DATE, DECIMAL(10,2)"), false;
      c.schema.emplace_back(it->first.Scalar(), *type);
      c.schema_pos.push_back(r.pos(it->second));
    }
    if (const auto& e = n["extra"]) {
      const std::string extra = r.str(e, what + ".extra");
      if (extra == "allow")
        c.extra = ExtraColumns::Allow;
      else if (extra == "warn")
        c.extra = ExtraColumns::Warn;
      else if (extra == "error")
        c.extra = ExtraColumns::Error;
      else
        return r.error(e, what + ".extra must be allow, warn or error, got '" + extra.substr(0, 32) + "'"), false;
    }
    c.text = "schema";
    return true;
  }

  // object_stores: { lake: { type: s3, endpoint: ..., region: ..., access_key_id: ${env:..}, ... },
  //                 blobs: { type: azure, account: ..., key: ${env:..} | sas: ${env:..} } }
  void parse_object_stores(Reader& r, const YAML::Node& n, Project& p) {
    if (!n || !r.is_map(n, "object_stores")) return;
    for (auto it = n.begin(); it != n.end(); ++it) {
      ObjectStoreSpec o;
      o.name = it->first.Scalar();
      o.pos = r.pos(it->first);
      const std::string what = "object store '" + o.name + "'";
      if (!valid_id(o.name)) {
        r.error(it->first, "object store name '" + o.name + "' is not a valid name", "use letters, digits and _");
        continue;
      }
      const YAML::Node& v = it->second;
      if (!r.is_map(v, what)) continue;
      const std::string type = r.str(v["type"], what + ".type");
      if (type == "s3") {
        o.kind = ObjectStoreKind::S3;
        r.check_keys(v, {"type", "endpoint", "region", "access_key_id", "secret_access_key", "session_token", "url_style", "max_cache",
                         "parallel", "ca_file"},
                     what);
        if (v["region"]) o.region = r.str(v["region"], what + ".region");
        warn_if_literal_secret(r, v["secret_access_key"], what + ".secret_access_key");
        o.access_key_id = r.str(v["access_key_id"], what + ".access_key_id");
        o.secret_access_key = r.str(v["secret_access_key"], what + ".secret_access_key");
        o.session_token = r.str(v["session_token"], what + ".session_token");
        if (o.access_key_id.empty() != o.secret_access_key.empty())
          r.error(v, what + " needs both access_key_id and secret_access_key (or neither, for public buckets)");
        static const std::regex region_re(R"([a-z0-9-]{1,32})");
        if (!std::regex_match(o.region, region_re))
          r.error(v["region"], what + ".region must look like eu-central-1, got '" + o.region.substr(0, 32) + "'");
      } else if (type == "azure") {
        o.kind = ObjectStoreKind::Azure;
        r.check_keys(v, {"type", "endpoint", "account", "key", "sas", "max_cache", "parallel", "ca_file"}, what);
        o.account = r.str(v["account"], what + ".account");
        warn_if_literal_secret(r, v["key"], what + ".key");
        warn_if_literal_secret(r, v["sas"], what + ".sas");
        o.account_key = r.str(v["key"], what + ".key");
        o.sas = r.str(v["sas"], what + ".sas");
        if (!o.sas.empty() && o.sas.front() == '?') o.sas.erase(0, 1);
        static const std::regex account_re(R"([a-z0-9]{3,24})");
        if (!std::regex_match(o.account, account_re))
          r.error(v["account"] ? v["account"] : v, what + ".account must be a storage account name (3-24 lowercase letters and digits)");
        if (!o.account_key.empty() && !o.sas.empty()) r.error(v["sas"], what + " has both key and sas", "keep one of them");
      } else {
        r.error(v["type"] ? v["type"] : v, what + ".type must be s3 or azure" + (type.empty() ? "" : ", got '" + type.substr(0, 32) + "'"));
        continue;
      }
      o.endpoint = r.str(v["endpoint"], what + ".endpoint");
      static const std::regex endpoint_re(R"(https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~\-/]*)?)", std::regex::icase);
      if (!o.endpoint.empty() && !std::regex_match(o.endpoint, endpoint_re))
        r.error(v["endpoint"], what + ".endpoint must be an http(s) URL such as https://s3.example.com or http://127.0.0.1:9000");
      while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
      if (o.endpoint.starts_with("http://") && !loopback_url(o.endpoint))
        r.warning(v["endpoint"], what + " talks plain http to a host beyond loopback", "use https so credentials and data are encrypted");
      if (v["url_style"]) {
        const std::string style = r.str(v["url_style"], what + ".url_style");
        if (style != "path" && style != "virtual") r.error(v["url_style"], what + ".url_style must be path or virtual");
        o.path_style = style == "path";
      } else {
        o.path_style = !o.endpoint.empty();  // S3-compatible servers mostly take the bucket in the path
      }
      if (const auto& mc = v["max_cache"]) {
        auto bytes = parse_byte_size(r.str(mc, what + ".max_cache"));
        if (!bytes || *bytes < (1LL << 20))
          r.error(mc, what + ".max_cache must be a size of at least 1MB, such as 20GB or 512MiB");
        else
          o.max_cache_bytes = *bytes;
      }
      if (v["parallel"]) o.parallel = static_cast<int>(r.integer(v["parallel"], what + ".parallel", 1, 64).value_or(4));
      if (const auto& ca = v["ca_file"]) {
        fs::path file = r.str(ca, what + ".ca_file");
        if (file.is_relative()) file = dir_ / file;
        std::error_code ec;
        if (!fs::is_regular_file(file, ec))
          r.error(ca, what + ".ca_file: no such file '" + r.str(ca, what + ".ca_file").substr(0, 128) + "'", "a PEM file of certificate authorities");
        else
          o.ca_file = file.lexically_normal().string();
      }
      p.object_stores.push_back(std::move(o));
    }
  }

  // s3://bucket/key-pattern or az://container/key-pattern, through `store:` (or the one store of
  // that kind). False when the source cannot be used.
  bool parse_object_source(Reader& r, const YAML::Node& v, SourceSpec& s, const Project& p) {
    const std::string what = "source '" + s.name + "'";
    const YAML::Node& at = v.IsMap() && v["path"] ? v["path"] : v;
    const ObjectStoreKind kind = *object_url_scheme(s.path);
    const std::string rest = s.path.substr(s.path.find("://") + 3);
    const auto slash = rest.find('/');
    ObjectSource o;
    o.container = rest.substr(0, slash);
    o.pattern = slash == std::string::npos ? "" : rest.substr(slash + 1);
    static const std::regex bucket_re(R"([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])");
    if (!std::regex_match(o.container, bucket_re)) {
      r.error(at, what + ": '" + o.container.substr(0, 64) + "' is not a " + (kind == ObjectStoreKind::S3 ? "bucket" : "container") + " name",
              "3-63 lowercase letters, digits, dots and dashes, e.g. s3://my-bucket/orders/**/*.parquet");
      return false;
    }
    if (o.pattern.empty() || o.pattern.back() == '/') o.pattern += s.format == SourceFormat::Parquet ? "**/*.parquet" : "**";
    for (size_t start = 0; start <= o.pattern.size();) {
      size_t end = o.pattern.find('/', start);
      if (end == std::string::npos) end = o.pattern.size();
      const std::string part = o.pattern.substr(start, end - start);
      if (part.empty() || part == "." || part == "..") {
        r.error(at, what + ": the key pattern '" + o.pattern.substr(0, 128) + "' has an empty, '.' or '..' part", "e.g. orders/**/*.parquet");
        return false;
      }
      start = end + 1;
    }
    if (s.receives_rows()) {
      r.error(at, what + " receives rows and reads no files");
      return false;
    }
    const ObjectStoreSpec* store = nullptr;
    if (v.IsMap() && v["store"]) {
      o.store = r.str(v["store"], what + ".store");
      store = p.find_object_store(o.store);
      if (!store) {
        std::string hint = "declare it under object_stores:";
        for (const auto& c : p.object_stores)
          if (edit_distance(c.name, o.store) <= 2) hint = "did you mean '" + c.name + "'?";
        r.error(v["store"], what + ": no object store '" + o.store + "'", hint);
        return false;
      }
      if (store->kind != kind) {
        r.error(v["store"], what + ": store '" + o.store + "' is " + (store->kind == ObjectStoreKind::S3 ? "S3" : "Azure") +
                                ", the path is " + (kind == ObjectStoreKind::S3 ? "s3://" : "az://"));
        return false;
      }
    } else {
      for (const auto& c : p.object_stores)
        if (c.kind == kind) {
          if (store) {
            r.error(at, what + ": more than one object store could serve '" + s.path.substr(0, 128) + "'", "add store: <name>");
            return false;
          }
          store = &c;
        }
      if (!store) {
        r.error(at, what + " reads " + (kind == ObjectStoreKind::S3 ? "S3" : "Azure Blob") + " but no such object store is declared",
                kind == ObjectStoreKind::S3
                    ? "add object_stores: { lake: { type: s3, region: ..., access_key_id: ${env:AWS_ACCESS_KEY_ID}, secret_access_key: ${env:AWS_SECRET_ACCESS_KEY} } }"
                    : "add object_stores: { blobs: { type: azure, account: ..., key: ${env:AZURE_STORAGE_KEY} } }");
        return false;
      }
      o.store = store->name;
    }
    s.object = std::move(o);
    return true;
  }

  void parse_sources(Reader& r, const YAML::Node& n, Project& p) {
    if (!n) {
      r.error(YAML::Node(), "sightline.yaml has no sources", "add a sources: section naming at least one data file");
      return;
    }
    if (!r.is_map(n, "sources")) return;
    for (auto it = n.begin(); it != n.end(); ++it) {
      SourceSpec s;
      s.name = it->first.Scalar();
      s.pos = r.pos(it->first);
      if (!valid_id(s.name)) {
        r.error(it->first, "source name '" + s.name + "' is not a valid name", "use letters, digits and _ (it becomes a SQL view name)");
        continue;
      }
      const YAML::Node& v = it->second;
      if (v.IsScalar()) {
        s.path = r.str(v, "source path");
      } else if (r.is_map(v, "source '" + s.name + "'")) {
        r.check_keys(v,
                     {"path", "format", "hive_partitioning", "union_by_name", "materialize", "order_by", "csv", "types", "table",
                      "description", "refresh", "checks", "mode", "ingest", "columns", "keep", "redis", "mqtt", "store"},
                     "source '" + s.name + "'");
        parse_append(r, v, s, p.name);
        s.path = r.str(v["path"], "path");
        if (v["hive_partitioning"]) s.hive_partitioning = r.boolean(v["hive_partitioning"], "hive_partitioning");
        if (v["union_by_name"]) s.union_by_name = r.boolean(v["union_by_name"], "union_by_name").value_or(false);
        if (v["materialize"]) s.materialize = r.boolean(v["materialize"], "materialize").value_or(false);
        s.table = r.str(v["table"], "table");
        if (const auto& rf = v["refresh"]) s.refresh = parse_refresh(r, rf, "source '" + s.name + "' refresh");
        if (const auto& ck = v["checks"]) s.checks = parse_checks(r, ck, s.name);
        if (const auto& ob = v["order_by"]) {
          if (ob.IsSequence())
            for (const auto& e : ob) s.order_by.push_back(r.str(e, "order_by"));
          else
            s.order_by.push_back(r.str(ob, "order_by"));
          if (!s.materialize && !s.appends()) r.warning(ob, "order_by only applies to materialized sources", "add materialize: true");
        }
        if (v["format"]) {
          std::string f = r.str(v["format"], "format");
          if (f == "parquet")
            s.format = SourceFormat::Parquet;
          else if (f == "csv")
            s.format = SourceFormat::Csv;
          else if (f == "json")
            s.format = SourceFormat::Json;
          else if (f == "duckdb")
            s.format = SourceFormat::DuckDB;
          else
            r.error(v["format"], "unknown format '" + f + "'", "use parquet, csv, json or duckdb");
        }
        if (const auto& c = v["csv"]; c && r.is_map(c, "csv")) {
          r.check_keys(c, {"delimiter", "header", "quote", "escape", "skip", "null", "date_format", "timestamp_format"}, "csv options");
          if (c["delimiter"]) s.csv.delimiter = r.str(c["delimiter"], "csv.delimiter");
          if (c["header"]) s.csv.header = r.boolean(c["header"], "csv.header");
          if (c["quote"]) s.csv.quote = r.str(c["quote"], "csv.quote");
          if (c["escape"]) s.csv.escape = r.str(c["escape"], "csv.escape");
          if (c["skip"]) s.csv.skip = r.integer(c["skip"], "csv.skip", 0, 1'000'000);
          if (c["null"]) s.csv.null_string = r.str(c["null"], "csv.null");
          if (c["date_format"]) s.csv.date_format = r.str(c["date_format"], "csv.date_format");
          if (c["timestamp_format"]) s.csv.timestamp_format = r.str(c["timestamp_format"], "csv.timestamp_format");
        }
        if (const auto& t = v["types"]; t && r.is_map(t, "types")) {
          for (auto ti = t.begin(); ti != t.end(); ++ti) {
            std::string type = r.str(ti->second, "type");
            static const std::regex type_re(R"([A-Za-z][A-Za-z0-9_ ]*(\(\s*[0-9]+\s*(,\s*[0-9]+\s*)?\))?(\[\])?)");
            if (!std::regex_match(type, type_re)) {
              r.error(ti->second, "'" + type + "' is not a SQL type", "e.g. BIGINT, VARCHAR, DATE, DECIMAL(10,2)");
              continue;
            }
            s.types[ti->first.Scalar()] = type;
          }
        }
      } else {
        continue;
      }
      if (s.receives_rows()) {
        if (!s.path.empty())
          r.error(v["path"], "source '" + s.name + "' receives rows (" + s.receiver_key() + ") and reads no files",
                  std::string("remove path: or ") + s.receiver_key() + ":");
        if (s.columns.empty())
          r.error(v[s.receiver_key()], "source '" + s.name + "' receives rows but declares no columns",
                  "declare the schema, e.g. columns: { ts: TIMESTAMPTZ, user_id: BIGINT, amount: DECIMAL(12,2) }");
        p.sources.push_back(std::move(s));
        continue;
      }
      if (s.path.empty()) {
        r.error(it->first, "source '" + s.name + "' has no path", "e.g. path: data/orders/**/*.parquet");
        continue;
      }
      if (object_url_scheme(s.path)) {
        if (!parse_object_source(r, v, s, p)) continue;
      } else if (v.IsMap() && v["store"]) {
        r.error(v["store"], "source '" + s.name + "': store: applies to object URLs (s3://bucket/... or az://container/...)",
                "remove store:, or make path an object URL");
      }
      if (s.refresh && s.refresh->poll_set && !s.object)
        r.error(v["refresh"], "source '" + s.name + "' refresh.poll applies to object storage; local files are watched",
                "remove poll:");
      if (!v.IsMap() || !v["format"] || !v["format"].IsScalar()) {
        std::string lower = s.path;
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        auto ends = [&](std::string_view suf) { return lower.size() >= suf.size() && lower.ends_with(suf); };
        if (ends(".csv") || ends(".tsv") || ends(".csv.gz") || ends(".txt"))
          s.format = SourceFormat::Csv;
        else if (ends(".json") || ends(".jsonl") || ends(".ndjson"))
          s.format = SourceFormat::Json;
        else if (ends(".duckdb") || ends(".db"))
          s.format = SourceFormat::DuckDB;
        else if (ends(".parquet") || ends("/") || lower.find('.') == std::string::npos || lower.find("*") != std::string::npos)
          s.format = SourceFormat::Parquet;
        else
          r.error(v, "cannot tell the format of '" + s.path + "' from its name", "add format: parquet | csv | json | duckdb");
      }
      if (s.appends() && s.format == SourceFormat::DuckDB) {
        r.error(v["mode"], "source '" + s.name + "': mode: append reads files (parquet, csv, json), not a DuckDB database",
                "remove mode: append; a DuckDB file is read whole");
        continue;
      }
      if (s.format == SourceFormat::DuckDB && s.table.empty()) {
        r.error(v, "source '" + s.name + "' reads a DuckDB file but names no table", "add table: <table name in that file>");
      }
      // A source path must stay inside the project: the data directory is what the engine may read.
      if (!s.object && (s.path.find("..") != std::string::npos || fs::path(s.path).is_absolute())) {
        r.warning(v, "source '" + s.name + "' reads outside the project folder ('" + s.path + "')",
                  "keep data inside the project (e.g. data/) so the engine can be restricted to it");
      }
      if (std::any_of(p.sources.begin(), p.sources.end(), [&](const SourceSpec& o) { return o.name == s.name; })) {
        r.error(it->first, "source '" + s.name + "' is defined twice");
        continue;
      }
      p.sources.push_back(std::move(s));
    }
  }

  void parse_models(Reader& r, const YAML::Node& n, Project& p) {
    if (!n) return;
    if (!r.is_map(n, "models")) return;
    for (auto it = n.begin(); it != n.end(); ++it) {
      ModelSpec m;
      m.name = it->first.Scalar();
      m.pos = r.pos(it->first);
      if (!valid_id(m.name)) {
        r.error(it->first, "model name '" + m.name + "' is not a valid name", "use letters, digits and _");
        continue;
      }
      const YAML::Node& v = it->second;
      if (v.IsMap()) {
        r.check_keys(v, {"sql", "materialize", "description"}, "model '" + m.name + "'");
        m.sql = r.str(v["sql"], "sql");
        if (v["materialize"]) m.materialize = r.boolean(v["materialize"], "materialize").value_or(false);
      } else {
        m.sql = r.str(v, "model SQL");
      }
      if (m.sql.empty()) {
        r.error(it->first, "model '" + m.name + "' has no SQL");
        continue;
      }
      bool taken = std::any_of(p.sources.begin(), p.sources.end(), [&](auto& s) { return s.name == m.name; }) ||
                   std::any_of(p.models.begin(), p.models.end(), [&](auto& o) { return o.name == m.name; });
      if (taken) {
        r.error(it->first, "the name '" + m.name + "' is already a source or model");
        continue;
      }
      p.models.push_back(std::move(m));
    }
  }

  void parse_dashboards(Reader& r, const YAML::Node& n, Project& p) {
    std::vector<std::pair<std::string, YAML::Node>> patterns;  // each with where it was written
    if (!n)
      patterns.emplace_back("dashboards/*.yaml", n);
    else if (n.IsScalar())
      patterns.emplace_back(r.str(n, "dashboards"), n);
    else if (n.IsSequence())
      for (const auto& e : n) patterns.emplace_back(r.str(e, "dashboards entry"), e);
    else
      r.error(n, "dashboards must be a file pattern or a list of them", "e.g. dashboards: dashboards/*.yaml");
    std::vector<fs::path> files;
    bool missing_folder = false;
    for (const auto& [pat, node] : patterns) {
      fs::path rel = pat;
      fs::path parent = dir_ / rel.parent_path();
      std::string name_pat = rel.filename().string();
      std::error_code ec;
      if (!fs::is_directory(parent, ec)) {
        // Without a dashboards: key the default folder is optional; a written one must exist.
        if (n) {
          missing_folder = true;
          r.error(node, "no folder '" + rel.parent_path().string() + "' for dashboards pattern '" + pat + "'", folder_hint(rel));
        }
        continue;
      }
      std::vector<fs::path> matched;
      for (const auto& entry : fs::directory_iterator(parent, ec)) {
        if (entry.is_regular_file() && fnmatch(name_pat.c_str(), entry.path().filename().c_str(), 0) == 0) matched.push_back(entry.path());
      }
      std::sort(matched.begin(), matched.end());
      files.insert(files.end(), matched.begin(), matched.end());
    }
    // A missing folder is already reported: "no files" on top would only contradict it.
    if (files.empty() && !missing_folder) {
      r.warning(n, "no dashboard files found", "add dashboards/<name>.yaml");
    }
    for (const auto& f : files) {
      p.files.push_back(f);
      parse_dashboard(f, p);
    }
  }

  // For a pattern whose folder does not exist: the existing folder whose name is closest.
  std::string folder_hint(const fs::path& pattern) const {
    fs::path folder = pattern.parent_path();
    std::string best;
    size_t best_d = 3;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_ / folder.parent_path(), ec)) {
      if (!entry.is_directory(ec)) continue;
      size_t d = edit_distance(folder.filename().string(), entry.path().filename().string());
      if (d < best_d) best_d = d, best = entry.path().filename().string();
    }
    if (best.empty()) return "create the folder, or point dashboards: at the folder that holds the dashboard files";
    return "did you mean '" + (folder.parent_path() / best / pattern.filename()).string() + "'?";
  }

  void parse_dashboard(const fs::path& path, Project& p) {
    std::string shown = fs::relative(path, dir_).string();
    auto root = load_yaml(path, shown, result_.diagnostics);
    if (!root) return;
    Reader r(shown, dir_, env_, result_.diagnostics, p.secret_values);
    if (!r.is_map(*root, "a dashboard file")) return;
    r.check_keys(*root, {"id", "title", "description", "source", "dimensions", "filters", "pages", "widgets", "roles"}, "dashboard");
    DashboardSpec d;
    d.file = shown;
    d.pos = r.pos(*root);
    d.id = r.str((*root)["id"], "id", path.stem().string());
    if (!valid_id(d.id)) {
      r.error((*root)["id"] ? (*root)["id"] : *root, "dashboard id '" + d.id + "' is not valid", "use letters, digits, _ and -");
      return;
    }
    if (p.find_dashboard(d.id)) {
      r.error(*root, "dashboard id '" + d.id + "' is used twice");
      return;
    }
    d.title = r.str((*root)["title"], "title", d.id);
    d.description = r.str((*root)["description"], "description");
    d.roles = string_list(r, (*root)["roles"], "roles");
    d.source = r.str((*root)["source"], "source");
    if (!d.source.empty() && !has_relation(p, d.source)) {
      r.error((*root)["source"], "unknown source or model '" + d.source + "'", suggest_relation(p, d.source));
    }
    if (const auto& dims = (*root)["dimensions"]) {
      if (dims.IsSequence()) {
        for (const auto& e : dims) d.dimensions.push_back(r.str(e, "dimension"));
      } else {
        r.error(dims, "dimensions must be a list of column names");
      }
    }
    if (const auto& fl = (*root)["filters"]) {
      if (!fl.IsSequence())
        r.error(fl, "filters must be a list");
      else
        for (const auto& f : fl) parse_filter(r, f, d);
    }
    std::set<std::string> widget_ids;
    if ((*root)["pages"] && (*root)["widgets"]) {
      r.error((*root)["widgets"], "a dashboard has either pages or widgets, not both", "move the widgets into a page");
    }
    if (const auto& pages = (*root)["pages"]) {
      if (!pages.IsSequence())
        r.error(pages, "pages must be a list");
      else {
        int index = 0;
        for (const auto& pg : pages) {
          ++index;
          if (!r.is_map(pg, "a page")) continue;
          r.check_keys(pg, {"id", "title", "widgets", "roles"}, "page");
          PageSpec page;
          page.roles = string_list(r, pg["roles"], "roles");
          page.title = r.str(pg["title"], "title", "Page " + std::to_string(index));
          page.id = r.str(pg["id"], "id", derive_name(page.title));
          parse_widgets(r, pg["widgets"], d, page, widget_ids, p);
          d.pages.push_back(std::move(page));
        }
      }
    } else {
      PageSpec page;
      page.id = "main";
      page.title = d.title;
      parse_widgets(r, (*root)["widgets"], d, page, widget_ids, p);
      d.pages.push_back(std::move(page));
    }
    p.dashboards.push_back(std::move(d));
  }

  void parse_filter(Reader& r, const YAML::Node& f, DashboardSpec& d) {
    if (!r.is_map(f, "a filter")) return;
    r.check_keys(f, {"id", "type", "column", "label", "default", "options_limit"}, "filter");
    FilterSpec s;
    s.pos = r.pos(f);
    s.column = r.str(f["column"], "column");
    s.id = r.str(f["id"], "id", s.column);
    if (!valid_id(s.id)) {
      r.error(f, "filter id '" + s.id + "' is not valid", "use letters, digits, _ and -");
      return;
    }
    if (s.column.empty()) {
      r.error(f, "filter '" + s.id + "' has no column", "add column: <a column of the dashboard's source>");
      return;
    }
    std::string type = r.str(f["type"], "type", "select");
    static const std::map<std::string, FilterType> types = {{"select", FilterType::Select},
                                                            {"multiselect", FilterType::MultiSelect},
                                                            {"range", FilterType::Range},
                                                            {"daterange", FilterType::DateRange},
                                                            {"text", FilterType::Text}};
    auto t = types.find(type);
    if (t == types.end()) {
      r.error(f["type"], "unknown filter type '" + type + "'", "use select, multiselect, range, daterange or text");
      return;
    }
    s.type = t->second;
    s.label = r.str(f["label"], "label", humanize(s.id));
    s.default_value = r.to_json(f["default"]);
    if (f["options_limit"]) s.options_limit = r.integer(f["options_limit"], "options_limit", 1, 10'000).value_or(100);
    if (d.find_filter(s.id)) {
      r.error(f, "filter id '" + s.id + "' is used twice in this dashboard");
      return;
    }
    d.filters.push_back(std::move(s));
  }

  std::optional<DimensionSpec> parse_dimension(Reader& r, const YAML::Node& n, const std::string& what) {
    if (!n) return std::nullopt;
    DimensionSpec dim;
    dim.pos = r.pos(n);
    if (n.IsScalar()) {
      dim.column = r.str(n, what);
    } else if (r.is_map(n, what)) {
      r.check_keys(n, {"column", "grain", "as", "label"}, what);
      dim.column = r.str(n["column"], what + ".column");
      dim.grain = r.str(n["grain"], what + ".grain");
      dim.name = r.str(n["as"], what + ".as");
      dim.label = r.str(n["label"], what + ".label");
      static const std::set<std::string> grains = {"", "day", "week", "month", "quarter", "year", "hour"};
      if (!grains.count(dim.grain)) {
        r.error(n["grain"], "unknown grain '" + dim.grain + "'", "use hour, day, week, month, quarter or year");
      }
    } else {
      return std::nullopt;
    }
    if (dim.column.empty()) {
      r.error(n, what + " names no column");
      return std::nullopt;
    }
    if (dim.name.empty()) dim.name = dim.column;
    if (!valid_id(dim.name)) dim.name = derive_name(dim.name);
    if (dim.label.empty()) dim.label = humanize(dim.name);
    return dim;
  }

  void parse_measures(Reader& r, const YAML::Node& n, const std::string& what, std::vector<MeasureSpec>& out) {
    if (!n) return;
    auto one = [&](const YAML::Node& m) {
      MeasureSpec ms;
      ms.pos = r.pos(m);
      if (m.IsScalar()) {
        ms.expr = r.str(m, what);
      } else if (r.is_map(m, what)) {
        r.check_keys(m, {"expr", "as", "label", "format", "approx"}, what);
        ms.expr = r.str(m["expr"], what + ".expr");
        ms.name = r.str(m["as"], what + ".as");
        ms.label = r.str(m["label"], what + ".label");
        ms.format = r.str(m["format"], what + ".format");
        if (m["approx"]) ms.approx = r.boolean(m["approx"], what + ".approx").value_or(false);
      } else {
        return;
      }
      if (ms.expr.empty()) {
        r.error(m, what + " has no expression", "e.g. sum(revenue)");
        return;
      }
      if (ms.expr.find(';') != std::string::npos) {
        r.error(m, "a measure is one SQL expression; ';' is not allowed");
        return;
      }
      if (ms.approx && !std::regex_search(ms.expr, std::regex(R"(count\s*\(\s*distinct\s)", std::regex::icase))) {
        r.error(m["approx"], "approx: true applies to distinct counts, and '" + ms.expr + "' has none",
                "use it on a measure such as count(DISTINCT customer), or remove it");
        return;
      }
      if (ms.name.empty()) ms.name = derive_name(ms.expr);
      if (!valid_id(ms.name)) {
        r.error(m, "measure name '" + ms.name + "' is not valid", "use letters, digits and _");
        return;
      }
      for (const auto& o : out)
        if (o.name == ms.name) ms.name += "_" + std::to_string(out.size() + 1);
      // Never the expression itself: clients see labels, not SQL.
      if (ms.label.empty()) ms.label = humanize(ms.name);
      out.push_back(std::move(ms));
    };
    if (n.IsSequence())
      for (const auto& m : n) one(m);
    else
      one(n);
  }

  void parse_widgets(Reader& r, const YAML::Node& n, DashboardSpec& d, PageSpec& page, std::set<std::string>& ids, Project& p) {
    if (!n) return;
    if (!n.IsSequence()) {
      r.error(n, "widgets must be a list");
      return;
    }
    for (const auto& w : n) {
      if (!r.is_map(w, "a widget")) continue;
      r.check_keys(
          w, {"id",     "type",    "title", "description", "width", "height", "source", "x",      "y",       "color",   "measure", "value",
              "column", "columns", "sort",  "limit",       "bins",  "sql",    "text",   "format", "options", "compare", "roles"},
          "widget");
      WidgetSpec s;
      s.pos = r.pos(w);
      std::string type = r.str(w["type"], "type");
      static const std::map<std::string, WidgetType> types = {{"kpi", WidgetType::Kpi},
                                                              {"bar", WidgetType::Bar},
                                                              {"line", WidgetType::Line},
                                                              {"area", WidgetType::Area},
                                                              {"scatter", WidgetType::Scatter},
                                                              {"pie", WidgetType::Pie},
                                                              {"histogram", WidgetType::Histogram},
                                                              {"heatmap", WidgetType::Heatmap},
                                                              {"table", WidgetType::Table},
                                                              {"text", WidgetType::Text}};
      auto t = types.find(type);
      if (t == types.end()) {
        r.error(w["type"] ? w["type"] : w, type.empty() ? "widget has no type" : "unknown widget type '" + type + "'",
                "use kpi, bar, line, area, scatter, pie, histogram, heatmap, table or text");
        continue;
      }
      s.type = t->second;
      s.title = r.str(w["title"], "title");
      s.id = r.str(w["id"], "id", derive_name(s.title.empty() ? type + "_" + std::to_string(ids.size() + 1) : s.title));
      if (!valid_id(s.id)) {
        r.error(w["id"] ? w["id"] : w, "widget id '" + s.id + "' is not valid", "use letters, digits, _ and -");
        continue;
      }
      if (!ids.insert(s.id).second) {
        r.error(w["id"] ? w["id"] : w, "widget id '" + s.id + "' is used twice in this dashboard", "give each widget its own id");
        continue;
      }
      s.description = r.str(w["description"], "description");
      if (w["width"])
        s.width = static_cast<int>(r.integer(w["width"], "width", 1, 12).value_or(6));
      else
        s.width = s.type == WidgetType::Kpi ? 3 : s.type == WidgetType::Table ? 12 : 6;
      if (w["height"]) s.height = static_cast<int>(r.integer(w["height"], "height", 1, 4000).value_or(0));
      s.source = r.str(w["source"], "source", d.source);
      s.roles = string_list(r, w["roles"], "roles");
      s.sql = r.str(w["sql"], "sql");
      s.text = r.str(w["text"], "text");
      if (w["options"]) s.options = r.to_json(w["options"]);
      if (w["format"]) s.options["format"] = r.str(w["format"], "format");
      if (w["limit"]) s.limit = r.integer(w["limit"], "limit", 1, 10'000'000).value_or(0);
      if (w["bins"]) s.bins = static_cast<int>(r.integer(w["bins"], "bins", 1, 1000).value_or(20));
      // Keys that only some widget types read: elsewhere they would silently do nothing.
      {
        using T = WidgetType;
        static const std::map<std::string, std::set<WidgetType>> only_for = {
            {"column", {T::Histogram}},
            {"bins", {T::Histogram}},
            {"value", {T::Heatmap}},
            {"color", {T::Bar, T::Line, T::Area, T::Scatter}},
            {"x", {T::Bar, T::Line, T::Area, T::Pie, T::Scatter, T::Heatmap, T::Histogram}},
            {"y", {T::Bar, T::Line, T::Area, T::Pie, T::Scatter, T::Heatmap, T::Table}},
            {"measure", {T::Kpi, T::Table}},
            {"compare", {T::Kpi}},
            {"columns", {T::Table}},
            {"text", {T::Text}},
        };
        for (const auto& [key, types] : only_for) {
          if (w[key] && !types.count(s.type)) {
            std::string names;
            for (auto t2 : types) names += (names.empty() ? "" : ", ") + std::string(widget_type_name(t2));
            r.error(w[key], "'" + key + "' does nothing on a " + type + " widget", "it applies to: " + names);
          }
        }
      }
      s.x = parse_dimension(r, s.type == WidgetType::Histogram && w["column"] ? w["column"] : w["x"], "x");
      s.color = parse_dimension(r, w["color"], "color");
      if (s.type == WidgetType::Heatmap || s.type == WidgetType::Scatter) {
        s.y_dim = parse_dimension(r, w["y"], "y");
        parse_measures(r, w["value"], "value", s.measures);
      } else {
        parse_measures(r, w["y"], "y", s.measures);
      }
      parse_measures(r, w["measure"], "measure", s.measures);
      if (const auto& cols = w["columns"]) {
        if (!cols.IsSequence())
          r.error(cols, "columns must be a list");
        else
          for (const auto& c : cols)
            if (auto dim = parse_dimension(r, c, "column")) s.columns.push_back(*dim);
      }
      if (w["sort"]) {
        std::string sort = r.str(w["sort"], "sort");
        SortSpec ss;
        ss.descending = !sort.empty() && sort[0] == '-';
        ss.column = ss.descending || (!sort.empty() && sort[0] == '+') ? sort.substr(1) : sort;
        s.sort = ss;
      }
      if (!s.sql.empty() && s.sql.find(';') != std::string::npos &&
          s.sql.find_first_not_of(" \n\t;", s.sql.rfind(';')) != std::string::npos) {
        r.error(w["sql"], "a widget's sql is a single SELECT statement", "remove the ';' and anything after it");
        continue;
      }
      if (!s.sql.empty() && !check_placeholders(r, w["sql"], s, d)) continue;
      if (s.source.empty() && s.sql.empty() && s.type != WidgetType::Text) {
        r.error(w, "widget '" + s.id + "' has no source", "set source: on the dashboard or the widget");
        continue;
      }
      if (!s.source.empty() && !has_relation(p, s.source)) {
        r.error(w["source"] ? w["source"] : w, "unknown source or model '" + s.source + "'", suggest_relation(p, s.source));
        continue;
      }
      if (!validate_widget_shape(r, w, s)) continue;
      if (w["compare"] && s.type == WidgetType::Kpi && !parse_compare(r, w["compare"], d, s)) continue;
      page.widgets.push_back(std::move(s));
    }
  }

  // compare: previous_period            (the dashboard's one daterange filter)
  // compare: { period: previous_period, filter: <daterange filter id> }
  bool parse_compare(Reader& r, const YAML::Node& n, const DashboardSpec& d, WidgetSpec& s) {
    std::string period, filter;
    if (n.IsMap()) {
      r.check_keys(n, {"period", "filter"}, "compare");
      period = r.str(n["period"], "period", "previous_period");
      filter = r.str(n["filter"], "filter");
    } else {
      period = r.str(n, "compare");
    }
    if (period != "previous_period") {
      r.error(n, "unknown comparison '" + period + "'", "use compare: previous_period");
      return false;
    }
    if (!s.sql.empty()) {
      r.error(n, "widget '" + s.id + "': compare needs a declared measure, not sql:", "remove compare: or the sql:");
      return false;
    }
    std::vector<std::string> ranges;
    for (const auto& f : d.filters)
      if (f.type == FilterType::DateRange) ranges.push_back(f.id);
    if (filter.empty()) {
      if (ranges.size() != 1) {
        r.error(n,
                ranges.empty() ? "compare: previous_period needs a daterange filter on the dashboard"
                               : "this dashboard has several daterange filters: say which one the comparison shifts",
                ranges.empty() ? "add a filter of type daterange" : "e.g. compare: { period: previous_period, filter: " + ranges[0] + " }");
        return false;
      }
      filter = ranges[0];
    } else if (std::find(ranges.begin(), ranges.end(), filter) == ranges.end()) {
      std::string known;
      for (const auto& id : ranges) known += (known.empty() ? "" : ", ") + id;
      r.error(n["filter"], "'" + filter + "' is not a daterange filter of this dashboard",
              known.empty() ? "add a filter of type daterange" : "daterange filters: " + known);
      return false;
    }
    s.compare_filter = filter;
    return true;
  }

  // Own SQL has one placeholder, {{ filters }}. Any other would reach DuckDB as a syntax error
  // that does not name it; and without one, the dashboard's filters silently skip the widget.
  bool check_placeholders(Reader& r, const YAML::Node& n, const WidgetSpec& s, const DashboardSpec& d) {
    bool ok = true, filters = false;
    for (size_t open = s.sql.find("{{"); open != std::string::npos; open = s.sql.find("{{", open + 2)) {
      size_t close = s.sql.find("}}", open + 2);
      if (close == std::string::npos) {
        r.error(n, "widget '" + s.id + "': a '{{' without '}}' in its sql", "write the placeholder as {{ filters }}");
        return false;
      }
      std::string name = s.sql.substr(open + 2, close - open - 2);
      name.erase(0, name.find_first_not_of(" \t\r\n"));
      name.erase(name.find_last_not_of(" \t\r\n") + 1);
      if (name == "filters") {
        filters = true;
        continue;
      }
      ok = false;
      r.error(n, "widget '" + s.id + "': unknown placeholder {{ " + name.substr(0, 64) + " }} in its sql", placeholder_hint(name));
    }
    if (ok && !filters && (!d.filters.empty() || !d.dimensions.empty())) {
      std::string what = d.filters.empty() ? "cross-filter selections" : "filters";
      r.warning(n, "widget '" + s.id + "': the dashboard's " + what + " do not apply to this widget: its sql has no {{ filters }}",
                "write WHERE {{ filters }} (or AND {{ filters }}) where the filters and selections should narrow the rows");
    }
    return ok;
  }

  static std::string placeholder_hint(const std::string& name) {
    if (name.starts_with("user.")) {
      return "{{ user.* }} belongs in row policies (policies: in sightline.yaml), which restrict widget SQL by themselves; "
             "widget SQL knows only {{ filters }}";
    }
    std::string folded = name;
    std::transform(folded.begin(), folded.end(), folded.begin(), [](unsigned char c) { return std::tolower(c); });
    if (edit_distance(folded, "filters") <= 3) return "did you mean {{ filters }}?";
    return "the only placeholder in widget SQL is {{ filters }}, the dashboard's filters and selections";
  }

  bool validate_widget_shape(Reader& r, const YAML::Node& w, WidgetSpec& s) {
    bool own_sql = !s.sql.empty();
    auto need = [&](bool ok, const std::string& message, const std::string& hint) {
      if (!ok) r.error(w, "widget '" + s.id + "': " + message, hint);
      return ok;
    };
    switch (s.type) {
      case WidgetType::Text:
        return need(!s.text.empty(), "a text widget needs text", "add text: (markdown)");
      case WidgetType::Kpi:
        return own_sql || need(s.measures.size() == 1, "a kpi needs exactly one measure", "e.g. measure: sum(revenue)");
      case WidgetType::Bar:
      case WidgetType::Line:
      case WidgetType::Area:
      case WidgetType::Pie:
        // `color` on a pie is reported with the other keys a type ignores.
        if (own_sql) return true;
        return need(s.x.has_value(), "a " + std::string(widget_type_name(s.type)) + " chart needs x", "e.g. x: region") &&
               need(!s.measures.empty(), "a " + std::string(widget_type_name(s.type)) + " chart needs y", "e.g. y: sum(revenue)");
      case WidgetType::Scatter:
        if (own_sql) return true;
        if (!s.limit) s.limit = 5000;
        return need(s.x && s.y_dim, "a scatter chart needs x and y columns", "e.g. x: units, y: revenue");
      case WidgetType::Histogram:
        if (own_sql) return true;
        return need(s.x.has_value(), "a histogram needs a column", "e.g. column: unit_price");
      case WidgetType::Heatmap:
        if (own_sql) return true;
        return need(s.x && s.y_dim && s.measures.size() == 1, "a heatmap needs x, y and value",
                    "e.g. x: region, y: category, value: sum(revenue)");
      case WidgetType::Table:
        if (!s.limit) s.limit = 0;
        return own_sql || need(!s.columns.empty(), "a table needs columns", "e.g. columns: [order_date, region, revenue]");
    }
    return true;
  }

  static std::vector<std::string> relation_names(const Project& p) {
    std::vector<std::string> out;
    for (const auto& s : p.sources) out.push_back(s.name);
    for (const auto& m : p.models) out.push_back(m.name);
    return out;
  }
  static bool has_relation(const Project& p, const std::string& name) {
    return std::any_of(p.sources.begin(), p.sources.end(), [&](auto& s) { return s.name == name; }) ||
           std::any_of(p.models.begin(), p.models.end(), [&](auto& m) { return m.name == name; });
  }
  static std::string suggest_relation(const Project& p, const std::string& name) {
    std::string best, all;
    size_t best_d = 4;
    auto consider = [&](const std::string& n) {
      all += (all.empty() ? "" : ", ") + n;
      size_t d = edit_distance(name, n);
      if (d < best_d) best_d = d, best = n;
    };
    for (auto& s : p.sources) consider(s.name);
    for (auto& m : p.models) consider(m.name);
    if (!best.empty()) return "did you mean '" + best + "'?";
    return all.empty() ? "define it under sources: in sightline.yaml" : "known sources and models: " + all;
  }

  fs::path dir_;
  const Environment& env_;
  LoadResult& result_;
};

}  // namespace

LoadResult load_project(const fs::path& dir, const Environment& env) {
  LoadResult result;
  std::error_code ec;
  fs::path abs = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  if (!fs::is_directory(abs, ec)) {
    result.diagnostics.push_back(
        {Diagnostic::Severity::Error, {dir.string(), 0, 0}, "not a directory", "sightline serve DIR needs a project folder"});
    return result;
  }
  try {
    ProjectParser(abs, env, result).run();
  } catch (const YAML::Exception& e) {
    // A shape the parser did not expect: still a positioned error, never a crash.
    result.project.reset();
    result.diagnostics.push_back({Diagnostic::Severity::Error,
                                  {"sightline.yaml", e.mark.line + 1, e.mark.column + 1},
                                  "unexpected structure: " + e.msg,
                                  "compare with docs/project-format.md"});
  }
  return result;
}

}  // namespace sightline::config
