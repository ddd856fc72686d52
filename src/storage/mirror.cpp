#include "storage/mirror.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "auth/crypto.h"

namespace sightline::storage {

namespace fs = std::filesystem;

namespace {

std::vector<std::string_view> parts_of(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t end = text.find('/', start);
    out.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

bool match_parts(const std::vector<std::string_view>& pattern, size_t p, const std::vector<std::string_view>& key, size_t k) {
  if (p == pattern.size()) return k == key.size();
  if (pattern[p] == "**") {
    for (size_t skip = k; skip <= key.size(); ++skip)
      if (match_parts(pattern, p + 1, key, skip)) return true;
    return false;
  }
  if (k == key.size()) return false;
  const std::string pat(pattern[p]), part(key[k]);
  if (fnmatch(pat.c_str(), part.c_str(), FNM_PERIOD) != 0) return false;
  return match_parts(pattern, p + 1, key, k + 1);
}

// A key the file system can hold as it is, below the copy's folder.
bool storable(std::string_view key) {
  if (key.empty() || key.back() == '/' || key.front() == '/') return false;
  for (auto part : parts_of(key))
    if (part.empty() || part == "." || part == ".." || part.size() > 255) return false;
  return key.find('\0') == std::string_view::npos;
}

struct Manifest {
  struct Entry {
    std::string etag;
    int64_t size = 0;
    int64_t modified_ms = 0;
  };
  std::map<std::string, Entry> objects;  // by key
};

fs::path manifest_path(const fs::path& copy) { return copy.parent_path() / (".manifest-" + copy.filename().string() + ".json"); }

Manifest read_manifest(const fs::path& copy) {
  Manifest m;
  std::ifstream in(manifest_path(copy));
  if (!in) return m;
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object() || !j["objects"].is_object()) return m;
  for (auto it = j["objects"].begin(); it != j["objects"].end(); ++it) {
    const auto& e = it.value();
    if (!e.is_object()) continue;
    m.objects[it.key()] = {e.value("etag", ""), e.value("size", int64_t{0}), e.value("modified_ms", int64_t{0})};
  }
  return m;
}

Result<void> write_manifest(const fs::path& copy, const Manifest& m) {
  nlohmann::json j = {{"objects", nlohmann::json::object()}};
  for (const auto& [key, e] : m.objects) j["objects"][key] = {{"etag", e.etag}, {"size", e.size}, {"modified_ms", e.modified_ms}};
  const fs::path target = manifest_path(copy);
  const fs::path temp = target.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << j.dump();
    out.flush();
    if (!out) return fail(ErrorKind::Unavailable, "the object copies' manifest cannot be written", "check the state directory's free space");
  }
  std::error_code ec;
  fs::rename(temp, target, ec);
  if (ec) return fail(ErrorKind::Unavailable, "the object copies' manifest cannot be written", "check the state directory's permissions");
  return {};
}

// The copy's modification time: Last-Modified, with nanoseconds from the ETag.
timespec stamp_of(const ObjectInfo& o) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : o.etag) h = (h ^ c) * 1099511628211ULL;
  timespec t{};
  t.tv_sec = static_cast<time_t>(o.modified_ms / 1000);
  t.tv_nsec = static_cast<long>((o.modified_ms % 1000) * 1'000'000 + h % 1'000'000);
  return t;
}

// Fetches `o` into `partial`, resuming a partial file of the same object and ETag.
Result<void> fetch_into(ObjectStore& store, const std::string& container, const ObjectInfo& o, const fs::path& partial) {
  std::error_code ec;
  int64_t have = fs::exists(partial, ec) ? static_cast<int64_t>(fs::file_size(partial, ec)) : 0;
  if (ec || have > o.size) have = 0;
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | (have > 0 ? 0 : O_TRUNC), 0600);
  if (fd < 0) return fail(ErrorKind::Unavailable, "a local copy of an object cannot be written", "check the state directory's permissions");
  bool restarted = false;
  bool write_failed = false;
  if (have > 0) ::lseek(fd, 0, SEEK_END);
  auto sink = [&](long status, std::string_view bytes) {
    if (status == 200 && have > 0 && !restarted) {  // the range was ignored: the whole object follows
      restarted = true;
      if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) return write_failed = true, false;
    }
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n <= 0) return write_failed = true, false;
      done += static_cast<size_t>(n);
    }
    return true;
  };
  auto fetched = have >= o.size && o.size > 0 ? Result<void>() : store.fetch(container, o, have, sink);
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (write_failed) return fail(ErrorKind::Unavailable, "a local copy of an object cannot be written", "check the state directory's free space");
  if (!fetched) {
    if (fetched.error().kind == ErrorKind::Conflict) fs::remove(partial, ec);  // another version now: start over next time
    return fetched;
  }
  if (!synced) return fail(ErrorKind::Unavailable, "a local copy of an object cannot be written", "check the state directory's free space");
  const auto size = static_cast<int64_t>(fs::file_size(partial, ec));
  if (ec || size != o.size) {
    fs::remove(partial, ec);
    return fail(ErrorKind::Unavailable, "object '" + o.key + "' arrived with " + std::to_string(size) + " of " + std::to_string(o.size) + " bytes",
                "it changed while it was read, or the connection broke; the next refresh reads it again");
  }
  const timespec times[2] = {stamp_of(o), stamp_of(o)};
  ::utimensat(AT_FDCWD, partial.c_str(), times, 0);
  return {};
}

std::string hex_name(std::string_view text) {
  return auth::sha256_hex(text).substr(0, 32);
}

}  // namespace

bool key_matches(std::string_view pattern, std::string_view key) { return match_parts(parts_of(pattern), 0, parts_of(key), 0); }

std::string listing_prefix(std::string_view pattern) {
  const size_t wild = pattern.find_first_of("*?[");
  return std::string(pattern.substr(0, wild));
}

std::string copy_folder(const config::ObjectStoreSpec& spec, const config::ObjectSource& source) {
  // Two stores (or endpoints, or accounts) never share a folder.
  const std::string who = std::string(spec.kind == config::ObjectStoreKind::S3 ? "s3" : "az") + "\n" + spec.endpoint + "\n" + spec.account +
                          "\n" + spec.region;
  return std::string(spec.kind == config::ObjectStoreKind::S3 ? "s3-" : "az-") + hex_name(who).substr(0, 16) + "/" + source.container;
}

std::string local_pattern(const fs::path& root, const config::ObjectStoreSpec& spec, const config::ObjectSource& source) {
  return (root / copy_folder(spec, source) / source.pattern).lexically_normal().string();
}

bool has_copy(const fs::path& root, const config::ObjectStoreSpec& spec, const config::ObjectSource& source) {
  std::error_code ec;
  return fs::exists(manifest_path(root / copy_folder(spec, source)), ec);
}

Result<MirrorSync> sync_objects(ObjectStore& store, const config::ObjectStoreSpec& spec, const config::ObjectSource& source,
                                const fs::path& root) {
  MirrorSync out;
  out.local_pattern = local_pattern(root, spec, source);
  const fs::path copy = root / copy_folder(spec, source);
  const fs::path partials = root / ".partial";
  std::error_code ec;
  fs::create_directories(copy, ec);
  fs::create_directories(partials, ec);
  if (ec) return fail(ErrorKind::Unavailable, "the folder for object copies cannot be created", "check the state directory's permissions");
  fs::permissions(root, fs::perms::owner_all, fs::perm_options::replace, ec);

  auto listed = store.list(source.container, listing_prefix(source.pattern));
  if (!listed) return fail(listed.error());
  std::vector<ObjectInfo> matched;
  for (auto& o : *listed) {
    if (!key_matches(source.pattern, o.key)) continue;
    if (!storable(o.key)) {
      ++out.skipped;
      continue;
    }
    out.bytes += o.size;
    matched.push_back(std::move(o));
  }
  if (out.bytes > spec.max_cache_bytes)
    return fail(ErrorKind::TooLarge,
                "the objects matching '" + source.pattern + "' take " + std::to_string(out.bytes) + " bytes, more than object store '" +
                    spec.name + "' may keep (max_cache: " + std::to_string(spec.max_cache_bytes) + " bytes)",
                "raise max_cache, or narrow the key pattern");

  Manifest manifest = read_manifest(copy);
  std::vector<const ObjectInfo*> wanted;
  for (const auto& o : matched) {
    auto it = manifest.objects.find(o.key);
    const bool kept = it != manifest.objects.end() && it->second.etag == o.etag && it->second.size == o.size &&
                      fs::file_size(copy / o.key, ec) == static_cast<uintmax_t>(o.size) && !ec;
    if (!kept) wanted.push_back(&o);
  }
  auto partial_of = [&](const ObjectInfo& o) { return partials / hex_name(copy.string() + "\n" + o.key + "\n" + o.etag); };

  // Fetch everything first; nothing in the copy changes unless all of it arrived.
  std::atomic<size_t> next{0};
  std::mutex failure_mutex;
  std::optional<Error> failure;
  std::atomic<int64_t> bytes_fetched{0};
  auto worker = [&] {
    for (size_t i = next++; i < wanted.size(); i = next++) {
      {
        std::lock_guard lock(failure_mutex);
        if (failure) return;
      }
      auto done = fetch_into(store, source.container, *wanted[i], partial_of(*wanted[i]));
      if (!done) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = done.error();
        return;
      }
      bytes_fetched += wanted[i]->size;
    }
  };
  const size_t threads = std::min<size_t>(static_cast<size_t>(std::max(1, spec.parallel)), wanted.size());
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  if (threads > 0) worker();
  for (auto& t : pool) t.join();
  if (failure) return fail(*failure);

  for (const ObjectInfo* o : wanted) {
    const fs::path target = copy / o->key;
    fs::create_directories(target.parent_path(), ec);
    fs::rename(partial_of(*o), target, ec);
    if (ec) return fail(ErrorKind::Unavailable, "a local copy of an object cannot be moved into place", "check the state directory");
    manifest.objects[o->key] = {o->etag, o->size, o->modified_ms};
  }
  std::set<std::string> present;
  for (const auto& o : matched) present.insert(o.key);
  for (auto it = manifest.objects.begin(); it != manifest.objects.end();) {
    if (key_matches(source.pattern, it->first) && !present.count(it->first)) {
      fs::remove(copy / it->first, ec);
      ++out.removed;
      it = manifest.objects.erase(it);
    } else {
      ++it;
    }
  }
  if (auto written = write_manifest(copy, manifest); !written) return fail(written.error());
  out.objects = static_cast<int64_t>(matched.size());
  out.fetched = static_cast<int64_t>(wanted.size());
  out.bytes_fetched = bytes_fetched.load();
  return out;
}

void remove_unused_copies(const fs::path& root, const std::set<std::string>& in_use) {
  std::error_code ec;
  // Partial fetches of objects that changed since are never resumed: gone after a day.
  const auto day_ago = fs::file_time_type::clock::now() - std::chrono::hours(24);
  for (const auto& partial : fs::directory_iterator(root / ".partial", ec))
    if (partial.last_write_time(ec) < day_ago && !ec) fs::remove(partial.path(), ec);
  for (const auto& store_dir : fs::directory_iterator(root, ec)) {
    const std::string store_name = store_dir.path().filename().string();
    if (!store_dir.is_directory(ec) || store_name == ".partial") continue;
    for (const auto& entry : fs::directory_iterator(store_dir.path(), ec)) {
      const std::string name = entry.path().filename().string();
      const std::string container = name.starts_with(".manifest-") && name.ends_with(".json") ? name.substr(10, name.size() - 15) : name;
      if (!in_use.count(store_name + "/" + container)) fs::remove_all(entry.path(), ec);
    }
  }
}

}  // namespace sightline::storage
