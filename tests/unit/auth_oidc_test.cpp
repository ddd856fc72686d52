// The OpenID Connect relying party against a fake provider: a recording HttpClient that serves a
// discovery document, a JWKS and token responses built here with keys generated here.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <map>
#include <memory>
#include <string>

#include "auth/crypto.h"
#include "auth/oidc.h"
#include "auth_test_keys.h"

namespace sightline::auth {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using Fields = std::vector<std::pair<std::string, std::string>>;

using namespace test_keys;

struct ProviderKeys {
  PkeyPtr first = generate_rsa();
  PkeyPtr second = generate_rsa();
};
const ProviderKeys& provider_keys() {
  static const ProviderKeys keys;  // RSA generation is slow; the keys are read-only
  return keys;
}

// --- a fake provider -----------------------------------------------------------------------------

struct RecordedRequest {
  std::string method, url;
  Fields fields;
  std::optional<std::pair<std::string, std::string>> basic_auth;
};

class FakeHttp : public HttpClient {
 public:
  Result<OutgoingResponse> get(const std::string& url) override {
    requests.push_back({"GET", url, {}, std::nullopt});
    auto it = routes.find(url);
    if (it == routes.end()) return fail(ErrorKind::Unavailable, "fake: nothing at " + url);
    return it->second;
  }
  Result<OutgoingResponse> post_form(const std::string& url, const Fields& fields,
                                     const std::optional<std::pair<std::string, std::string>>& basic_auth) override {
    requests.push_back({"POST", url, fields, basic_auth});
    if (url != token_url || !token_handler) return fail(ErrorKind::Unavailable, "fake: cannot POST to " + url);
    return token_handler(fields);
  }
  int count(const std::string& url) const {
    return static_cast<int>(std::count_if(requests.begin(), requests.end(), [&](const auto& r) { return r.url == url; }));
  }
  void serve_json(const std::string& url, const json& body, long status = 200) { routes[url] = {status, body.dump(), "application/json"}; }

  std::map<std::string, OutgoingResponse> routes;
  std::string token_url;
  std::function<OutgoingResponse(const Fields&)> token_handler;
  std::vector<RecordedRequest> requests;
};

std::string field(const Fields& fields, const std::string& name) {
  for (const auto& [k, v] : fields) {
    if (k == name) return v;
  }
  return "<absent>";
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Query parameters of a URL, decoded (last one wins).
std::map<std::string, std::string> query_of(const std::string& url) {
  std::map<std::string, std::string> out;
  auto q = url.find('?');
  if (q == std::string::npos) return out;
  std::string_view rest = std::string_view(url).substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    out[percent_decode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

constexpr const char* kIssuer = "https://idp.example.com/realms/acme";
constexpr const char* kDiscoveryUrl = "https://idp.example.com/realms/acme/.well-known/openid-configuration";
constexpr const char* kJwksUrl = "https://idp.example.com/realms/acme/certs";
constexpr const char* kTokenUrl = "https://idp.example.com/realms/acme/token";

class AuthOidc : public ::testing::Test {
 protected:
  void SetUp() override {
    settings.issuer = kIssuer;
    settings.client_id = "sightline";
    settings.client_secret = "s3cret:&=";
    settings.redirect_uri = "https://dash.example.com/auth/callback";
    settings.scopes = {"openid", "profile", "email", "groups"};
    settings.post_logout_redirect_uri = "https://dash.example.com/";
    discovery = {{"issuer", kIssuer},
                 {"authorization_endpoint", "https://idp.example.com/realms/acme/auth?prompt=login"},
                 {"token_endpoint", kTokenUrl},
                 {"jwks_uri", kJwksUrl},
                 {"end_session_endpoint", "https://idp.example.com/realms/acme/logout"},
                 {"code_challenge_methods_supported", {"plain", "S256"}},
                 {"id_token_signing_alg_values_supported", {"RS256"}}};
    http.serve_json(kDiscoveryUrl, discovery);
    http.serve_json(kJwksUrl, {{"keys", {rsa_jwk(provider_keys().first.get(), "k1")}}});
    http.token_url = kTokenUrl;
    http.token_handler = [this](const Fields&) {
      return OutgoingResponse{200, json{{"access_token", "opaque"}, {"token_type", "Bearer"}, {"id_token", next_id_token}}.dump(),
                              "application/json"};
    };
  }

  std::unique_ptr<OidcClient> client() {
    return std::make_unique<OidcClient>(settings, http, [this] { return now; });
  }

  json claims_for(const PendingLogin& pending) const {
    int64_t t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    return {{"iss", kIssuer},
            {"aud", "sightline"},
            {"sub", "f9a1c2"},
            {"nonce", pending.nonce},
            {"iat", t},
            {"exp", t + 300},
            {"email", "jane@example.com"},
            {"name", "Jane Doe"},
            {"groups", {"sales-north", "analysts"}}};
  }

  // begin_login, then the provider answers the code exchange with `claims` signed by `key`/`kid`.
  Result<LoginResult> login(OidcClient& oidc, EVP_PKEY* key, const std::string& kid, const std::function<void(json&)>& edit = {}) {
    auto start = oidc.begin_login("/d/sales");
    if (!start) return fail(start.error());
    json claims = claims_for(start->pending);
    if (edit) edit(claims);
    next_id_token = rs256(key, kid, claims);
    return oidc.finish_login("the-code", start->pending);
  }

  OidcSettings settings;
  json discovery;
  FakeHttp http;
  std::chrono::system_clock::time_point now{std::chrono::seconds(1'800'000'000)};
  std::string next_id_token;
};

TEST_F(AuthOidc, AuthorizationUrlHasEveryParameterAndS256Challenge) {
  auto oidc = client();
  auto start = oidc->begin_login("/d/sales?f=1");
  ASSERT_TRUE(start.has_value()) << start.error().message;
  const std::string& url = start->authorization_url;
  EXPECT_EQ(url.rfind("https://idp.example.com/realms/acme/auth?prompt=login&", 0), 0u) << url;
  auto q = query_of(url);
  EXPECT_EQ(q["prompt"], "login");
  EXPECT_EQ(q["response_type"], "code");
  EXPECT_EQ(q["client_id"], "sightline");
  EXPECT_EQ(q["redirect_uri"], "https://dash.example.com/auth/callback");
  EXPECT_EQ(q["scope"], "openid profile email groups");
  EXPECT_EQ(q["state"], start->pending.state);
  EXPECT_EQ(q["nonce"], start->pending.nonce);
  EXPECT_EQ(q["code_challenge_method"], "S256");
  EXPECT_EQ(q["code_challenge"], pkce_challenge(start->pending.code_verifier));
  EXPECT_EQ(q.count("code_verifier"), 0u);
  EXPECT_EQ(url.find(start->pending.code_verifier), std::string::npos);
  EXPECT_EQ(url.find(' '), std::string::npos);
  EXPECT_NE(url.find("redirect_uri=https%3A%2F%2Fdash.example.com%2Fauth%2Fcallback"), std::string::npos);
  EXPECT_GE(start->pending.code_verifier.size(), 43u);
  EXPECT_GE(start->pending.state.size(), 43u);
  EXPECT_NE(start->pending.state, start->pending.nonce);
  EXPECT_EQ(start->pending.return_to, "/d/sales?f=1");
  EXPECT_EQ(start->pending.created, now);

  auto again = oidc->begin_login("/");
  ASSERT_TRUE(again.has_value());
  EXPECT_NE(again->pending.state, start->pending.state);
  EXPECT_EQ(http.count(kDiscoveryUrl), 1);  // discovery is cached
}

TEST_F(AuthOidc, ReturnToMustBeALocalPath) {
  auto oidc = client();
  for (const char* evil :
       {"https://evil.example", "//evil.example/x", "/\\evil.example", "", "javascript:alert(1)", "/ok\r\nSet-Cookie: x"}) {
    auto start = oidc->begin_login(evil);
    ASSERT_TRUE(start.has_value());
    EXPECT_EQ(start->pending.return_to, "/") << evil;
  }
}

TEST_F(AuthOidc, AuthorizationEndpointWithoutQuery) {
  discovery["authorization_endpoint"] = "https://idp.example.com/authorize";
  http.serve_json(kDiscoveryUrl, discovery);
  auto start = client()->begin_login("/");
  ASSERT_TRUE(start.has_value());
  EXPECT_EQ(start->authorization_url.rfind("https://idp.example.com/authorize?response_type=code&", 0), 0u) << start->authorization_url;
}

TEST_F(AuthOidc, FinishLoginSendsVerifierRedirectUriAndBasicAuth) {
  auto oidc = client();
  auto start = oidc->begin_login("/d/sales");
  ASSERT_TRUE(start.has_value());
  next_id_token = rs256(provider_keys().first.get(), "k1", claims_for(start->pending));
  auto result = oidc->finish_login("the-code", start->pending);
  ASSERT_TRUE(result.has_value()) << result.error().message;

  ASSERT_EQ(http.count(kTokenUrl), 1);
  const RecordedRequest& post = *std::find_if(http.requests.begin(), http.requests.end(), [](const auto& r) { return r.method == "POST"; });
  EXPECT_EQ(field(post.fields, "grant_type"), "authorization_code");
  EXPECT_EQ(field(post.fields, "code"), "the-code");
  EXPECT_EQ(field(post.fields, "redirect_uri"), "https://dash.example.com/auth/callback");
  EXPECT_EQ(field(post.fields, "code_verifier"), start->pending.code_verifier);
  EXPECT_EQ(field(post.fields, "client_id"), "<absent>");  // authenticated by basic auth instead
  ASSERT_TRUE(post.basic_auth.has_value());
  EXPECT_EQ(post.basic_auth->first, "sightline");
  EXPECT_EQ(post.basic_auth->second, "s3cret:&=");  // the HTTP client form-encodes it (RFC 6749 2.3.1)

  const Identity& who = result->identity;
  EXPECT_EQ(who.issuer, kIssuer);
  EXPECT_EQ(who.subject, "f9a1c2");
  EXPECT_EQ(who.key(), std::string(kIssuer) + "\nf9a1c2");
  EXPECT_EQ(who.email, "jane@example.com");
  EXPECT_EQ(who.name, "Jane Doe");
  EXPECT_EQ(who.groups, (std::vector<std::string>{"sales-north", "analysts"}));
  EXPECT_EQ(who.claims["email"], "jane@example.com");
  EXPECT_EQ(result->id_token, next_id_token);
  // The access token is used for nothing: no request after the token exchange.
  EXPECT_EQ(http.requests.back().url, kJwksUrl);
}

TEST_F(AuthOidc, PublicClientSendsClientIdInTheForm) {
  settings.client_secret.clear();
  auto oidc = client();
  auto result = login(*oidc, provider_keys().first.get(), "k1");
  ASSERT_TRUE(result.has_value()) << result.error().message;
  const RecordedRequest& post = *std::find_if(http.requests.begin(), http.requests.end(), [](const auto& r) { return r.method == "POST"; });
  EXPECT_EQ(field(post.fields, "client_id"), "sightline");
  EXPECT_FALSE(post.basic_auth.has_value());
}

TEST_F(AuthOidc, DiscoveryIssuerMismatchIsRefusedAndRetriedAfterFiveSeconds) {
  discovery["issuer"] = std::string(kIssuer) + "/";
  http.serve_json(kDiscoveryUrl, discovery);
  auto oidc = client();
  auto start = oidc->begin_login("/");
  ASSERT_FALSE(start.has_value());
  EXPECT_EQ(start.error().kind, ErrorKind::Unavailable);
  EXPECT_NE(start.error().message.find("not the configured issuer"), std::string::npos) << start.error().message;
  EXPECT_FALSE(oidc->begin_login("/").has_value());
  EXPECT_EQ(http.count(kDiscoveryUrl), 1);  // the failure is answered again for 5 s...

  now += 6s;
  discovery["issuer"] = kIssuer;  // ...then retried, and the fixed provider is accepted
  http.serve_json(kDiscoveryUrl, discovery);
  EXPECT_TRUE(oidc->begin_login("/").has_value());
  EXPECT_EQ(http.count(kDiscoveryUrl), 2);
}

TEST_F(AuthOidc, TrailingSlashIssuerFindsDiscovery) {
  settings.issuer = std::string(kIssuer) + "/";
  discovery["issuer"] = settings.issuer;
  http.serve_json(kDiscoveryUrl, discovery);
  EXPECT_TRUE(client()->begin_login("/").has_value());
  EXPECT_EQ(http.count(kDiscoveryUrl), 1);
}

TEST_F(AuthOidc, DiscoveryWithoutS256OrEndpointsIsRefused) {
  json d = discovery;
  d["code_challenge_methods_supported"] = {"plain"};
  http.serve_json(kDiscoveryUrl, d);
  auto r = client()->begin_login("/");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("S256"), std::string::npos);

  d = discovery;
  d.erase("jwks_uri");
  http.serve_json(kDiscoveryUrl, d);
  r = client()->begin_login("/");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("jwks_uri"), std::string::npos);

  d = discovery;
  d["token_endpoint"] = "http://idp.example.com/token";  // plain http for a public issuer
  http.serve_json(kDiscoveryUrl, d);
  EXPECT_FALSE(client()->begin_login("/").has_value());
}

TEST_F(AuthOidc, TokenEndpointErrorSurfacesDescriptionButNotTheCode) {
  http.token_handler = [](const Fields&) {
    return OutgoingResponse{400, json{{"error", "invalid_grant"}, {"error_description", "Code the-code is not valid"}}.dump(),
                            "application/json"};
  };
  auto oidc = client();
  auto r = login(*oidc, provider_keys().first.get(), "k1");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::Unauthenticated);
  EXPECT_NE(r.error().message.find("invalid_grant"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("is not valid"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("the-code"), std::string::npos) << r.error().message;

  http.token_handler = [](const Fields&) { return OutgoingResponse{503, "busy", "text/plain"}; };
  r = login(*oidc, provider_keys().first.get(), "k1");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::Unavailable);
}

TEST_F(AuthOidc, TokenResponseWithoutIdTokenIsRefused) {
  http.token_handler = [](const Fields&) {
    return OutgoingResponse{200, R"({"access_token": "x", "token_type": "Bearer"})", "application/json"};
  };
  auto r = login(*client(), provider_keys().first.get(), "k1");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::Unauthenticated);
  EXPECT_NE(r.error().message.find("no id_token"), std::string::npos);
}

TEST_F(AuthOidc, IdTokenIsVerifiedAgainstThePendingNonceAndClientId) {
  auto oidc = client();
  auto r = login(*oidc, provider_keys().first.get(), "k1", [](json& c) { c["nonce"] = "from-another-attempt"; });
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("nonce"), std::string::npos);
  r = login(*oidc, provider_keys().first.get(), "k1", [](json& c) { c["aud"] = "another-client"; });
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("audience"), std::string::npos);
}

TEST_F(AuthOidc, UnknownKidRefetchesKeysOnceThenAtMostEvery30Seconds) {
  auto oidc = client();
  ASSERT_TRUE(login(*oidc, provider_keys().first.get(), "k1").has_value());
  EXPECT_EQ(http.count(kJwksUrl), 1);

  // The provider rotates to k2: the first token signed with it makes us fetch the keys again.
  http.serve_json(kJwksUrl, {{"keys", {rsa_jwk(provider_keys().first.get(), "k1"), rsa_jwk(provider_keys().second.get(), "k2")}}});
  now += 2s;
  auto rotated = login(*oidc, provider_keys().second.get(), "k2");
  ASSERT_TRUE(rotated.has_value()) << rotated.error().message;
  EXPECT_EQ(http.count(kJwksUrl), 2);
  ASSERT_TRUE(login(*oidc, provider_keys().second.get(), "k2").has_value());
  EXPECT_EQ(http.count(kJwksUrl), 2);  // now known: no fetch

  // A made-up kid within 30 s of that refetch: refused without asking the provider.
  now += 10s;
  auto bogus = login(*oidc, provider_keys().second.get(), "k-made-up");
  ASSERT_FALSE(bogus.has_value());
  EXPECT_EQ(bogus.error().kind, ErrorKind::Unauthenticated);
  EXPECT_NE(bogus.error().message.find("unknown key id"), std::string::npos) << bogus.error().message;
  EXPECT_EQ(http.count(kJwksUrl), 2);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(login(*oidc, provider_keys().second.get(), "k-other-" + std::to_string(i)).has_value());
  EXPECT_EQ(http.count(kJwksUrl), 2);

  // After 30 s one more refetch is allowed.
  now += 25s;
  EXPECT_FALSE(login(*oidc, provider_keys().second.get(), "k-made-up").has_value());
  EXPECT_EQ(http.count(kJwksUrl), 3);
}

TEST_F(AuthOidc, GroupsClaimMapping) {
  auto oidc = client();
  auto groups_of = [&](const std::function<void(json&)>& edit) {
    auto r = login(*oidc, provider_keys().first.get(), "k1", edit);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return r ? r->identity.groups : std::vector<std::string>{"<failed>"};
  };
  EXPECT_EQ(groups_of([](json& c) { c["groups"] = "solo"; }), std::vector<std::string>{"solo"});
  EXPECT_EQ(groups_of([](json& c) { c["groups"] = {"a", 5, "b"}; }), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(groups_of([](json& c) { c.erase("groups"); }), std::vector<std::string>{});
  EXPECT_EQ(groups_of([](json& c) { c["groups"] = json::object(); }), std::vector<std::string>{});
}

TEST_F(AuthOidc, ConfiguredClaimNamesAndNameFallback) {
  settings.groups_claim = "roles";
  settings.email_claim = "mail";
  auto oidc = client();
  auto r = login(*oidc, provider_keys().first.get(), "k1", [](json& c) {
    c["roles"] = {"admin"};
    c["mail"] = "j@corp.example";
    c.erase("name");
    c["preferred_username"] = "jane";
  });
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->identity.groups, std::vector<std::string>{"admin"});
  EXPECT_EQ(r->identity.email, "j@corp.example");
  EXPECT_EQ(r->identity.name, "jane");
}

TEST_F(AuthOidc, EndSessionUrl) {
  auto oidc = client();
  auto url = oidc->end_session_url("the.id.token");
  ASSERT_TRUE(url.has_value()) << url.error().message;
  EXPECT_EQ(url->rfind("https://idp.example.com/realms/acme/logout?", 0), 0u);
  auto q = query_of(*url);
  EXPECT_EQ(q["id_token_hint"], "the.id.token");
  EXPECT_EQ(q["post_logout_redirect_uri"], "https://dash.example.com/");
  EXPECT_EQ(q["client_id"], "sightline");

  discovery.erase("end_session_endpoint");
  http.serve_json(kDiscoveryUrl, discovery);
  auto none = client()->end_session_url("the.id.token");
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().kind, ErrorKind::NotFound);
}

TEST_F(AuthOidc, SettingsAreChecked) {
  EXPECT_TRUE(check_oidc_settings(settings).has_value());
  OidcSettings s = settings;
  s.scopes = {"profile", "email"};
  EXPECT_FALSE(check_oidc_settings(s).has_value());
  s = settings;
  s.issuer = "http://idp.example.com";
  EXPECT_FALSE(check_oidc_settings(s).has_value());
  s.issuer = "http://127.0.0.1:4000";
  EXPECT_TRUE(check_oidc_settings(s).has_value());
  s.issuer = "http://localhost:4000/oidc";
  EXPECT_TRUE(check_oidc_settings(s).has_value());
  s = settings;
  s.client_id.clear();
  EXPECT_FALSE(check_oidc_settings(s).has_value());

  // A client with bad settings answers every call with the settings error and never goes online.
  settings.scopes = {"profile"};
  auto oidc = client();
  auto r = oidc->begin_login("/");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("openid"), std::string::npos);
  EXPECT_TRUE(http.requests.empty());
}

TEST(AuthHttp, PercentEncodeKeepsOnlyUnreserved) {
  EXPECT_EQ(percent_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percent_encode("a b&c=d/e?f+g%h:"), "a%20b%26c%3Dd%2Fe%3Ff%2Bg%25h%3A");
  EXPECT_EQ(percent_encode("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(percent_encode(std::string("\0", 1)), "%00");
}

TEST(AuthHttp, CurlClientRefusesNonHttpUrlsWithoutNetwork) {
  auto http = make_curl_http_client(std::chrono::milliseconds(500));
  for (const char* url : {"file:///etc/passwd", "ftp://example.com/x", "not a url", "gopher://127.0.0.1/"}) {
    auto r = http->get(url);
    ASSERT_FALSE(r.has_value()) << url;
    EXPECT_EQ(r.error().kind, ErrorKind::Unavailable);
  }
}

TEST(AuthHttp, CurlClientReportsTheHostButNotCredentials) {
  // Port 1 on loopback: refused at once, no outside network involved.
  auto http = make_curl_http_client(std::chrono::milliseconds(2000));
  auto r = http->post_form("http://127.0.0.1:1/token", {{"code", "secret-code"}}, std::pair<std::string, std::string>{"client", "hunter2"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::Unavailable);
  EXPECT_NE(r.error().message.find("127.0.0.1:1"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("hunter2"), std::string::npos);
  EXPECT_EQ(r.error().message.find("secret-code"), std::string::npos);
}

}  // namespace
}  // namespace sightline::auth
