#include "auth/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <limits>

namespace sightline::auth {

namespace {

#ifndef SIGHTLINE_VERSION
#define SIGHTLINE_VERSION "dev"
#endif

// unique_ptr deleter calling a libcurl free function, so every handle is released exactly once.
template <auto FreeFn>
struct Free {
  template <class T>
  void operator()(T* p) const {
    FreeFn(p);
  }
};
using EasyPtr = std::unique_ptr<CURL, Free<curl_easy_cleanup>>;
using SlistPtr = std::unique_ptr<curl_slist, Free<curl_slist_free_all>>;
using UrlPtr = std::unique_ptr<CURLU, Free<curl_url_cleanup>>;
using CurlStringPtr = std::unique_ptr<char, Free<curl_free>>;

// libcurl wants one process-wide initialisation before the first handle; a function-local static
// makes that happen exactly once, on first use, without a global constructor.
void ensure_curl_initialised() {
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)init;  // a failure surfaces as curl_easy_init returning null
}

// "host" or "host:port" of an http(s) URL, for messages; nullopt when the URL is not one.
std::optional<std::string> host_of(const std::string& url) {
  UrlPtr u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return std::nullopt;
  char* raw = nullptr;
  if (curl_url_get(u.get(), CURLUPART_SCHEME, &raw, 0) != CURLUE_OK) return std::nullopt;
  CurlStringPtr scheme(raw);
  std::string_view s(scheme.get());
  if (s != "http" && s != "https") return std::nullopt;
  if (curl_url_get(u.get(), CURLUPART_HOST, &raw, 0) != CURLUE_OK) return std::nullopt;
  CurlStringPtr host(raw);
  std::string out = host.get();
  if (curl_url_get(u.get(), CURLUPART_PORT, &raw, 0) == CURLUE_OK) {
    CurlStringPtr port(raw);
    out += ':';
    out += port.get();
  }
  return out;
}

// Collects the response body, refusing to grow past `max` bytes.
struct BodySink {
  std::string body;
  std::size_t max = 0;
  bool overflow = false;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  size_t n = size * count;
  if (n > sink->max - sink->body.size()) {
    sink->overflow = true;
    return 0;  // any count other than n makes libcurl abort with CURLE_WRITE_ERROR
  }
  sink->body.append(data, n);
  return n;
}

class CurlHttpClient final : public HttpClient {
 public:
  CurlHttpClient(std::chrono::milliseconds timeout, std::size_t max_body) : timeout_(timeout), max_body_(max_body) {}

  Result<OutgoingResponse> get(const std::string& url) override { return perform(url, nullptr, std::nullopt); }

  Result<OutgoingResponse> post_form(const std::string& url, const std::vector<std::pair<std::string, std::string>>& fields,
                                     const std::optional<std::pair<std::string, std::string>>& basic_auth) override {
    std::string body;
    for (const auto& [name, value] : fields) {
      if (!body.empty()) body += '&';
      body += percent_encode(name);
      body += '=';
      body += percent_encode(value);
    }
    return perform(url, &body, basic_auth);
  }

  Result<OutgoingResponse> post_body(const std::string& url, const std::string& body, const std::string& content_type) override {
    const std::string header = "Content-Type: " + content_type;
    return perform(url, &body, std::nullopt, header.c_str(), "trace collector");
  }

 private:
  // One exchange on a fresh easy handle. `form` null means GET.
  // `peer` names the other side in errors.
  Result<OutgoingResponse> perform(const std::string& url, const std::string* form,
                                   const std::optional<std::pair<std::string, std::string>>& basic_auth,
                                   const char* content_type_header = "Content-Type: application/x-www-form-urlencoded",
                                   const std::string& peer = "identity provider") {
    auto host = host_of(url);
    if (!host) return fail(ErrorKind::Unavailable, peer + " URL is not a valid http(s) URL");
    auto unavailable = [&](const std::string& what) { return fail(ErrorKind::Unavailable, peer + " at " + *host + ": " + what); };

    ensure_curl_initialised();
    EasyPtr curl(curl_easy_init());
    if (!curl) return unavailable("could not create an HTTP handle (libcurl initialisation failed)");
    CURL* h = curl.get();
    BodySink sink;
    sink.max = max_body_;
    char error_text[CURL_ERROR_SIZE] = {};
    SlistPtr headers;
    auto add_header = [&](const char* line) {
      curl_slist* next = curl_slist_append(headers.get(), line);
      if (next) {
        (void)headers.release();  // curl_slist_append returned the (same) head, now owning the new node
        headers.reset(next);
      }
      return next != nullptr;
    };
    const long timeout_ms = static_cast<long>(timeout_.count());
    const auto max_file = static_cast<curl_off_t>(std::min<std::size_t>(max_body_, std::numeric_limits<curl_off_t>::max()));

    bool ok =
        curl_easy_setopt(h, CURLOPT_URL, url.c_str()) == CURLE_OK && curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK && curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&  // timeouts without SIGALRM: thread-safe
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, max_file) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body) == CURLE_OK && curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_text) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_USERAGENT, "Sightline/" SIGHTLINE_VERSION) == CURLE_OK && add_header("Accept: application/json") &&
        add_header("Expect:");
    if (ok && form) {
      ok = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(form->size())) == CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_POSTFIELDS, form->c_str()) == CURLE_OK &&
           add_header(content_type_header);
    }
    if (ok && basic_auth) {
      // RFC 6749 section 2.3.1: client id and secret are form-urlencoded, then joined by ':' and
      // base64-encoded (libcurl does the last two steps).
      std::string user = percent_encode(basic_auth->first), password = percent_encode(basic_auth->second);
      ok = curl_easy_setopt(h, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC)) == CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_USERNAME, user.c_str()) == CURLE_OK &&  // libcurl copies strings
           curl_easy_setopt(h, CURLOPT_PASSWORD, password.c_str()) == CURLE_OK;
    }
    if (ok) ok = curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get()) == CURLE_OK;
    if (!ok) return unavailable("could not configure the HTTP request (libcurl lacks a required option)");

    CURLcode rc = curl_easy_perform(h);
    if (sink.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
      return unavailable("answer is larger than " + std::to_string(max_body_) + " bytes");
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) return unavailable("no answer within " + std::to_string(timeout_.count()) + " ms");
    if (rc != CURLE_OK) return unavailable(error_text[0] ? error_text : curl_easy_strerror(rc));

    OutgoingResponse out;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out.status);
    char* content_type = nullptr;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &content_type) == CURLE_OK && content_type) out.content_type = content_type;
    out.body = std::move(sink.body);
    return out;
  }

  std::chrono::milliseconds timeout_;
  std::size_t max_body_;
};

}  // namespace

std::unique_ptr<HttpClient> make_curl_http_client(std::chrono::milliseconds timeout, std::size_t max_body) {
  return std::make_unique<CurlHttpClient>(timeout, max_body);
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace sightline::auth
