// Roles and row policies: from a signed-in identity to what it may see.
//
//   User user{identity, roles_for(project, identity)};
//   if (!can_see(dashboard.roles, user)) -> 404
//   auto scope = scope_for(project, user);   // every data path takes it
//
// Pure functions over the immutable project: safe from any thread.
#pragma once

#include <string>
#include <vector>

#include "auth/identity.h"
#include "config/project.h"
#include "core/error.h"
#include "query/scope.h"

namespace sightline::auth {

// How the caller proved who they are.
enum class Credential { None, Session, Proxy, Token };
const char* credential_name(Credential c);

struct User {
  Identity identity;
  std::vector<std::string> roles;
  Credential credential = Credential::None;
  std::string session_id;  // for sessions: the server-side id (never the cookie value)
};

// The roles whose groups the identity belongs to, in the project's order.
std::vector<std::string> roles_for(const config::Project& project, const Identity& identity);

// True when `allowed` is empty (visible to everyone signed in) or names one of the user's roles.
bool can_see(const std::vector<std::string>& allowed, const User& user);

// The caller's row scope: for each relation, the OR of the user's roles' predicates with every
// {{ user.* }} placeholder bound as a parameter; a role with `all` grants every row; a relation
// none of the user's roles has a policy for reads no rows.
Result<query::Scope> scope_for(const config::Project& project, const User& user);

// One policy's SQL with the user's values bound (exposed for `sightline check` and tests).
Result<query::SqlFragment> compile_policy(const std::string& predicate, const Identity& identity);

}  // namespace sightline::auth
