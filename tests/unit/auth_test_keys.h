// Test-only JOSE keys and signing, shared by the JWT and OIDC tests: RSA and P-256 keys made
// here, their public JWKs, and SHA-256 signatures by OpenSSL.
#pragma once

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "auth/crypto.h"

namespace sightline::auth::test_keys {

using json = nlohmann::json;

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

inline PkeyPtr generate_rsa(size_t bits = 2048) {
  return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits), EVP_PKEY_free);
}
inline PkeyPtr generate_p256() {
  return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
}

// A BIGNUM parameter of a key as big-endian bytes, left-padded to `width` when width > 0.
inline std::string bn_param(EVP_PKEY* key, const char* name, int width = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1) << name;
  std::unique_ptr<BIGNUM, decltype(&BN_free)> owned(bn, BN_free);
  std::string out(width > 0 ? width : BN_num_bytes(bn), '\0');
  if (width > 0) {
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), width);
  } else {
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  }
  return out;
}

inline json rsa_jwk(EVP_PKEY* key, const std::string& kid) {
  return {{"kty", "RSA"},
          {"kid", kid},
          {"use", "sig"},
          {"alg", "RS256"},
          {"n", base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_N))},
          {"e", base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_E))}};
}

inline json ec_jwk(EVP_PKEY* key, const std::string& kid) {
  return {{"kty", "EC"},
          {"crv", "P-256"},
          {"kid", kid},
          {"use", "sig"},
          {"x", base64url_encode(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
          {"y", base64url_encode(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
}

inline std::string public_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// SHA-256 signature by OpenSSL: PKCS#1 v1.5 or PSS for RSA, DER ECDSA-Sig-Value for EC.
inline std::string sign_sha256(EVP_PKEY* key, std::string_view input, int rsa_padding = RSA_PKCS1_PADDING) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  EXPECT_EQ(EVP_DigestSignInit_ex(ctx.get(), &pctx, "SHA256", nullptr, nullptr, key, nullptr), 1);
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) EVP_PKEY_CTX_set_rsa_padding(pctx, rsa_padding);
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()), 1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data, input.size()), 1);
  sig.resize(len);
  return sig;
}

// An RS256 compact JWS of `claims` with header {alg, kid}.
inline std::string rs256(EVP_PKEY* key, const std::string& kid, const json& claims) {
  std::string input = base64url_encode(json{{"alg", "RS256"}, {"kid", kid}}.dump()) + "." + base64url_encode(claims.dump());
  return input + "." + base64url_encode(sign_sha256(key, input));
}

}  // namespace sightline::auth::test_keys
