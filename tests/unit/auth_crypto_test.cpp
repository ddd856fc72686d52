#include <gtest/gtest.h>

#include <set>
#include <string>

#include "auth/crypto.h"

namespace sightline::auth {
namespace {

std::string hex(std::string_view raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

TEST(AuthCrypto, Base64UrlKnownVectors) {
  // RFC 4648 section 10, without padding, plus the two characters that differ from base64.
  const std::pair<std::string, std::string> cases[] = {{"", ""},
                                                       {"f", "Zg"},
                                                       {"fo", "Zm8"},
                                                       {"foo", "Zm9v"},
                                                       {"foob", "Zm9vYg"},
                                                       {"fooba", "Zm9vYmE"},
                                                       {"foobar", "Zm9vYmFy"},
                                                       {"\xfb\xff", "-_8"},
                                                       {std::string("\0\0\0", 3), "AAAA"}};
  for (const auto& [raw, encoded] : cases) {
    EXPECT_EQ(base64url_encode(raw), encoded);
    auto decoded = base64url_decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(*decoded, raw);
  }
}

TEST(AuthCrypto, Base64UrlRoundTripsEveryLengthAndByte) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    bytes.push_back(static_cast<char>((i * 37 + 11) & 0xFF));
    std::string encoded = base64url_encode(bytes);
    EXPECT_EQ(encoded.find_first_of("+/="), std::string::npos);
    auto decoded = base64url_decode(encoded);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, bytes);
  }
}

TEST(AuthCrypto, Base64UrlRefusesInvalidInput) {
  for (const char* bad : {"Zg==", "Zm8=", "Zm9v!", "Zm 9v", "Zm9v\n", "Zm+v", "Zm/v", "a", "Zm9vY", "Zh", "Zm9"}) {
    EXPECT_FALSE(base64url_decode(bad).has_value()) << bad;
  }
  EXPECT_FALSE(base64url_decode(std::string("Zm\0v", 4)).has_value());
}

TEST(AuthCrypto, PkceChallengeMatchesRfc7636AppendixB) {
  EXPECT_EQ(pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(AuthCrypto, Sha256AndHmacKnownAnswers) {
  EXPECT_EQ(sha256("abc").size(), 32u);
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex(sha256("abc")), sha256_hex("abc"));
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // RFC 4231 test case 2.
  EXPECT_EQ(hex(hmac_sha256("Jefe", "what do ya want for nothing?")), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex(hmac_sha256("", "")), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(AuthCrypto, RandomTokensAreLongAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string token = random_token();
    EXPECT_EQ(token.size(), 43u);
    auto raw = base64url_decode(token);
    ASSERT_TRUE(raw.has_value());
    EXPECT_EQ(raw->size(), 32u);
    seen.insert(token);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(random_token(16).size(), 22u);
}

TEST(AuthCrypto, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  EXPECT_FALSE(constant_time_equal("", "x"));
  EXPECT_TRUE(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // namespace
}  // namespace sightline::auth
