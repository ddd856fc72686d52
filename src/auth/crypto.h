// Small cryptographic building blocks for sign-in, sessions and tokens (OpenSSL underneath).
//
//   std::string verifier = random_token();              // 43 characters, 256 bits of entropy
//   std::string challenge = pkce_challenge(verifier);   // RFC 7636 S256
//   if (!constant_time_equal(sha256(presented), stored_hash)) return fail(...);
//
// All functions are pure (random_token aside) and thread-safe. "Raw" results are binary strings
// of bytes, not text; use base64url_encode or sha256_hex to print them. The hashing functions
// throw std::runtime_error only if OpenSSL itself fails (out of memory, broken provider): a wrong
// digest would be worse than an exception.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sightline::auth {

// Base64url (RFC 4648 section 5) without '=' padding, as JOSE and PKCE use it.
std::string base64url_encode(std::string_view bytes);

// Strict inverse of base64url_encode: refuses '=' padding, characters outside [A-Za-z0-9-_],
// impossible lengths (4n+1) and non-canonical encodings (unused trailing bits not zero), so each
// byte string has exactly one accepted spelling. nullopt when refused.
std::optional<std::string> base64url_decode(std::string_view text);

// `bytes` bytes from OpenSSL's CSPRNG, base64url-encoded (32 bytes → 43 characters).
// Throws std::runtime_error if the generator fails: there is no safe weaker fallback.
std::string random_token(std::size_t bytes = 32);

// SHA-256 of `data`: 32 raw bytes.
std::string sha256(std::string_view data);

// SHA-256 of `data` as 64 lowercase hexadecimal characters.
std::string sha256_hex(std::string_view data);

// HMAC-SHA-256 of `data` under `key`: 32 raw bytes. Any key length (including empty) works.
std::string hmac_sha256(std::string_view key, std::string_view data);

// True when a and b hold the same bytes. Time depends only on the lengths (which are not treated
// as secret: different lengths return false at once), never on where the contents differ.
bool constant_time_equal(std::string_view a, std::string_view b);

// RFC 7636 S256 code challenge: base64url(SHA-256(ASCII verifier)).
std::string pkce_challenge(std::string_view verifier);

}  // namespace sightline::auth
