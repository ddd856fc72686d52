#include <curl/curl.h>

#include <algorithm>
#include <cctype>

#include "storage/http_transport.h"

namespace sightline::storage {

#ifndef SIGHTLINE_VERSION
#define SIGHTLINE_VERSION "dev"
#endif

namespace {

constexpr size_t kMaxKeptBody = 1 << 20;

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// What one exchange collects while libcurl runs it (its callbacks' user data).
struct Exchange {
  const BodySink* sink = nullptr;
  HttpReply reply;
  bool sink_refused = false;
  bool too_large = false;
};

// Header lines, one per call: a status line starts a new answer (after 100 Continue, say).
size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    ex->reply.headers.clear();
    const auto space = line.find(' ');
    ex->reply.status = space == std::string_view::npos ? 0 : std::atol(std::string(line.substr(space + 1, 3)).c_str());
    return n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  ex->reply.headers[name] = std::string(value);
  return n;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const size_t n = size * count;
  const bool success = ex->reply.status >= 200 && ex->reply.status < 300;
  if (success && ex->sink && *ex->sink) {
    if (!(*ex->sink)(ex->reply.status, std::string_view(data, n))) {
      ex->sink_refused = true;
      return 0;  // aborts the transfer
    }
    return n;
  }
  if (ex->reply.body.size() + n > kMaxKeptBody) {
    ex->too_large = true;
    return 0;
  }
  ex->reply.body.append(data, n);
  return n;
}

void ensure_curl_initialised() {
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)init;
}

class CurlTransport final : public HttpTransport {
 public:
  CurlTransport(std::chrono::milliseconds connect_timeout, std::chrono::milliseconds stall_timeout, std::string ca_file)
      : connect_timeout_(connect_timeout), stall_timeout_(stall_timeout), ca_file_(std::move(ca_file)) {}

  Result<HttpReply> send(const HttpCall& call, const BodySink& sink) override {
    const std::string host = authority_of(call.url);
    if (host.empty()) return fail(ErrorKind::Unavailable, "object store URL is not a valid http(s) URL");
    auto unavailable = [&](const std::string& what) { return fail(ErrorKind::Unavailable, "object store at " + host + ": " + what); };
    ensure_curl_initialised();
    std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
    if (!curl) return unavailable("could not create an HTTP handle");
    CURL* h = curl.get();
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    bool ok = true;
    for (const auto& [name, value] : call.headers) {
      const std::string line = name + ": " + value;
      curl_slist* next = curl_slist_append(headers.get(), line.c_str());
      if (!next) {
        ok = false;
        break;
      }
      (void)headers.release();
      headers.reset(next);
    }
    if (curl_slist* next = curl_slist_append(headers.get(), "Expect:")) {
      (void)headers.release();
      headers.reset(next);
    }
    Exchange ex;
    ex.sink = &sink;
    char error_text[CURL_ERROR_SIZE] = {};
    const long seconds = std::max<long>(1, static_cast<long>(stall_timeout_.count() / 1000));
    ok = ok && curl_easy_setopt(h, CURLOPT_URL, call.url.c_str()) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, call.method.c_str()) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK && curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK && curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout_.count())) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L) == CURLE_OK && curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, seconds) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &on_header) == CURLE_OK && curl_easy_setopt(h, CURLOPT_HEADERDATA, &ex) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body) == CURLE_OK && curl_easy_setopt(h, CURLOPT_WRITEDATA, &ex) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_text) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_USERAGENT, "Sightline/" SIGHTLINE_VERSION) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get()) == CURLE_OK;
    if (!ca_file_.empty()) ok = ok && curl_easy_setopt(h, CURLOPT_CAINFO, ca_file_.c_str()) == CURLE_OK;
    if (call.method == "HEAD") ok = ok && curl_easy_setopt(h, CURLOPT_NOBODY, 1L) == CURLE_OK;
    if (!ok) return unavailable("could not configure the HTTP request");
    const CURLcode rc = curl_easy_perform(h);
    if (ex.too_large) return unavailable("answer larger than " + std::to_string(kMaxKeptBody) + " bytes");
    if (ex.sink_refused) return fail(ErrorKind::Unavailable, "object store at " + host + ": the download could not be written");
    if (rc == CURLE_OPERATION_TIMEDOUT) return unavailable("no progress within " + std::to_string(stall_timeout_.count() / 1000) + " s");
    if (rc != CURLE_OK) return unavailable(error_text[0] ? error_text : curl_easy_strerror(rc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ex.reply.status);
    return std::move(ex.reply);
  }

 private:
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds stall_timeout_;
  std::string ca_file_;
};

}  // namespace

std::unique_ptr<HttpTransport> make_curl_transport(std::chrono::milliseconds connect_timeout, std::chrono::milliseconds stall_timeout,
                                                   std::string ca_file) {
  return std::make_unique<CurlTransport>(connect_timeout, stall_timeout, std::move(ca_file));
}

std::string authority_of(const std::string& url) {
  std::string_view rest(url);
  if (rest.starts_with("https://"))
    rest.remove_prefix(8);
  else if (rest.starts_with("http://"))
    rest.remove_prefix(7);
  else
    return {};
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  return std::string(rest);
}

}  // namespace sightline::storage
