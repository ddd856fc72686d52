// The gate's pure helpers: cookies, address blocks, return paths, and the client behind proxies.
#include "api/auth_gate.h"

#include <gtest/gtest.h>

#include <memory>

#include "auth/sessions.h"

namespace sightline::api {
namespace {

TEST(AuthGate, CookieValuesFindEveryCookieOfTheName) {
  EXPECT_EQ(cookie_values("a=1; sightline_session=abc; b=2", "sightline_session"), (std::vector<std::string>{"abc"}));
  EXPECT_EQ(cookie_values("sightline_session=x;sightline_session=\"y\"", "sightline_session"), (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(cookie_values("sightline_sessionx=1; xsightline_session=2", "sightline_session").empty());
  EXPECT_TRUE(cookie_values("", "sightline_session").empty());
}

TEST(AuthGate, AddressBlocks) {
  EXPECT_TRUE(address_in("10.1.2.3", "10.0.0.0/8"));
  EXPECT_FALSE(address_in("11.1.2.3", "10.0.0.0/8"));
  EXPECT_TRUE(address_in("127.0.0.1", "127.0.0.1"));
  EXPECT_FALSE(address_in("127.0.0.2", "127.0.0.1"));
  EXPECT_TRUE(address_in("192.168.1.77", "192.168.1.64/27"));
  EXPECT_FALSE(address_in("192.168.1.96", "192.168.1.64/27"));
  EXPECT_TRUE(address_in("fd00::1", "fd00::/8"));
  EXPECT_FALSE(address_in("::1", "127.0.0.1"));
  EXPECT_FALSE(address_in("not-an-address", "0.0.0.0/0"));
  EXPECT_FALSE(address_in("10.0.0.1", "10.0.0.0/33"));
}

TEST(AuthGate, ReturnPathsStayOnThisSite) {
  EXPECT_EQ(safe_return_path("/d/sales?f.region=North"), "/d/sales?f.region=North");
  for (const char* hostile :
       {"https://evil.example", "//evil.example", "/\\evil.example", "\\\\evil", "javascript:alert(1)", "", "/d/\x01x", "/a\\b"}) {
    EXPECT_EQ(safe_return_path(hostile), "/") << hostile;
  }
}

TEST(AuthGate, ClientAddressBehindConfiguredProxies) {
  config::AuthSpec auth;
  auth.mode = config::AuthMode::Oidc;
  HttpRequest req;
  req.peer = "10.0.0.5";
  req.headers = {{"x-forwarded-for", "203.0.113.9, 10.0.0.7"}};
  EXPECT_EQ(client_address(req, auth), "10.0.0.5") << "nobody configured as a forwarder: the peer";
  auth.forwarded_by = {"10.0.0.0/8"};
  EXPECT_EQ(client_address(req, auth), "203.0.113.9") << "the last hop that is not ours";
  req.headers = {{"x-forwarded-for", "198.51.100.1, 203.0.113.9"}};
  EXPECT_EQ(client_address(req, auth), "203.0.113.9") << "a spoofed first entry is ignored";
  req.headers = {{"x-forwarded-for", "garbage"}};
  EXPECT_EQ(client_address(req, auth), "10.0.0.5");
  req.peer = "198.51.100.20";
  req.headers = {{"x-forwarded-for", "1.2.3.4"}};
  EXPECT_EQ(client_address(req, auth), "198.51.100.20") << "an untrusted peer cannot choose its address";
}

}  // namespace
}  // namespace sightline::api

namespace sightline::auth {
namespace {

TEST(AuthLimits, AGuardKeepsItsLimiterAliveAfterTheOwnerDropsIt) {
  auto limiter = std::make_shared<ConcurrencyLimiter>(1);
  std::weak_ptr<ConcurrencyLimiter> watch = limiter;
  auto guard = limiter->acquire("ann");
  ASSERT_TRUE(guard.has_value());
  EXPECT_FALSE(limiter->acquire("ann").has_value()) << "limit 1";
  EXPECT_TRUE(limiter->acquire("bob").has_value()) << "per user";
  limiter.reset();  // a config reload replaced it while ann's query runs
  EXPECT_FALSE(watch.expired());
  guard.reset();
  EXPECT_TRUE(watch.expired());
}

TEST(AuthLimits, AFloodOfNewAddressesDoesNotLockOutKnownClients) {
  auto now = std::chrono::system_clock::time_point(std::chrono::hours(1000));
  RateLimiter limiter(
      3, [&] { return now; }, /*max_keys=*/4);
  EXPECT_TRUE(limiter.allow("victim"));
  for (int i = 0; i < 10; ++i) limiter.allow("flood-" + std::to_string(i));
  EXPECT_TRUE(limiter.allow("victim")) << "a known client keeps its budget";
  EXPECT_TRUE(limiter.allow("victim"));
  EXPECT_FALSE(limiter.allow("victim")) << "and its limit";
  EXPECT_FALSE(limiter.allow("newcomer")) << "new keys wait while the table is full";
  now += std::chrono::minutes(1);
  EXPECT_TRUE(limiter.allow("newcomer")) << "the next minute starts afresh";
}

}  // namespace
}  // namespace sightline::auth
