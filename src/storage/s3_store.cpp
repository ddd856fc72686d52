// S3 and S3-compatible stores: ListObjectsV2 and GET Object, signed with AWS Signature V4.
#include <algorithm>
#include <cctype>
#include <ctime>

#include "auth/crypto.h"
#include "storage/store_internal.h"

namespace sightline::storage {

namespace {

std::string hex(std::string_view raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string trimmed(std::string_view v) {
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
  return std::string(v);
}

// sha256("") as hex: the payload of every request here (GETs have no body).
constexpr const char* kEmptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

class S3Store final : public ObjectStore {
 public:
  S3Store(config::ObjectStoreSpec spec, std::shared_ptr<HttpTransport> http, SecondsClock now)
      : spec_(std::move(spec)), http_(std::move(http)), now_(std::move(now)) {
    endpoint_ = spec_.endpoint.empty() ? "https://s3." + spec_.region + ".amazonaws.com" : spec_.endpoint;
  }

  Result<std::vector<ObjectInfo>> list(const std::string& bucket, const std::string& prefix) override {
    std::vector<ObjectInfo> out;
    std::string token;
    const std::string what = "listing s3://" + bucket + "/" + prefix;
    for (int page = 0; page < 100'000; ++page) {
      std::vector<std::pair<std::string, std::string>> query = {{"list-type", "2"}, {"prefix", prefix}};
      if (!token.empty()) query.emplace_back("continuation-token", token);
      auto reply = send(bucket, "", query, {}, nullptr);
      if (!reply) return fail(reply.error());
      if (reply->status != 200) return fail(detail::answer_error(*reply, what, host()));
      for (auto contents : xml_elements(reply->body, "Contents")) {
        ObjectInfo o;
        o.key = xml_text(contents, "Key").value_or("");
        o.size = std::atoll(xml_text(contents, "Size").value_or("0").c_str());
        o.etag = xml_text(contents, "ETag").value_or("");
        o.modified_ms = parse_http_time(xml_text(contents, "LastModified").value_or("")).value_or(0);
        if (!o.key.empty()) out.push_back(std::move(o));
      }
      const bool truncated = xml_text(reply->body, "IsTruncated").value_or("false") == "true";
      token = xml_text(reply->body, "NextContinuationToken").value_or("");
      if (!truncated) return out;
      if (token.empty()) return fail(ErrorKind::Unavailable, what + ": the listing is cut but names no next page");
    }
    return fail(ErrorKind::Unavailable, what + ": more than 100,000 pages");
  }

  Result<void> fetch(const std::string& bucket, const ObjectInfo& object, int64_t offset, const BodySink& sink) override {
    std::vector<std::pair<std::string, std::string>> extra;
    if (offset > 0) extra.emplace_back("range", "bytes=" + std::to_string(offset) + "-");
    if (!object.etag.empty()) extra.emplace_back("if-match", object.etag);
    auto reply = send(bucket, object.key, {}, extra, &sink);
    if (!reply) return fail(reply.error());
    if (reply->status == 200 || reply->status == 206) return {};
    return fail(detail::answer_error(*reply, "reading s3://" + bucket + "/" + object.key, host()));
  }

 private:
  std::string host() const { return authority_of(endpoint_); }

  Result<HttpReply> send(const std::string& bucket, const std::string& key, const std::vector<std::pair<std::string, std::string>>& query,
                         std::vector<std::pair<std::string, std::string>> headers, const BodySink* sink) {
    // Path style: https://host/bucket/key; virtual-host style: https://bucket.host/key.
    const std::string scheme = endpoint_.substr(0, endpoint_.find("://") + 3);
    const std::string authority = spec_.path_style ? host() : bucket + "." + host();
    const std::string base_path = endpoint_.substr(std::min(endpoint_.size(), scheme.size() + host().size()));
    std::string path = base_path + (spec_.path_style ? "/" + encode_key(bucket) : "") + "/" + encode_key(key);
    const std::string amz_date = detail::utc_time(now_(), "%Y%m%dT%H%M%SZ");
    headers.emplace_back("host", authority);
    headers.emplace_back("x-amz-date", amz_date);
    headers.emplace_back("x-amz-content-sha256", kEmptyPayload);
    if (!spec_.session_token.empty()) headers.emplace_back("x-amz-security-token", spec_.session_token);
    if (!spec_.access_key_id.empty()) {
      SigV4Request r{.method = "GET",
                     .path = path,
                     .query = query,
                     .headers = headers,
                     .payload_sha256 = kEmptyPayload,
                     .amz_date = amz_date,
                     .region = spec_.region,
                     .access_key_id = spec_.access_key_id,
                     .secret_access_key = spec_.secret_access_key};
      headers.emplace_back("authorization", sigv4_authorization(r));
    }
    HttpCall call{.method = "GET", .url = detail::with_query(scheme + authority + path, query), .headers = std::move(headers)};
    return http_->send(call, sink ? *sink : BodySink());
  }

  config::ObjectStoreSpec spec_;
  std::shared_ptr<HttpTransport> http_;
  SecondsClock now_;
  std::string endpoint_;
};

}  // namespace

std::string sigv4_authorization(const SigV4Request& r) {
  std::vector<std::pair<std::string, std::string>> query;
  for (const auto& [k, v] : r.query) query.emplace_back(encode_component(k), encode_component(v));
  std::sort(query.begin(), query.end());
  std::string canonical_query;
  for (const auto& [k, v] : query) canonical_query += (canonical_query.empty() ? "" : "&") + k + "=" + v;
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [k, v] : r.headers) {
    std::string name = k;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    headers.emplace_back(name, trimmed(v));
  }
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers, signed_headers;
  for (const auto& [k, v] : headers) {
    canonical_headers += k + ":" + v + "\n";
    signed_headers += (signed_headers.empty() ? "" : ";") + k;
  }
  const std::string canonical_request = r.method + "\n" + (r.path.empty() ? "/" : r.path) + "\n" + canonical_query + "\n" +
                                        canonical_headers + "\n" + signed_headers + "\n" + r.payload_sha256;
  const std::string day = r.amz_date.substr(0, 8);
  const std::string scope = day + "/" + r.region + "/" + r.service + "/aws4_request";
  const std::string to_sign = "AWS4-HMAC-SHA256\n" + r.amz_date + "\n" + scope + "\n" + auth::sha256_hex(canonical_request);
  std::string key = auth::hmac_sha256("AWS4" + r.secret_access_key, day);
  key = auth::hmac_sha256(key, r.region);
  key = auth::hmac_sha256(key, r.service);
  key = auth::hmac_sha256(key, "aws4_request");
  return "AWS4-HMAC-SHA256 Credential=" + r.access_key_id + "/" + scope + ", SignedHeaders=" + signed_headers +
         ", Signature=" + hex(auth::hmac_sha256(key, to_sign));
}

namespace detail {
std::unique_ptr<ObjectStore> make_s3_store(const config::ObjectStoreSpec& spec, std::shared_ptr<HttpTransport> http, SecondsClock now) {
  return std::make_unique<S3Store>(spec, std::move(http), std::move(now));
}
}  // namespace detail

}  // namespace sightline::storage
