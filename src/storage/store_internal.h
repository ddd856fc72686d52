// Shared by the S3 and Azure stores; not for use outside src/storage.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "storage/object_store.h"

namespace sightline::storage::detail {

int64_t system_seconds();
// `seconds` since 1970 in UTC, as strftime's `format` writes it.
std::string utc_time(int64_t seconds, const char* format);

// `url` with the parameters appended, each encoded, then `extra` (already encoded: a SAS token).
std::string with_query(std::string url, const std::vector<std::pair<std::string, std::string>>& query, const std::string& extra = {});

// The error for a non-2xx answer to `what` ("listing s3://bucket/prefix"): its status and the
// store's error code, never the URL or a signature.
Error answer_error(const HttpReply& reply, const std::string& what, const std::string& host);

std::unique_ptr<ObjectStore> make_s3_store(const config::ObjectStoreSpec& spec, std::shared_ptr<HttpTransport> http, SecondsClock now);
std::unique_ptr<ObjectStore> make_azure_store(const config::ObjectStoreSpec& spec, std::shared_ptr<HttpTransport> http,
                                              SecondsClock now);

}  // namespace sightline::storage::detail
