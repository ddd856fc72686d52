// OpenID Connect ID token verification: JSON Web Key Sets and signed JWTs (RS256, ES256 only).
//
//   auto keys = JsonWebKeySet::parse(nlohmann::json::parse(jwks_body));
//   if (!keys) return fail(keys.error());
//   IdTokenExpectations expect{.issuer = "https://login.example.com", .audience = "sightline",
//                              .nonce = pending.nonce, .now = clock()};
//   auto claims = verify_id_token(id_token, *keys, expect);   // the claims, or Unauthenticated
//
// There is deliberately no way to read a token's claims without verifying it. The only
// unverified read is jws_key_id, which picks the key to verify with.
//
// Thread-safety: JsonWebKeySet is immutable after parse; copies share their keys and may be used
// from any number of threads at once. The free functions are thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace sightline::auth {

struct IdTokenExpectations;

// The public signature keys an identity provider publishes at its jwks_uri (RFC 7517).
class JsonWebKeySet {
 public:
  // An empty set: verifies nothing.
  JsonWebKeySet() = default;

  // Keeps RSA keys of at least 2048 bits and EC P-256 keys meant for signatures ("use" absent or
  // "sig"; "key_ops", when present, including "verify"), with their kid and alg. Keys of other
  // types, curves or uses, and malformed keys, are skipped one by one: a provider may publish
  // encryption keys or new key types beside the ones we use. Fails (InvalidInput) when the
  // document is not {"keys": [...]} or when no usable key remains; the message then lists why the
  // keys were skipped. Never includes key material in messages.
  static Result<JsonWebKeySet> parse(const nlohmann::json& jwks);

  // True when some kept key has this kid.
  bool has_key(std::string_view kid) const;

  // Number of kept keys.
  std::size_t size() const { return keys_.size(); }

  struct Key;  // defined in jwt.cpp: type, kid, alg and the OpenSSL public key

 private:
  std::vector<std::shared_ptr<const Key>> keys_;

  friend Result<nlohmann::json> verify_id_token(std::string_view compact, const JsonWebKeySet& keys, const IdTokenExpectations& expect);
};

// The "kid" of a compact JWS's protected header, read WITHOUT verifying anything: only for
// choosing (or fetching) the key to verify with. nullopt when the token is malformed or has no kid.
std::optional<std::string> jws_key_id(std::string_view compact);

// What an ID token must say to be accepted.
struct IdTokenExpectations {
  std::string issuer;                         // `iss` must equal this exactly (no normalisation of trailing slashes)
  std::string audience;                       // our client_id: must be in `aud`, and `azp` (when present) must equal it
  std::string nonce;                          // from the login attempt; required, compared in constant time
  std::chrono::system_clock::time_point now;  // injected clock reading
  // Tolerated difference between our clock and the provider's, applied to exp, nbf and iat.
  std::chrono::seconds clock_skew{60};
  // How old `iat` may be. ID tokens are verified right after the code exchange that issued them,
  // so a genuine one is seconds old; 10 minutes tolerates slow providers and leaves no room for
  // replaying a token captured earlier (its nonce would also have to match a live attempt).
  std::chrono::seconds max_age_since_iat{600};
};

// Verifies a compact JWS ID token and returns its claims (a JSON object).
//
// Refuses (ErrorKind::Unauthenticated, with a message saying which rule failed, never echoing the
// token or key material) unless all of these hold:
// - at most 64 KiB; three base64url parts; header and payload are JSON objects; no "crit" header
//   (we implement no JWS extensions, so RFC 7515 says such tokens must be refused);
// - header alg is RS256 or ES256 (none, HS*, PS* and everything else are refused: HMAC in
//   particular, so a public key can never be used as a shared secret);
// - the key: chosen by the header's kid (message "unknown key id" when no key has it); without a
//   kid, the set's only key of the right type; the key's type matches alg (RSA for RS256, EC P-256
//   for ES256) and its declared alg, if any, equals the header's;
// - the signature verifies (ES256: exactly 64 bytes r||s as RFC 7518 section 3.4 specifies);
// - iss == expect.issuer; aud (string or array of strings) contains expect.audience; an `aud`
//   array with several entries needs azp == expect.audience, and azp, when present, must equal it;
// - exp (required) > now - skew; nbf (optional) <= now + skew; iat (required) <= now + skew and
//   >= now - max_age_since_iat - skew;
// - nonce (required) equals expect.nonce (which must not be empty); sub is a non-empty string.
Result<nlohmann::json> verify_id_token(std::string_view compact, const JsonWebKeySet& keys, const IdTokenExpectations& expect);

}  // namespace sightline::auth
