#include "query/scope.h"

#include <cstdio>

namespace sightline::query {

std::string params_key(const std::vector<engine::Param>& params) {
  std::string key;
  for (const auto& p : params) {
    key += '\x1f';
    key += static_cast<char>('0' + p.index());
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>)
            key += "null";
          else if constexpr (std::is_same_v<T, std::string>) {
            key += std::to_string(v.size()) + ':' + v;
          } else if constexpr (std::is_same_v<T, double>) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.17g", v);
            key += buf;
          } else
            key += std::to_string(v);
        },
        p);
  }
  return key;
}

Scope Scope::restricted(std::map<std::string, SqlFragment, std::less<>> readable, std::vector<std::string> policies) {
  // The key is the full text of every grant: two callers share cached answers exactly when
  // they are granted the same rows (same predicates, same bound values).
  std::string key = "restricted";
  for (const auto& [relation, fragment] : readable) {
    key += '\x1e' + std::to_string(relation.size()) + ':' + relation + '=' + std::to_string(fragment.sql.size()) + ':' + fragment.sql +
           params_key(fragment.params);
  }
  return Scope(std::move(key), std::move(readable), std::move(policies), true);
}

SqlFragment Scope::predicate_for(std::string_view relation) const {
  if (!restricted_) return {};
  auto it = readable_.find(relation);
  if (it == readable_.end()) return SqlFragment{"FALSE", {}, {}};
  return it->second;
}

}  // namespace sightline::query
