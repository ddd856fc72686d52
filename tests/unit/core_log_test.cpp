// The JSON line logger (core/log.h): request context on every line, and hidden values that
// never reach the log whatever field quotes them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/log.h"

namespace sightline {
namespace {

std::chrono::system_clock::time_point fixed_time() {
  return std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
}

TEST(Logger, ContextFieldsJoinEveryLineAndFieldsWinOnAClash) {
  std::ostringstream out;
  Logger log(out, fixed_time);
  LogContext context = {{"request_id", "r-1"}, {"user", "pat"}};
  log.info("query", {{"statement", "sales/revenue"}, {"user", "explicit"}}, &context);
  log.warn("other", {{"n", 1}});
  std::istringstream lines(out.str());
  std::string first, second;
  std::getline(lines, first);
  std::getline(lines, second);
  auto a = nlohmann::json::parse(first), b = nlohmann::json::parse(second);
  EXPECT_EQ(a["request_id"], "r-1");
  EXPECT_EQ(a["user"], "explicit");
  EXPECT_EQ(a["time"], "2023-11-14T22:13:20.000Z");
  EXPECT_FALSE(b.contains("request_id"));
}

TEST(Logger, HiddenValuesAreRedactedInEveryFieldEvenNestedOrEscaped) {
  std::ostringstream out;
  Logger log(out, fixed_time);
  const std::string secret = "s3cr\"et-token";  // a quote: JSON escapes it in the line's text
  log.hide({secret, "ab"});                     // too short to hide without mangling text
  log.error("request_failed",
            {{"detail", "IO Error: cannot open /data/" + secret + "/x.csv"}, {"nested", {{"list", {"a", "pre-" + secret}}}}});
  const std::string line = out.str();
  EXPECT_EQ(line.find("s3cr"), std::string::npos) << line;
  EXPECT_NE(line.find("/data/[redacted]/x.csv"), std::string::npos) << line;
  EXPECT_NE(line.find("pre-[redacted]"), std::string::npos) << line;
  log.hide({"later-secret"});
  log.info("more", {{"v", "later-secret and " + secret}});
  EXPECT_EQ(out.str().find("later-secret"), std::string::npos) << "hidden values add up";
}

}  // namespace
}  // namespace sightline
