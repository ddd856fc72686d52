#include "auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ctime>

#include "auth/crypto.h"

namespace sightline::auth {

namespace {

// unique_ptr deleter calling an OpenSSL free function, so every handle is released exactly once.
template <auto FreeFn>
struct Free {
  template <class T>
  void operator()(T* p) const {
    FreeFn(p);
  }
};
template <class T, auto FreeFn>
using Handle = std::unique_ptr<T, Free<FreeFn>>;

using PkeyPtr = Handle<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = Handle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtxPtr = Handle<EVP_MD_CTX, EVP_MD_CTX_free>;
using BignumPtr = Handle<BIGNUM, BN_free>;
using ParamBldPtr = Handle<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamPtr = Handle<OSSL_PARAM, OSSL_PARAM_free>;
using EcdsaSigPtr = Handle<ECDSA_SIG, ECDSA_SIG_free>;

constexpr std::size_t kMaxTokenBytes = 64 * 1024;
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;               // OpenSSL's own ceiling; bounds verification cost
constexpr std::size_t kMaxRsaExponentBytes = 8;  // real keys use 65537; a huge e makes verify slow
constexpr std::size_t kP256CoordinateBytes = 32;

enum class KeyType { Rsa, EcP256 };

const char* key_type_name(KeyType t) {
  return t == KeyType::Rsa ? "RSA" : "EC P-256";
}

// Attacker- or provider-supplied text, made safe and short for an error message: printable ASCII
// only, at most `max` characters, in double quotes.
std::string printable(std::string_view text, std::size_t max = 64) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    out += (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') ? static_cast<char>(c) : '?';
  }
  if (text.size() > max) out += "...";
  return out + "\"";
}

// Seconds since the epoch as RFC 3339 UTC, for messages (valid for the years NumericDate allows).
std::string format_epoch(int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A JWT NumericDate (RFC 7519: seconds since the epoch, possibly fractional), floored to whole
// seconds. Values outside years 1970..9999 are refused as nonsense.
std::optional<int64_t> numeric_date(const nlohmann::json& v) {
  constexpr int64_t kMax = 253402300799;  // 9999-12-31T23:59:59Z
  if (v.is_number_unsigned()) {
    auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(kMax)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) {
    auto i = v.get<int64_t>();
    if (i < 0 || i > kMax) return std::nullopt;
    return i;
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || d < 0 || d > static_cast<double>(kMax)) return std::nullopt;
    return static_cast<int64_t>(std::floor(d));
  }
  return std::nullopt;
}

tl::unexpected<Error> refuse(std::string message) {
  return fail(ErrorKind::Unauthenticated, std::move(message));
}

// Parsed JSON object from a base64url part, or nullopt.
std::optional<nlohmann::json> decode_json_part(std::string_view part) {
  auto bytes = base64url_decode(part);
  if (!bytes) return std::nullopt;
  auto value = nlohmann::json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object()) return std::nullopt;
  return value;
}

struct CompactParts {
  std::string_view header, payload, signature;
};

std::optional<CompactParts> split_compact(std::string_view compact) {
  auto first = compact.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  auto second = compact.find('.', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  if (compact.find('.', second + 1) != std::string_view::npos) return std::nullopt;
  return CompactParts{compact.substr(0, first), compact.substr(first + 1, second - first - 1), compact.substr(second + 1)};
}

std::optional<std::string> b64_member(const nlohmann::json& jwk, const char* name) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) return std::nullopt;
  auto bytes = base64url_decode(it->get_ref<const std::string&>());
  if (!bytes || bytes->empty()) return std::nullopt;
  return bytes;
}

BignumPtr to_bignum(std::string_view bytes) {
  return BignumPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), nullptr));
}

// Builds a public key of `type_name` ("RSA", "EC") from OSSL_PARAMs and runs OpenSSL's public
// key check (RSA sanity, EC point on the curve). Null on any failure.
PkeyPtr public_key_from_params(const char* type_name, OSSL_PARAM* params) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type_name, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1) return nullptr;
  PkeyPtr pkey(raw);
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
  return pkey;
}

}  // namespace

struct JsonWebKeySet::Key {
  KeyType type = KeyType::Rsa;
  std::optional<std::string> kid;
  std::string alg;  // empty when the JWK does not declare one
  PkeyPtr pkey;
};

namespace {

using Key = JsonWebKeySet::Key;

PkeyPtr rsa_public_key(const nlohmann::json& jwk, std::string& why) {
  auto n = b64_member(jwk, "n");
  auto e = b64_member(jwk, "e");
  if (!n || !e) {
    why = "RSA key without valid base64url \"n\" and \"e\"";
    return nullptr;
  }
  if (e->size() > kMaxRsaExponentBytes) {
    why = "RSA public exponent is implausibly large";
    return nullptr;
  }
  BignumPtr bn_n = to_bignum(*n), bn_e = to_bignum(*e);
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    why = "out of memory building an RSA key";
    return nullptr;
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyPtr pkey = params ? public_key_from_params("RSA", params.get()) : nullptr;
  if (!pkey) {
    why = "RSA key rejected by OpenSSL";
    return nullptr;
  }
  int bits = EVP_PKEY_get_bits(pkey.get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    why = "RSA key of " + std::to_string(bits) + " bits (2048 to 16384 accepted)";
    return nullptr;
  }
  return pkey;
}

PkeyPtr ec_p256_public_key(const nlohmann::json& jwk, std::string& why) {
  auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->is_string() || *crv != "P-256") {
    why = "EC key on a curve other than P-256";
    return nullptr;
  }
  auto x = b64_member(jwk, "x");
  auto y = b64_member(jwk, "y");
  // RFC 7518 section 6.2.1.2: coordinates are exactly the field size, leading zeros kept.
  if (!x || !y || x->size() != kP256CoordinateBytes || y->size() != kP256CoordinateBytes) {
    why = "EC P-256 key without 32-byte \"x\" and \"y\"";
    return nullptr;
  }
  std::string point = "\x04" + *x + *y;  // SEC 1 uncompressed point
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    why = "out of memory building an EC key";
    return nullptr;
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyPtr pkey = params ? public_key_from_params("EC", params.get()) : nullptr;
  if (!pkey) why = "EC P-256 key rejected by OpenSSL (point not on the curve?)";
  return pkey;
}

// One JWK → a kept key, or null with `why` saying why it was skipped.
std::shared_ptr<const Key> parse_key(const nlohmann::json& jwk, std::string& why) {
  if (!jwk.is_object()) {
    why = "not a JSON object";
    return nullptr;
  }
  auto use = jwk.find("use");
  if (use != jwk.end() && (!use->is_string() || *use != "sig")) {
    why = "not a signature key (\"use\" is not \"sig\")";
    return nullptr;
  }
  auto ops = jwk.find("key_ops");
  if (ops != jwk.end()) {
    bool verify = ops->is_array() && std::any_of(ops->begin(), ops->end(), [](const nlohmann::json& op) { return op == "verify"; });
    if (!verify) {
      why = "\"key_ops\" does not include \"verify\"";
      return nullptr;
    }
  }
  auto key = std::make_shared<Key>();
  if (auto kid = jwk.find("kid"); kid != jwk.end()) {
    if (!kid->is_string()) {
      why = "\"kid\" is not a string";
      return nullptr;
    }
    key->kid = kid->get<std::string>();
  }
  if (auto alg = jwk.find("alg"); alg != jwk.end()) {
    if (!alg->is_string()) {
      why = "\"alg\" is not a string";
      return nullptr;
    }
    key->alg = alg->get<std::string>();
  }
  auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->is_string()) {
    why = "no \"kty\"";
    return nullptr;
  }
  if (*kty == "RSA") {
    key->type = KeyType::Rsa;
    key->pkey = rsa_public_key(jwk, why);
  } else if (*kty == "EC") {
    key->type = KeyType::EcP256;
    key->pkey = ec_p256_public_key(jwk, why);
  } else {
    why = "unsupported key type " + printable(kty->get_ref<const std::string&>(), 16);
    return nullptr;
  }
  ERR_clear_error();  // a refused key leaves OpenSSL errors queued on this thread
  if (!key->pkey) return nullptr;
  return key;
}

// ES256 signatures are r||s, 32 bytes each (RFC 7518 section 3.4); OpenSSL wants DER ECDSA-Sig-Value.
std::optional<std::string> es256_to_der(std::string_view raw) {
  BignumPtr r = to_bignum(raw.substr(0, kP256CoordinateBytes));
  BignumPtr s = to_bignum(raw.substr(kP256CoordinateBytes, kP256CoordinateBytes));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return std::nullopt;
  r.release();  // now owned by sig
  s.release();
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return std::nullopt;
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) return std::nullopt;
  return der;
}

bool signature_valid(const Key& key, std::string_view signing_input, std::string_view signature) {
  std::string der;
  if (key.type == KeyType::EcP256) {
    auto converted = es256_to_der(signature);
    if (!converted) return false;
    der = std::move(*converted);
    signature = der;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = ctx && EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key.pkey.get(), nullptr) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                             reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace

Result<JsonWebKeySet> JsonWebKeySet::parse(const nlohmann::json& jwks) {
  auto list = jwks.is_object() ? jwks.find("keys") : jwks.end();
  if (!jwks.is_object() || list == jwks.end() || !list->is_array()) {
    return fail(ErrorKind::InvalidInput, "the JSON Web Key Set is not an object with a \"keys\" array");
  }
  JsonWebKeySet set;
  std::string skipped;
  std::size_t index = 0;
  for (const auto& jwk : *list) {
    std::string why;
    if (auto key = parse_key(jwk, why)) {
      set.keys_.push_back(std::move(key));
    } else {
      if (!skipped.empty()) skipped += "; ";
      skipped += "key " + std::to_string(index);
      if (jwk.is_object() && jwk.contains("kid") && jwk["kid"].is_string()) {
        skipped += " (kid " + printable(jwk["kid"].get_ref<const std::string&>()) + ")";
      }
      skipped += ": " + why;
    }
    ++index;
  }
  if (set.keys_.empty()) {
    return fail(ErrorKind::InvalidInput, "the JSON Web Key Set has no usable signature key (RSA of 2048+ bits or EC P-256)" +
                                             (skipped.empty() ? std::string(": it is empty") : ": " + skipped));
  }
  return set;
}

bool JsonWebKeySet::has_key(std::string_view kid) const {
  return std::any_of(keys_.begin(), keys_.end(), [&](const auto& k) { return k->kid && *k->kid == kid; });
}

std::optional<std::string> jws_key_id(std::string_view compact) {
  if (compact.size() > kMaxTokenBytes) return std::nullopt;
  auto parts = split_compact(compact);
  if (!parts) return std::nullopt;
  auto header = decode_json_part(parts->header);
  if (!header) return std::nullopt;
  auto kid = header->find("kid");
  if (kid == header->end() || !kid->is_string()) return std::nullopt;
  return kid->get<std::string>();
}

Result<nlohmann::json> verify_id_token(std::string_view compact, const JsonWebKeySet& keys, const IdTokenExpectations& expect) {
  if (expect.issuer.empty() || expect.audience.empty() || expect.nonce.empty()) {
    // A programming error, refused rather than letting an empty value match an empty claim.
    return fail(ErrorKind::Internal, "ID token verification needs an expected issuer, audience and nonce");
  }
  if (compact.size() > kMaxTokenBytes) return refuse("ID token is larger than 64 KiB");
  auto parts = split_compact(compact);
  if (!parts) return refuse("ID token is not a compact JWS (three base64url parts separated by dots)");

  // --- header: algorithm and key -----------------------------------------------------------------
  auto header = decode_json_part(parts->header);
  if (!header) return refuse("ID token header is not base64url-encoded JSON object");
  auto alg_it = header->find("alg");
  if (alg_it == header->end() || !alg_it->is_string()) return refuse("ID token header has no \"alg\"");
  const std::string& alg = alg_it->get_ref<const std::string&>();
  KeyType want;
  if (alg == "RS256") {
    want = KeyType::Rsa;
  } else if (alg == "ES256") {
    want = KeyType::EcP256;
  } else if (alg == "none" || alg.empty()) {
    return refuse("ID token is unsigned (alg \"none\"); only RS256 and ES256 are accepted");
  } else if (alg.rfind("HS", 0) == 0) {
    return refuse("ID token uses the shared-secret algorithm " + printable(alg, 16) +
                  "; only RS256 and ES256 are accepted, so a public key is never used as an HMAC secret");
  } else {
    return refuse("ID token algorithm " + printable(alg, 16) + " is not accepted; only RS256 and ES256 are");
  }
  if (header->contains("crit")) return refuse("ID token header has \"crit\" extensions, which are not supported");

  const Key* key = nullptr;
  if (auto kid_it = header->find("kid"); kid_it != header->end()) {
    if (!kid_it->is_string()) return refuse("ID token header \"kid\" is not a string");
    const std::string& kid = kid_it->get_ref<const std::string&>();
    const Key* same_kid = nullptr;
    for (const auto& k : keys.keys_) {
      if (!k->kid || *k->kid != kid) continue;
      if (!same_kid) same_kid = k.get();
      if (k->type == want) {
        key = k.get();
        break;
      }
    }
    if (!same_kid) return refuse("ID token is signed with an unknown key id " + printable(kid));
    if (!key) {
      return refuse("ID token key type mismatch: key " + printable(kid) + " is " + key_type_name(same_kid->type) + " but the token says " +
                    alg);
    }
  } else {
    std::size_t candidates = 0;
    for (const auto& k : keys.keys_) {
      if (k->type == want) {
        key = k.get();
        ++candidates;
      }
    }
    if (candidates == 0) return refuse(std::string("ID token has no kid and the key set has no ") + key_type_name(want) + " key");
    if (candidates > 1) {
      return refuse(std::string("ID token has no kid and the key set has several ") + key_type_name(want) + " keys");
    }
  }
  if (!key->alg.empty() && key->alg != alg) {
    return refuse("ID token algorithm " + alg + " does not match its key's declared algorithm " + printable(key->alg, 16));
  }

  // --- signature ---------------------------------------------------------------------------------
  auto signature = base64url_decode(parts->signature);
  if (!signature || signature->empty()) return refuse("ID token signature is missing or not base64url");
  if (want == KeyType::EcP256 && signature->size() != 2 * kP256CoordinateBytes) {
    return refuse("ID token ES256 signature must be 64 bytes (r||s), not " + std::to_string(signature->size()));
  }
  std::string_view signing_input = compact.substr(0, parts->header.size() + 1 + parts->payload.size());
  if (!signature_valid(*key, signing_input, *signature)) return refuse("ID token signature is invalid");

  // --- claims (only now, after the signature, is the payload trusted) ------------------------------
  auto claims = decode_json_part(parts->payload);
  if (!claims) return refuse("ID token payload is not a base64url-encoded JSON object");
  const nlohmann::json& c = *claims;

  auto iss = c.find("iss");
  if (iss == c.end() || !iss->is_string()) return refuse("ID token has no \"iss\"");
  if (*iss != expect.issuer) {
    return refuse("ID token issuer " + printable(iss->get_ref<const std::string&>(), 200) + " is not the expected " +
                  printable(expect.issuer, 200));
  }

  auto aud = c.find("aud");
  if (aud == c.end()) return refuse("ID token has no \"aud\"");
  bool several_audiences = false;
  if (aud->is_string()) {
    if (*aud != expect.audience) {
      return refuse("ID token audience " + printable(aud->get_ref<const std::string&>()) + " does not include " +
                    printable(expect.audience));
    }
  } else if (aud->is_array()) {
    bool found = false;
    for (const auto& a : *aud) {
      if (!a.is_string()) return refuse("ID token \"aud\" array holds a non-string");
      if (a == expect.audience) found = true;
    }
    if (!found)
      return refuse("ID token audience list (" + std::to_string(aud->size()) + " entries) does not include " + printable(expect.audience));
    several_audiences = aud->size() > 1;
  } else {
    return refuse("ID token \"aud\" is neither a string nor an array of strings");
  }
  auto azp = c.find("azp");
  if (azp != c.end()) {
    if (!azp->is_string() || *azp != expect.audience) {
      return refuse("ID token authorized party (azp) is not " + printable(expect.audience));
    }
  } else if (several_audiences) {
    return refuse("ID token has several audiences but no authorized party (azp) naming " + printable(expect.audience));
  }

  using std::chrono::seconds;
  const int64_t now = std::chrono::floor<seconds>(expect.now.time_since_epoch()).count();
  const int64_t skew = expect.clock_skew.count();
  auto date = [&](const char* name) -> Result<std::optional<int64_t>> {
    auto it = c.find(name);
    if (it == c.end()) return std::optional<int64_t>();
    auto v = numeric_date(*it);
    if (!v) return refuse(std::string("ID token \"") + name + "\" is not a valid NumericDate");
    return v;
  };
  auto exp = date("exp");
  if (!exp) return fail(exp.error());
  if (!*exp) return refuse("ID token has no expiry (\"exp\")");
  if (**exp <= now - skew) {
    return refuse("ID token expired at " + format_epoch(**exp) + " (now " + format_epoch(now) + ", clock skew allowed " +
                  std::to_string(skew) + " s)");
  }
  auto nbf = date("nbf");
  if (!nbf) return fail(nbf.error());
  if (*nbf && **nbf > now + skew) {
    return refuse("ID token is not valid before " + format_epoch(**nbf) + " (now " + format_epoch(now) + ")");
  }
  auto iat = date("iat");
  if (!iat) return fail(iat.error());
  if (!*iat) return refuse("ID token has no issue time (\"iat\")");
  if (**iat > now + skew) return refuse("ID token is issued in the future, at " + format_epoch(**iat) + " (now " + format_epoch(now) + ")");
  if (**iat < now - expect.max_age_since_iat.count() - skew) {
    return refuse("ID token was issued at " + format_epoch(**iat) + ", more than " + std::to_string(expect.max_age_since_iat.count()) +
                  " s ago");
  }

  auto nonce = c.find("nonce");
  if (nonce == c.end() || !nonce->is_string()) return refuse("ID token has no \"nonce\"");
  if (!constant_time_equal(nonce->get_ref<const std::string&>(), expect.nonce)) {
    return refuse("ID token nonce does not match this login attempt");
  }

  auto sub = c.find("sub");
  if (sub == c.end() || !sub->is_string() || sub->get_ref<const std::string&>().empty()) {
    return refuse("ID token has no subject (\"sub\")");
  }
  return std::move(*claims);
}

}  // namespace sightline::auth
