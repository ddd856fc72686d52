#include "auth/policies.h"

#include <algorithm>
#include <cstdint>

namespace sightline::auth {

const char* credential_name(Credential c) {
  switch (c) {
    case Credential::None:
      return "none";
    case Credential::Session:
      return "session";
    case Credential::Proxy:
      return "proxy";
    case Credential::Token:
      return "token";
  }
  return "none";
}

std::vector<std::string> roles_for(const config::Project& project, const Identity& identity) {
  std::vector<std::string> roles;
  for (const auto& role : project.roles) {
    bool member = std::any_of(role.groups.begin(), role.groups.end(), [&](const std::string& g) {
      return std::find(identity.groups.begin(), identity.groups.end(), g) != identity.groups.end();
    });
    if (member) roles.push_back(role.name);
  }
  return roles;
}

bool can_see(const std::vector<std::string>& allowed, const User& user) {
  if (allowed.empty()) return true;
  return std::any_of(allowed.begin(), allowed.end(),
                     [&](const std::string& r) { return std::find(user.roles.begin(), user.roles.end(), r) != user.roles.end(); });
}

namespace {

// Appends `value` as a bound parameter: scalars as one `?`, arrays of scalars as a list.
Result<void> bind_value(const nlohmann::json& value, const std::string& name, std::string& sql, std::vector<engine::Param>& params) {
  auto scalar = [&](const nlohmann::json& v) -> Result<engine::Param> {
    if (v.is_string()) return engine::Param(v.get<std::string>());
    if (v.is_boolean()) return engine::Param(v.get<bool>());
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return engine::Param(v.dump());
    if (v.is_number_integer()) return engine::Param(v.get<int64_t>());
    if (v.is_number()) return engine::Param(v.get<double>());
    if (v.is_null()) return engine::Param(nullptr);
    return fail(ErrorKind::Internal, "{{ " + name + " }} is not a text, number, boolean or list of them");
  };
  if (value.is_array()) {
    // A list literal of parameters; all text unless every element is a number.
    bool numbers = !value.empty() && std::all_of(value.begin(), value.end(), [](const auto& v) { return v.is_number(); });
    std::string list;
    for (const auto& v : value) {
      auto p = scalar(v.is_string() || v.is_number() ? v : nlohmann::json(v.dump()));
      if (!p) return fail(p.error());
      params.push_back(std::move(*p));
      list += std::string(list.empty() ? "" : ", ") + "?";
    }
    sql += "CAST([" + list + "] AS " + (numbers ? "DOUBLE[]" : "VARCHAR[]") + ")";
    return {};
  }
  if (value.is_object())
    return fail(ErrorKind::Internal, "{{ " + name + " }} is an object; policies can use text, numbers, booleans and lists");
  auto p = scalar(value);
  if (!p) return fail(p.error());
  // Untyped: DuckDB gives the parameter the type of what it is compared with, so a NULL (a
  // missing claim, or `sightline check`'s sample user, who has none) fits a number as well as a
  // text. NULL compares as unknown: the row is not granted.
  sql += "?";
  params.push_back(std::move(*p));
  return {};
}

}  // namespace

Result<query::SqlFragment> compile_policy(const std::string& predicate, const Identity& identity) {
  query::SqlFragment out;
  size_t pos = 0;
  while (true) {
    size_t open = predicate.find("{{", pos);
    if (open == std::string::npos) break;
    size_t close = predicate.find("}}", open + 2);
    if (close == std::string::npos) return fail(ErrorKind::InvalidInput, "a '{{' without '}}' in a row policy");
    out.sql += predicate.substr(pos, open - pos);
    std::string name = predicate.substr(open + 2, close - open - 2);
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    nlohmann::json value;
    // A missing attribute is NULL, never '': a policy like `owner = {{ user.email }}` must not
    // grant the rows whose owner is empty to everyone without an e-mail address.
    auto text = [](const std::string& v) { return v.empty() ? nlohmann::json() : nlohmann::json(v); };
    if (name == "user.email")
      value = text(identity.email);
    else if (name == "user.name")
      value = text(identity.name);
    else if (name == "user.subject")
      value = text(identity.subject);
    else if (name == "user.issuer")
      value = text(identity.issuer);
    else if (name == "user.groups")
      value = identity.groups;
    else if (name.starts_with("user.claims.") && name.size() > 12) {
      auto it = identity.claims.find(name.substr(12));
      value = it == identity.claims.end() ? nlohmann::json() : *it;
    } else {
      return fail(ErrorKind::InvalidInput, "unknown placeholder {{ " + name.substr(0, 64) + " }} in a row policy",
                  "use user.email, user.name, user.subject, user.issuer, user.groups or user.claims.<claim>");
    }
    if (auto r = bind_value(value, name, out.sql, out.params); !r) return fail(r.error());
    pos = close + 2;
  }
  out.sql += predicate.substr(pos);
  return out;
}

Result<query::Scope> scope_for(const config::Project& project, const User& user) {
  std::map<std::string, query::SqlFragment, std::less<>> readable;
  std::map<std::string, bool> every_row;
  std::vector<std::string> applied;
  for (const auto& policy : project.policies) {
    if (std::find(user.roles.begin(), user.roles.end(), policy.role) == user.roles.end()) continue;
    applied.push_back(policy.relation + "/" + policy.role);
    if (policy.all_rows) {
      every_row[policy.relation] = true;
      readable[policy.relation] = {};
      continue;
    }
    if (every_row[policy.relation]) continue;
    auto compiled = compile_policy(policy.predicate, user.identity);
    if (!compiled) {
      return fail(ErrorKind::Internal, "row policy " + policy.relation + "/" + policy.role + ": " + compiled.error().message,
                  compiled.error().hint);
    }
    auto [it, inserted] = readable.try_emplace(policy.relation);
    query::SqlFragment& f = it->second;
    f.columns_known = (inserted || f.columns_known) && policy.columns_known;
    f.columns.insert(f.columns.end(), policy.columns.begin(), policy.columns.end());
    // Several roles: the union of their rows.
    f.sql = inserted ? "(" + compiled->sql + ")" : f.sql + " OR (" + compiled->sql + ")";
    f.params.insert(f.params.end(), compiled->params.begin(), compiled->params.end());
  }
  for (auto& [relation, fragment] : readable) {
    if (every_row[relation])
      fragment = {};
    else
      fragment.sql = "(" + fragment.sql + ")";
  }
  return query::Scope::restricted(std::move(readable), std::move(applied));
}

}  // namespace sightline::auth
