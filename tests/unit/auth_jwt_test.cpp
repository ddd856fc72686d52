// ID token verification against keys generated here and tokens signed here, so every refusal is
// tested with a token that is otherwise perfectly valid.
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>
#include <string>

#include "auth/crypto.h"
#include "auth/jwt.h"
#include "auth_test_keys.h"

namespace sightline::auth {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

using namespace test_keys;

// DER ECDSA-Sig-Value → JOSE r||s.
std::string der_to_raw(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())), ECDSA_SIG_free);
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  return raw;
}

std::string signing_input(const json& header, const json& claims) {
  return base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
}

std::string rs256(EVP_PKEY* key, const json& header, const json& claims) {
  std::string input = signing_input(header, claims);
  return input + "." + base64url_encode(sign_sha256(key, input));
}

std::string es256(EVP_PKEY* key, const json& header, const json& claims) {
  std::string input = signing_input(header, claims);
  return input + "." + base64url_encode(der_to_raw(sign_sha256(key, input)));
}

// --- fixture -------------------------------------------------------------------------------------

struct TestKeys {
  PkeyPtr rsa = generate_rsa();
  PkeyPtr ec = generate_p256();
  json jwks = {{"keys", json::array({rsa_jwk(rsa.get(), "rsa-1"), ec_jwk(ec.get(), "ec-1")})}};
};

// Generated once for the whole binary: RSA key generation is slow, and the keys are read-only.
const TestKeys& test_keys() {
  static const TestKeys keys;
  return keys;
}

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
constexpr int64_t kNowSeconds = 1'800'000'000;

class AuthJwt : public ::testing::Test {
 protected:
  void SetUp() override {
    auto parsed = JsonWebKeySet::parse(test_keys().jwks);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
    keys = *parsed;
    expect.issuer = "https://idp.example.com";
    expect.audience = "sightline";
    expect.nonce = "n-0S6_WzA2Mj";
    expect.now = kNow;
  }

  json claims() const {
    return {{"iss", "https://idp.example.com"}, {"aud", "sightline"},       {"sub", "248289761001"},      {"nonce", "n-0S6_WzA2Mj"},
            {"iat", kNowSeconds - 5},           {"exp", kNowSeconds + 300}, {"email", "jane@example.com"}};
  }
  static json rs_header(const std::string& kid = "rsa-1") { return {{"alg", "RS256"}, {"kid", kid}, {"typ", "JWT"}}; }
  static json es_header(const std::string& kid = "ec-1") { return {{"alg", "ES256"}, {"kid", kid}}; }
  EVP_PKEY* rsa() const { return test_keys().rsa.get(); }
  EVP_PKEY* ec() const { return test_keys().ec.get(); }

  // Expects refusal as Unauthenticated with `fragment` in the message, which must not echo the token.
  void expect_refused(const std::string& token, const std::string& fragment) {
    auto r = verify_id_token(token, keys, expect);
    ASSERT_FALSE(r.has_value()) << "accepted, expected: " << fragment;
    EXPECT_EQ(r.error().kind, ErrorKind::Unauthenticated);
    EXPECT_NE(r.error().message.find(fragment), std::string::npos) << r.error().message;
    auto last_dot = token.rfind('.');
    if (last_dot != std::string::npos && token.size() - last_dot > 8) {
      EXPECT_EQ(r.error().message.find(token.substr(last_dot + 1)), std::string::npos) << "message echoes the signature";
    }
    if (token.size() > 16) {
      EXPECT_EQ(r.error().message.find(token.substr(0, 16)), std::string::npos) << "message echoes the token";
    }
  }

  JsonWebKeySet keys;
  IdTokenExpectations expect;
};

// --- acceptance ----------------------------------------------------------------------------------

TEST_F(AuthJwt, ValidRs256IsAcceptedWithClaims) {
  auto r = verify_id_token(rs256(rsa(), rs_header(), claims()), keys, expect);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ((*r)["sub"], "248289761001");
  EXPECT_EQ((*r)["email"], "jane@example.com");
}

TEST_F(AuthJwt, ValidEs256IsAcceptedWithClaims) {
  auto r = verify_id_token(es256(ec(), es_header(), claims()), keys, expect);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ((*r)["iss"], "https://idp.example.com");
}

TEST_F(AuthJwt, TokenWithoutKidUsesTheOnlyKeyOfItsType) {
  auto r = verify_id_token(es256(ec(), json{{"alg", "ES256"}}, claims()), keys, expect);
  ASSERT_TRUE(r.has_value()) << r.error().message;
}

TEST_F(AuthJwt, TokenWithoutKidIsRefusedWhenSeveralKeysFit) {
  auto second = generate_p256();
  json jwks = test_keys().jwks;
  jwks["keys"].push_back(ec_jwk(second.get(), "ec-2"));
  keys = *JsonWebKeySet::parse(jwks);
  expect_refused(es256(ec(), json{{"alg", "ES256"}}, claims()), "several");
}

TEST_F(AuthJwt, AudienceArrayWithMatchingAzpIsAccepted) {
  json c = claims();
  c["aud"] = {"sightline", "other-api"};
  c["azp"] = "sightline";
  auto r = verify_id_token(rs256(rsa(), rs_header(), c), keys, expect);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  c["aud"] = {"sightline"};  // a single-entry array needs no azp
  c.erase("azp");
  r = verify_id_token(rs256(rsa(), rs_header(), c), keys, expect);
  ASSERT_TRUE(r.has_value()) << r.error().message;
}

// --- signature and algorithm ---------------------------------------------------------------------

TEST_F(AuthJwt, TamperedPayloadIsRefused) {
  std::string token = rs256(rsa(), rs_header(), claims());
  json evil = claims();
  evil["sub"] = "admin";
  auto first = token.find('.'), second = token.rfind('.');
  std::string forged = token.substr(0, first + 1) + base64url_encode(evil.dump()) + token.substr(second);
  expect_refused(forged, "signature is invalid");
  std::string es = es256(ec(), es_header(), claims());
  first = es.find('.');
  second = es.rfind('.');
  expect_refused(es.substr(0, first + 1) + base64url_encode(evil.dump()) + es.substr(second), "signature is invalid");
}

TEST_F(AuthJwt, TamperedSignatureIsRefused) {
  for (const std::string& token : {rs256(rsa(), rs_header(), claims()), es256(ec(), es_header(), claims())}) {
    auto dot = token.rfind('.');
    std::string sig = *base64url_decode(token.substr(dot + 1));
    sig[sig.size() / 2] ^= 0x01;
    expect_refused(token.substr(0, dot + 1) + base64url_encode(sig), "signature is invalid");
  }
}

TEST_F(AuthJwt, AlgNoneIsRefused) {
  std::string token = base64url_encode(json{{"alg", "none"}}.dump()) + "." + base64url_encode(claims().dump()) + ".";
  expect_refused(token, "alg \"none\"");
  token = base64url_encode(json{{"alg", "none"}, {"kid", "rsa-1"}}.dump()) + "." + base64url_encode(claims().dump()) + ".";
  expect_refused(token, "alg \"none\"");
}

TEST_F(AuthJwt, Hs256SignedWithThePublicKeyIsRefused) {
  // The classic key-confusion attack: HMAC keyed with the verifier's public key, in the forms an
  // attacker can obtain (PEM, the JWK JSON, the raw modulus).
  const std::string secrets[] = {public_pem(rsa()), test_keys().jwks["keys"][0].dump(), bn_param(rsa(), OSSL_PKEY_PARAM_RSA_N)};
  for (const auto& secret : secrets) {
    json header = {{"alg", "HS256"}, {"kid", "rsa-1"}};
    std::string input = signing_input(header, claims());
    std::string token = input + "." + base64url_encode(hmac_sha256(secret, input));
    expect_refused(token, "HMAC");
  }
}

TEST_F(AuthJwt, Ps256IsRefused) {
  json header = {{"alg", "PS256"}, {"kid", "rsa-1"}};
  std::string input = signing_input(header, claims());
  std::string token = input + "." + base64url_encode(sign_sha256(rsa(), input, RSA_PKCS1_PSS_PADDING));
  expect_refused(token, "\"PS256\" is not accepted");
  for (const char* alg : {"RS512", "ES384", "EdDSA", "HS512"}) {
    json h = {{"alg", alg}, {"kid", "rsa-1"}};
    std::string in = signing_input(h, claims());
    expect_refused(in + "." + base64url_encode(sign_sha256(rsa(), in)), "only RS256 and ES256");
  }
}

TEST_F(AuthJwt, Es256WithDerSignatureIsRefused) {
  std::string input = signing_input(es_header(), claims());
  std::string der = sign_sha256(ec(), input);
  ASSERT_NE(der.size(), 64u);
  expect_refused(input + "." + base64url_encode(der), "64 bytes");
}

TEST_F(AuthJwt, UnknownKidIsReported) {
  auto other = generate_p256();
  expect_refused(es256(other.get(), es_header("ec-rotated"), claims()), "unknown key id");
  EXPECT_FALSE(keys.has_key("ec-rotated"));
  EXPECT_TRUE(keys.has_key("ec-1"));
  EXPECT_TRUE(keys.has_key("rsa-1"));
}

TEST_F(AuthJwt, KeyTypeMismatchIsRefused) {
  // An RS256 header naming the EC key (signed with the RSA key, so only the key choice is wrong).
  expect_refused(rs256(rsa(), rs_header("ec-1"), claims()), "key type mismatch");
  expect_refused(es256(ec(), es_header("rsa-1"), claims()), "key type mismatch");
}

TEST_F(AuthJwt, JwkDeclaredAlgMustMatchHeader) {
  json jwks = test_keys().jwks;
  jwks["keys"][0]["alg"] = "RS512";
  keys = *JsonWebKeySet::parse(jwks);
  expect_refused(rs256(rsa(), rs_header(), claims()), "declared algorithm");
}

TEST_F(AuthJwt, MalformedCompactFormsAreRefused) {
  std::string token = rs256(rsa(), rs_header(), claims());
  expect_refused(token + ".x", "three base64url parts");
  expect_refused("abc", "three base64url parts");
  expect_refused(token + "=", "signature is missing or not base64url");
  expect_refused("e30." + token.substr(token.find('.') + 1), "no \"alg\"");
  expect_refused("!!!." + token.substr(token.find('.') + 1), "header is not");
  json crit = rs_header();
  crit["crit"] = {"exp"};
  crit["exp"] = 1;
  expect_refused(rs256(rsa(), crit, claims()), "crit");
}

// --- claims --------------------------------------------------------------------------------------

TEST_F(AuthJwt, WrongIssuerIsRefused) {
  json c = claims();
  c["iss"] = "https://idp.example.com/";  // exact comparison: a trailing slash is a different issuer
  expect_refused(rs256(rsa(), rs_header(), c), "issuer");
  c.erase("iss");
  expect_refused(rs256(rsa(), rs_header(), c), "no \"iss\"");
}

TEST_F(AuthJwt, WrongAudienceIsRefused) {
  json c = claims();
  c["aud"] = "someone-else";
  expect_refused(rs256(rsa(), rs_header(), c), "audience \"someone-else\" does not include \"sightline\"");
  c["aud"] = {"a", "b"};
  expect_refused(rs256(rsa(), rs_header(), c), "does not include");
  c.erase("aud");
  expect_refused(rs256(rsa(), rs_header(), c), "no \"aud\"");
}

TEST_F(AuthJwt, AudienceArrayWithoutAzpIsRefused) {
  json c = claims();
  c["aud"] = {"sightline", "other-api"};
  expect_refused(rs256(rsa(), rs_header(), c), "azp");
  c["azp"] = "other-api";
  expect_refused(rs256(rsa(), rs_header(), c), "azp");
}

TEST_F(AuthJwt, ExpiryHonoursClockSkew) {
  json c = claims();
  c["iat"] = kNowSeconds - 400;
  c["exp"] = kNowSeconds - 59;  // just inside the 60 s skew
  auto r = verify_id_token(rs256(rsa(), rs_header(), c), keys, expect);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  c["exp"] = kNowSeconds - 60;
  expect_refused(rs256(rsa(), rs_header(), c), "ID token expired at 2027-01-15T07:59:00Z");
  c["exp"] = kNowSeconds - 3600;
  expect_refused(rs256(rsa(), rs_header(), c), "expired");
  c.erase("exp");
  expect_refused(rs256(rsa(), rs_header(), c), "no expiry");
  c["exp"] = "tomorrow";
  expect_refused(rs256(rsa(), rs_header(), c), "NumericDate");
}

TEST_F(AuthJwt, NotBeforeInTheFutureIsRefused) {
  json c = claims();
  c["nbf"] = kNowSeconds + 120;
  expect_refused(rs256(rsa(), rs_header(), c), "not valid before");
  c["nbf"] = kNowSeconds + 30;  // within skew
  EXPECT_TRUE(verify_id_token(rs256(rsa(), rs_header(), c), keys, expect).has_value());
}

TEST_F(AuthJwt, IssuedAtMustBePresentNotFutureNotStale) {
  json c = claims();
  c["iat"] = kNowSeconds + 120;
  expect_refused(rs256(rsa(), rs_header(), c), "issued in the future");
  c["iat"] = kNowSeconds + 30.5;  // fractional NumericDate within skew
  EXPECT_TRUE(verify_id_token(rs256(rsa(), rs_header(), c), keys, expect).has_value());
  c["iat"] = kNowSeconds - 3600;
  c["exp"] = kNowSeconds + 3600;
  expect_refused(rs256(rsa(), rs_header(), c), "more than 600 s ago");
  c.erase("iat");
  expect_refused(rs256(rsa(), rs_header(), c), "no issue time");
}

TEST_F(AuthJwt, NonceMustBePresentAndMatch) {
  json c = claims();
  c["nonce"] = "n-0S6_WzA2Mk";
  expect_refused(rs256(rsa(), rs_header(), c), "nonce does not match");
  c.erase("nonce");
  expect_refused(rs256(rsa(), rs_header(), c), "no \"nonce\"");
  // An empty expected nonce never matches anything, not even an empty claim.
  c["nonce"] = "";
  expect.nonce = "";
  auto r = verify_id_token(rs256(rsa(), rs_header(), c), keys, expect);
  ASSERT_FALSE(r.has_value());
}

TEST_F(AuthJwt, SubjectIsRequired) {
  json c = claims();
  c.erase("sub");
  expect_refused(rs256(rsa(), rs_header(), c), "no subject");
  c["sub"] = "";
  expect_refused(rs256(rsa(), rs_header(), c), "no subject");
  c["sub"] = 42;
  expect_refused(rs256(rsa(), rs_header(), c), "no subject");
}

// --- key sets ------------------------------------------------------------------------------------

TEST_F(AuthJwt, KeyIdIsReadWithoutVerifying) {
  EXPECT_EQ(jws_key_id(rs256(rsa(), rs_header("k-9"), claims())), "k-9");
  EXPECT_EQ(jws_key_id(es256(ec(), json{{"alg", "ES256"}}, claims())), std::nullopt);
  EXPECT_EQ(jws_key_id("not a token"), std::nullopt);
  EXPECT_EQ(jws_key_id(base64url_encode(R"({"kid": 5})") + ".e30.x"), std::nullopt);
}

TEST(AuthJwks, SkipsUnusableKeysOneByOne) {
  auto small = generate_rsa(1024);
  auto good = generate_p256();
  json jwks = {{"keys", json::array({
                            {{"kty", "oct"}, {"kid", "hmac"}, {"k", "c2VjcmV0"}},
                            rsa_jwk(small.get(), "too-small"),
                            json{{"kty", "EC"}, {"crv", "P-384"}, {"kid", "p384"}, {"x", "AA"}, {"y", "AA"}},
                            [&] {
                              json k = rsa_jwk(test_keys().rsa.get(), "encryption");
                              k["use"] = "enc";
                              return k;
                            }(),
                            json{{"kty", "EC"},
                                 {"crv", "P-256"},
                                 {"kid", "off-curve"},
                                 {"x", base64url_encode(std::string(32, '\1'))},
                                 {"y", base64url_encode(std::string(32, '\2'))}},
                            "not an object",
                            ec_jwk(good.get(), "good"),
                        })}};
  auto set = JsonWebKeySet::parse(jwks);
  ASSERT_TRUE(set.has_value()) << set.error().message;
  EXPECT_EQ(set->size(), 1u);
  EXPECT_TRUE(set->has_key("good"));
  for (const char* kid : {"hmac", "too-small", "p384", "encryption", "off-curve"}) EXPECT_FALSE(set->has_key(kid)) << kid;

  JsonWebKeySet copy = *set;  // copies share keys
  EXPECT_TRUE(copy.has_key("good"));
}

TEST(AuthJwks, FailsWhenNothingUsableRemains) {
  auto small = generate_rsa(1024);
  auto r = JsonWebKeySet::parse({{"keys", json::array({rsa_jwk(small.get(), "too-small")})}});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("1024 bits"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("too-small"), std::string::npos) << r.error().message;
  EXPECT_FALSE(JsonWebKeySet::parse(json::array()).has_value());
  EXPECT_FALSE(JsonWebKeySet::parse({{"keys", json::array()}}).has_value());
  EXPECT_FALSE(JsonWebKeySet::parse({{"keys", "nope"}}).has_value());
}

TEST(AuthJwks, EmptySetVerifiesNothing) {
  JsonWebKeySet empty;
  IdTokenExpectations expect{.issuer = "i", .audience = "a", .nonce = "n", .now = kNow};
  std::string token = rs256(test_keys().rsa.get(), json{{"alg", "RS256"}, {"kid", "rsa-1"}}, json{{"sub", "x"}});
  auto r = verify_id_token(token, empty, expect);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("unknown key id"), std::string::npos);
}

}  // namespace
}  // namespace sightline::auth
