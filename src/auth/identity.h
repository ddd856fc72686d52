// Who is asking: the signed-in person (or API token, or proxy-asserted user) behind a request.
//
// A person is identified by the pair (issuer, subject), never by a claim they can change such as
// an e-mail address or a user name. Plain data, safe to copy between threads.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sightline::auth {

struct Identity {
  std::string issuer;   // the OpenID provider's issuer URL, "proxy", or "token"
  std::string subject;  // `sub` from the ID token, the proxy's user header, or the token's user
  std::string email;
  std::string name;
  std::vector<std::string> groups;                   // identity-provider groups (mapped to roles by config)
  nlohmann::json claims = nlohmann::json::object();  // every claim, for row policies ({{ user.claims.X }})

  // Stable key of the person: issuer and subject.
  std::string key() const { return issuer + '\n' + subject; }
};

}  // namespace sightline::auth
