// Azure Blob Storage (and Azurite): List Blobs and Get Blob, signed with SharedKey or carrying a
// SAS token.
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

#include "auth/crypto.h"
#include "storage/store_internal.h"

namespace sightline::storage {

namespace {

constexpr const char* kApiVersion = "2021-08-06";

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t len = static_cast<size_t>(n);
  if (text.ends_with("==")) len -= 2;
  else if (text.ends_with("=")) len -= 1;
  out.resize(len);
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(std::max(n, 0)));
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

class AzureStore final : public ObjectStore {
 public:
  AzureStore(config::ObjectStoreSpec spec, std::shared_ptr<HttpTransport> http, SecondsClock now)
      : spec_(std::move(spec)), http_(std::move(http)), now_(std::move(now)) {
    endpoint_ = spec_.endpoint.empty() ? "https://" + spec_.account + ".blob.core.windows.net" : spec_.endpoint;
  }

  Result<std::vector<ObjectInfo>> list(const std::string& container, const std::string& prefix) override {
    std::vector<ObjectInfo> out;
    std::string marker;
    const std::string what = "listing az://" + container + "/" + prefix;
    for (int page = 0; page < 100'000; ++page) {
      std::vector<std::pair<std::string, std::string>> query = {{"restype", "container"}, {"comp", "list"}, {"prefix", prefix}};
      if (!marker.empty()) query.emplace_back("marker", marker);
      auto reply = send("/" + encode_key(container), query, {}, nullptr);
      if (!reply) return fail(reply.error());
      if (reply->status != 200) return fail(detail::answer_error(*reply, what, authority_of(endpoint_)));
      for (auto blob : xml_elements(reply->body, "Blob")) {
        ObjectInfo o;
        o.key = xml_text(blob, "Name").value_or("");
        const auto properties = xml_elements(blob, "Properties");
        const std::string_view props = properties.empty() ? blob : properties.front();
        o.size = std::atoll(xml_text(props, "Content-Length").value_or("0").c_str());
        o.etag = xml_text(props, "Etag").value_or("");
        o.modified_ms = parse_http_time(xml_text(props, "Last-Modified").value_or("")).value_or(0);
        if (!o.key.empty()) out.push_back(std::move(o));
      }
      marker = xml_text(reply->body, "NextMarker").value_or("");
      if (marker.empty()) return out;
    }
    return fail(ErrorKind::Unavailable, what + ": more than 100,000 pages");
  }

  Result<void> fetch(const std::string& container, const ObjectInfo& object, int64_t offset, const BodySink& sink) override {
    std::vector<std::pair<std::string, std::string>> headers;
    if (offset > 0) headers.emplace_back("x-ms-range", "bytes=" + std::to_string(offset) + "-");
    if (!object.etag.empty()) headers.emplace_back("If-Match", object.etag);
    auto reply = send("/" + encode_key(container) + "/" + encode_key(object.key), {}, headers, &sink);
    if (!reply) return fail(reply.error());
    if (reply->status == 200 || reply->status == 206) return {};
    return fail(detail::answer_error(*reply, "reading az://" + container + "/" + object.key, authority_of(endpoint_)));
  }

 private:
  Result<HttpReply> send(const std::string& resource, const std::vector<std::pair<std::string, std::string>>& query,
                         std::vector<std::pair<std::string, std::string>> headers, const BodySink* sink) {
    const std::string scheme = endpoint_.substr(0, endpoint_.find("://") + 3);
    const std::string base_path = endpoint_.substr(std::min(endpoint_.size(), scheme.size() + authority_of(endpoint_).size()));
    const std::string path = base_path + resource;
    headers.emplace_back("x-ms-date", detail::utc_time(now_(), "%a, %d %b %Y %H:%M:%S GMT"));
    headers.emplace_back("x-ms-version", kApiVersion);
    if (!spec_.account_key.empty()) {
      auto authorization = shared_key_authorization(
          {.method = "GET", .account = spec_.account, .path = path, .query = query, .headers = headers, .account_key = spec_.account_key});
      if (!authorization) return fail(authorization.error());
      headers.emplace_back("Authorization", *authorization);
    }
    HttpCall call{.method = "GET", .url = detail::with_query(endpoint_.substr(0, endpoint_.size() - base_path.size()) + path, query, spec_.sas),
                  .headers = std::move(headers)};
    return http_->send(call, sink ? *sink : BodySink());
  }

  config::ObjectStoreSpec spec_;
  std::shared_ptr<HttpTransport> http_;
  SecondsClock now_;
  std::string endpoint_;
};

}  // namespace

Result<std::string> shared_key_authorization(const SharedKeyRequest& r) {
  auto key = base64_decode(r.account_key);
  if (!key) return fail(ErrorKind::InvalidInput, "the Azure account key is not base64", "copy the key as the portal shows it");
  std::map<std::string, std::string> standard;  // the fixed header lines, by lowercase name
  std::map<std::string, std::string> ms;        // x-ms-* headers, sorted
  for (const auto& [k, v] : r.headers) {
    const std::string name = lower(k);
    if (name.starts_with("x-ms-"))
      ms[name] = v;
    else
      standard[name] = v;
  }
  auto line = [&](const char* name) {
    auto it = standard.find(name);
    return (it == standard.end() ? std::string() : it->second) + "\n";
  };
  std::string length = standard.count("content-length") ? standard["content-length"] : "";
  if (length == "0") length.clear();
  std::string to_sign = r.method + "\n" + line("content-encoding") + line("content-language") + length + "\n" + line("content-md5") +
                        line("content-type") + line("date") + line("if-modified-since") + line("if-match") + line("if-none-match") +
                        line("if-unmodified-since") + line("range");
  for (const auto& [k, v] : ms) to_sign += k + ":" + v + "\n";
  to_sign += "/" + r.account + r.path;
  std::map<std::string, std::string> params;
  for (const auto& [k, v] : r.query) {
    auto& slot = params[lower(k)];
    slot += (slot.empty() ? "" : ",") + v;
  }
  for (const auto& [k, v] : params) to_sign += "\n" + k + ":" + v;
  return "SharedKey " + r.account + ":" + base64_encode(auth::hmac_sha256(*key, to_sign));
}

namespace detail {
std::unique_ptr<ObjectStore> make_azure_store(const config::ObjectStoreSpec& spec, std::shared_ptr<HttpTransport> http,
                                              SecondsClock now) {
  return std::make_unique<AzureStore>(spec, std::move(http), std::move(now));
}
}  // namespace detail

}  // namespace sightline::storage
