// Object storage as Sightline reads it (docs/freshness.md, "Object storage"): list the objects
// under a prefix, fetch one into a local file. DuckDB's httpfs extension is not part of this
// build, so sources with an s3:// or az:// path are read from local copies (storage/mirror.h).
//
//   auto store = make_object_store(spec, transport, system_seconds);
//   auto objects = store->list("my-bucket", "orders/");          // every page of the listing
//   store->fetch("my-bucket", objects->front(), 0, sink);        // the bytes, chunk by chunk
//
// S3 requests carry AWS Signature Version 4 (any S3-compatible endpoint, path or virtual-host
// style); Azure Blob requests carry a SharedKey signature or a SAS token. Errors never carry a
// credential, a signature or a SAS token. Implementations are thread-safe (fetches run in
// parallel).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/project.h"
#include "core/error.h"
#include "storage/http_transport.h"

namespace sightline::storage {

struct ObjectInfo {
  std::string key;
  int64_t size = 0;
  std::string etag;  // as the store gives it (with its quotes); changes whenever the content does
  int64_t modified_ms = 0;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  // Every object whose key starts with `prefix`, in key order. Errors: Forbidden (credentials
  // refused, with the store's code), NotFound (no such bucket or container), Unavailable.
  virtual Result<std::vector<ObjectInfo>> list(const std::string& container, const std::string& prefix) = 0;
  // The object's bytes from `offset` on, to `sink` (a 200 answer to a ranged request restarts at
  // 0: the sink sees `status` 200 then). Fails with Conflict when the object is no longer
  // `object.etag` (it changed: list again), NotFound when it is gone.
  virtual Result<void> fetch(const std::string& container, const ObjectInfo& object, int64_t offset, const BodySink& sink) = 0;
};

// Seconds since 1970: the signatures' time (injected by tests).
using SecondsClock = std::function<int64_t()>;

std::unique_ptr<ObjectStore> make_object_store(const config::ObjectStoreSpec& spec, std::shared_ptr<HttpTransport> http,
                                               SecondsClock now = nullptr);

// ---- The parts, exposed for tests ----

// AWS Signature Version 4 for one request: the Authorization header's value. `headers` are
// every header sent that is signed (lowercase names, including host and x-amz-date);
// `query` the raw (not yet encoded) parameters; `path` the URL's path as sent (encoded).
struct SigV4Request {
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_sha256;  // hex
  std::string amz_date;        // 20130524T000000Z
  std::string region;
  std::string service = "s3";
  std::string access_key_id;
  std::string secret_access_key;
};
std::string sigv4_authorization(const SigV4Request& request);

// Azure SharedKey for one request: the Authorization header's value. `path` is the URL's path as
// sent (encoded); `headers` every header sent (any case); `query` the raw parameters.
struct SharedKeyRequest {
  std::string method;
  std::string account;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string account_key;  // base64, as the portal shows it
};
Result<std::string> shared_key_authorization(const SharedKeyRequest& request);

// Percent-encoding of a key for a URL path: every byte but A-Z a-z 0-9 - . _ ~ and '/'.
std::string encode_key(std::string_view key);
// Percent-encoding for query values and SigV4's canonical query: every byte but A-Z a-z 0-9 - . _ ~.
std::string encode_component(std::string_view text);

// Each element named `tag` in `xml` (not nested in itself): its inner text, undecoded.
std::vector<std::string_view> xml_elements(std::string_view xml, std::string_view tag);
// The first child element `tag` of `xml`, its text with entities decoded; nullopt when absent.
std::optional<std::string> xml_text(std::string_view xml, std::string_view tag);

// "2026-12-07T16:00:00.000Z" and "Mon, 07 Dec 2026 16:00:00 GMT" as milliseconds since 1970.
std::optional<int64_t> parse_http_time(std::string_view text);

}  // namespace sightline::storage
