// Object storage: AWS Signature V4 against AWS's published example, the listings' XML, key
// patterns, and local copies (storage/mirror.h) over an in-memory store: what is fetched again,
// what is removed, that a failed sync changes nothing, that a cut fetch resumes, limits and keys
// that cannot be files. The real S3 and Azure protocols are tested against emulators in
// tests/integration/object_storage.test.mjs.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "storage/mirror.h"
#include "storage/object_store.h"

namespace sightline::storage {
namespace {

namespace fs = std::filesystem;

TEST(SigV4, MatchesAwsPublishedExampleForAGetWithARange) {
  // AWS's S3 documentation, "Example: GET Object" (header-based authentication).
  SigV4Request r{.method = "GET",
                 .path = "/test.txt",
                 .query = {},
                 .headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                             {"Range", "bytes=0-9"},
                             {"x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
                             {"x-amz-date", "20130524T000000Z"}},
                 .payload_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                 .amz_date = "20130524T000000Z",
                 .region = "us-east-1",
                 .access_key_id = "AKIAIOSFODNN7EXAMPLE",
                 .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
  const std::string header = sigv4_authorization(r);
  EXPECT_EQ(header,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  // Any change to what is signed changes the signature.
  r.query = {{"prefix", "a b"}};
  EXPECT_NE(sigv4_authorization(r), header);
}

TEST(SharedKey, RefusesAKeyThatIsNotBase64AndSignsTheQuerySorted) {
  EXPECT_FALSE(shared_key_authorization({.method = "GET", .account = "acct", .path = "/c", .account_key = "not base64!"}));
  SharedKeyRequest r{.method = "GET",
                     .account = "acct",
                     .path = "/c",
                     .query = {{"restype", "container"}, {"comp", "list"}},
                     .headers = {{"x-ms-date", "Mon, 07 Dec 2026 16:00:00 GMT"}, {"x-ms-version", "2021-08-06"}},
                     .account_key = "c2VjcmV0LWtleS1mb3ItdGVzdHM="};
  auto a = shared_key_authorization(r);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->starts_with("SharedKey acct:"));
  std::swap(r.query[0], r.query[1]);  // the order of parameters does not matter
  EXPECT_EQ(*shared_key_authorization(r), *a);
  r.headers[0].second = "Mon, 07 Dec 2026 16:00:01 GMT";
  EXPECT_NE(*shared_key_authorization(r), *a);
}

TEST(ObjectXml, ReadsElementsAndDecodesEntities) {
  const std::string xml =
      "<ListBucketResult><KeyCount>2</KeyCount><Contents><Key>a/b &amp; c &#252;.parquet</Key><ETag>&quot;9b2&quot;</ETag>"
      "<Size>12</Size></Contents><Contents><Key>x</Key><Size>1</Size></Contents><NextMarker/></ListBucketResult>";
  auto contents = xml_elements(xml, "Contents");
  ASSERT_EQ(contents.size(), 2u);
  EXPECT_EQ(xml_text(contents[0], "Key"), "a/b & c \xC3\xBC.parquet");
  EXPECT_EQ(xml_text(contents[0], "ETag"), "\"9b2\"");
  EXPECT_EQ(xml_text(xml, "KeyCount"), "2");  // not confused with <Key>
  EXPECT_EQ(xml_text(xml, "NextMarker"), "");
  EXPECT_EQ(xml_text(xml, "Missing"), std::nullopt);
}

TEST(ObjectXml, ParsesBothTimeFormats) {
  EXPECT_EQ(parse_http_time("2026-12-07T16:00:00.250Z"), 1796659200250);
  EXPECT_EQ(parse_http_time("Mon, 07 Dec 2026 16:00:00 GMT"), 1796659200000);
  EXPECT_EQ(parse_http_time("yesterday"), std::nullopt);
}

TEST(KeyPatterns, MatchWithinAndAcrossParts) {
  EXPECT_TRUE(key_matches("orders/**/*.parquet", "orders/a.parquet"));
  EXPECT_TRUE(key_matches("orders/**/*.parquet", "orders/day=2024-01-01/h=3/a.parquet"));
  EXPECT_FALSE(key_matches("orders/**/*.parquet", "orders/a.csv"));
  EXPECT_FALSE(key_matches("orders/*.parquet", "orders/x/a.parquet"));
  EXPECT_FALSE(key_matches("orders/*.parquet", "ordersx/a.parquet"));
  EXPECT_TRUE(key_matches("o/part-?.csv", "o/part-1.csv"));
  EXPECT_TRUE(key_matches("o/[ab].csv", "o/b.csv"));
  EXPECT_EQ(listing_prefix("orders/day=*/x.parquet"), "orders/day=");
  EXPECT_EQ(listing_prefix("one/file.csv"), "one/file.csv");
}

// An in-memory store: objects by key; fetches can be made to fail or to stop after some bytes.
class MemoryStore : public ObjectStore {
 public:
  void put(const std::string& key, const std::string& bytes, int64_t modified_ms = 1'700'000'000'000) {
    std::lock_guard lock(mutex_);
    objects_[key] = {bytes, "\"" + std::to_string(++etags_) + "\"", modified_ms};
  }
  void remove(const std::string& key) {
    std::lock_guard lock(mutex_);
    objects_.erase(key);
  }
  Result<std::vector<ObjectInfo>> list(const std::string& container, const std::string& prefix) override {
    std::lock_guard lock(mutex_);
    if (container != "bucket") return fail(ErrorKind::NotFound, "no such bucket");
    std::vector<ObjectInfo> out;
    for (const auto& [key, o] : objects_)
      if (key.starts_with(prefix)) out.push_back({key, static_cast<int64_t>(o.bytes.size()), o.etag, o.modified_ms});
    return out;
  }
  Result<void> fetch(const std::string&, const ObjectInfo& info, int64_t offset, const BodySink& sink) override {
    std::string bytes;
    {
      std::lock_guard lock(mutex_);
      ++fetches;
      offsets.push_back(offset);
      auto it = objects_.find(info.key);
      if (it == objects_.end()) return fail(ErrorKind::NotFound, "gone");
      if (it->second.etag != info.etag) return fail(ErrorKind::Conflict, "changed");
      if (fail_key == info.key) return fail(ErrorKind::Unavailable, "connection reset");
      bytes = it->second.bytes.substr(static_cast<size_t>(offset));
    }
    if (cut_after >= 0 && static_cast<int64_t>(bytes.size()) > cut_after) {
      sink(offset > 0 ? 206 : 200, std::string_view(bytes).substr(0, static_cast<size_t>(cut_after)));
      cut_after = -1;
      return fail(ErrorKind::Unavailable, "connection reset");
    }
    sink(offset > 0 ? 206 : 200, bytes);
    return {};
  }
  int fetches = 0;
  std::vector<int64_t> offsets;
  std::string fail_key;
  int64_t cut_after = -1;

 private:
  struct Object {
    std::string bytes;
    std::string etag;
    int64_t modified_ms;
  };
  std::mutex mutex_;
  std::map<std::string, Object> objects_;
  int etags_ = 0;
};

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class Mirror : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("sightline-mirror-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    spec_.name = "lake";
    spec_.parallel = 3;
    source_ = {"lake", "bucket", "orders/**/*.csv"};
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path copy_of(const std::string& key) const {
    return root_ / copy_folder(spec_, source_) / key;
  }
  fs::path root_;
  config::ObjectStoreSpec spec_;
  config::ObjectSource source_;
  MemoryStore store_;
};

TEST_F(Mirror, FetchesWhatChangedAndRemovesWhatWent) {
  store_.put("orders/day=1/a.csv", "id\n1\n");
  store_.put("orders/day=2/b ü.csv", "id\n2\n");
  store_.put("orders/readme.txt", "not matched");
  store_.put("other/c.csv", "id\n3\n");
  auto first = sync_objects(store_, spec_, source_, root_);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->objects, 2);
  EXPECT_EQ(first->fetched, 2);
  EXPECT_EQ(read(copy_of("orders/day=2/b ü.csv")), "id\n2\n");
  EXPECT_FALSE(fs::exists(copy_of("orders/readme.txt")));
  EXPECT_FALSE(fs::exists(copy_of("other/c.csv")));
  EXPECT_TRUE(first->local_pattern.ends_with("/bucket/orders/**/*.csv"));
  EXPECT_TRUE(has_copy(root_, spec_, source_));

  struct stat before {};
  ASSERT_EQ(::stat(copy_of("orders/day=1/a.csv").c_str(), &before), 0);
  EXPECT_EQ(before.st_mtim.tv_sec, 1'700'000'000);  // the object's Last-Modified

  auto again = sync_objects(store_, spec_, source_, root_);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->fetched, 0);
  EXPECT_EQ(store_.fetches, 2);

  store_.put("orders/day=1/a.csv", "id\n9\n");  // same size, same second: a new ETag
  store_.remove("orders/day=2/b ü.csv");
  store_.put("orders/day=3/c.csv", "id\n4\n");
  auto third = sync_objects(store_, spec_, source_, root_);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->fetched, 2);
  EXPECT_EQ(third->removed, 1);
  EXPECT_EQ(read(copy_of("orders/day=1/a.csv")), "id\n9\n");
  EXPECT_FALSE(fs::exists(copy_of("orders/day=2/b ü.csv")));
  struct stat after {};
  ASSERT_EQ(::stat(copy_of("orders/day=1/a.csv").c_str(), &after), 0);
  EXPECT_EQ(after.st_size, before.st_size);
  EXPECT_NE(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);  // the ETag tells the two versions apart
}

TEST_F(Mirror, AFailedSyncLeavesTheCopyAsItWas) {
  store_.put("orders/a.csv", "id\n1\n");
  ASSERT_TRUE(sync_objects(store_, spec_, source_, root_));
  store_.put("orders/a.csv", "id\n2\n");
  store_.put("orders/b.csv", "id\n3\n");
  store_.fail_key = "orders/b.csv";
  auto failed = sync_objects(store_, spec_, source_, root_);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, ErrorKind::Unavailable);
  EXPECT_EQ(read(copy_of("orders/a.csv")), "id\n1\n");  // not the new version: all or nothing
  EXPECT_FALSE(fs::exists(copy_of("orders/b.csv")));
  store_.fail_key.clear();
  auto fixed = sync_objects(store_, spec_, source_, root_);
  ASSERT_TRUE(fixed);
  EXPECT_EQ(read(copy_of("orders/a.csv")), "id\n2\n");
  EXPECT_EQ(read(copy_of("orders/b.csv")), "id\n3\n");
}

TEST_F(Mirror, ACutFetchResumesWhereItStopped) {
  const std::string big(10'000, 'x');
  store_.put("orders/big.csv", big);
  store_.cut_after = 4'000;
  ASSERT_FALSE(sync_objects(store_, spec_, source_, root_));
  auto resumed = sync_objects(store_, spec_, source_, root_);
  ASSERT_TRUE(resumed) << resumed.error().message;
  EXPECT_EQ(store_.offsets.back(), 4'000);
  EXPECT_TRUE(read(copy_of("orders/big.csv")) == big);
}

TEST_F(Mirror, RefusesMoreThanTheCacheHoldsAndSkipsKeysThatCannotBeFiles) {
  store_.put("orders/a.csv", std::string(2'000, 'a'));
  store_.put("orders/../../escape.csv", "x");
  store_.put("orders//double.csv", "x");
  spec_.max_cache_bytes = 1'000;
  auto refused = sync_objects(store_, spec_, source_, root_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::TooLarge);
  EXPECT_EQ(store_.fetches, 0);
  spec_.max_cache_bytes = 1 << 20;
  auto synced = sync_objects(store_, spec_, source_, root_);
  ASSERT_TRUE(synced);
  EXPECT_EQ(synced->objects, 1);
  EXPECT_EQ(synced->skipped, 2);
  EXPECT_FALSE(fs::exists(root_.parent_path() / "escape.csv"));
}

TEST_F(Mirror, UnusedCopiesAreRemoved) {
  store_.put("orders/a.csv", "id\n1\n");
  ASSERT_TRUE(sync_objects(store_, spec_, source_, root_));
  remove_unused_copies(root_, {copy_folder(spec_, source_)});
  EXPECT_TRUE(fs::exists(copy_of("orders/a.csv")));
  remove_unused_copies(root_, {});
  EXPECT_FALSE(fs::exists(copy_of("orders/a.csv")));
  EXPECT_FALSE(has_copy(root_, spec_, source_));
}

}  // namespace
}  // namespace sightline::storage
