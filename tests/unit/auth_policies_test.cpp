// Row policies: placeholders become bound parameters, roles combine by union, and a relation
// without a policy for any of the user's roles reads nothing.
#include <gtest/gtest.h>

#include "arrow/json_writer.h"
#include "auth/policies.h"
#include "duckdb_fixture.h"

namespace sightline::auth {
namespace {

config::Project project_with_policies() {
  config::Project p;
  p.auth.mode = config::AuthMode::Proxy;
  p.roles = {{"admin", {"admins"}, {}}, {"north", {"sales-north"}, {}}, {"owner", {"owners"}, {}}};
  auto policy = [](std::string rel, std::string role, std::string pred) {
    config::PolicySpec s;
    s.relation = std::move(rel);
    s.role = std::move(role);
    s.all_rows = pred == "all";
    if (!s.all_rows) s.predicate = std::move(pred);
    return s;
  };
  p.policies = {policy("orders", "admin", "all"), policy("orders", "north", "region = 'North'"),
                policy("orders", "owner", "owner = {{ user.email }}"), policy("customers", "admin", "all")};
  return p;
}

User user_in(std::vector<std::string> groups, std::string email = "ann@example.com") {
  User u;
  u.identity = {"https://idp.example", "ann", email, "Ann", std::move(groups), {{"team", "blue"}, {"levels", {1, 2}}}};
  u.roles = roles_for(project_with_policies(), u.identity);
  return u;
}

TEST(AuthPolicies, RolesComeFromGroupsInProjectOrder) {
  EXPECT_EQ(user_in({"owners", "sales-north", "other"}).roles, (std::vector<std::string>{"north", "owner"}));
  EXPECT_TRUE(user_in({}).roles.empty());
}

TEST(AuthPolicies, VisibilityByRoles) {
  EXPECT_TRUE(can_see({}, user_in({})));
  EXPECT_TRUE(can_see({"north", "admin"}, user_in({"sales-north"})));
  EXPECT_FALSE(can_see({"admin"}, user_in({"sales-north"})));
}

TEST(AuthPolicies, PlaceholdersAreParametersNeverText) {
  Identity id{"iss", "sub-1", "o'brien@example.com", "O'Brien", {"a", "b'); DROP TABLE x; --"}, {{"team", "blue"}, {"levels", {1, 2}}}};
  auto f = compile_policy("owner = {{ user.email }} AND list_contains({{user.groups}}, team) AND t = {{ user.claims.team }}", id);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->sql, "owner = ? AND list_contains(CAST([?, ?] AS VARCHAR[]), team) AND t = ?");
  ASSERT_EQ(f->params.size(), 4u);
  EXPECT_EQ(std::get<std::string>(f->params[0]), "o'brien@example.com");
  EXPECT_EQ(std::get<std::string>(f->params[2]), "b'); DROP TABLE x; --");
  EXPECT_EQ(std::get<std::string>(f->params[3]), "blue");
  auto numbers = compile_policy("level IN (SELECT unnest({{ user.claims.levels }}))", id);
  ASSERT_TRUE(numbers);
  EXPECT_NE(numbers->sql.find("DOUBLE[]"), std::string::npos);
}

TEST(AuthPolicies, MissingAttributesAreNullNotEmptyText) {
  Identity id{"proxy", "bob", "", "", {}, nlohmann::json::object()};
  auto f = compile_policy("owner = {{ user.email }} OR x = {{ user.claims.absent }}", id);
  ASSERT_TRUE(f);
  ASSERT_EQ(f->params.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<std::nullptr_t>(f->params[0]));
  EXPECT_TRUE(std::holds_alternative<std::nullptr_t>(f->params[1]));
  auto empty_groups = compile_policy("list_contains({{ user.groups }}, team)", id);
  ASSERT_TRUE(empty_groups);
  EXPECT_EQ(empty_groups->sql, "list_contains(CAST([] AS VARCHAR[]), team)");
}

TEST(AuthPolicies, UnknownPlaceholdersAndUnclosedBracesAreErrors) {
  Identity id;
  EXPECT_FALSE(compile_policy("x = {{ user.password }}", id));
  EXPECT_FALSE(compile_policy("x = {{ user.email", id));
}

TEST(AuthPolicies, ScopeIsTheUnionOfRolesAndDeniesWhatNoRoleGrants) {
  auto p = project_with_policies();
  auto both = scope_for(p, user_in({"sales-north", "owners"}));
  ASSERT_TRUE(both);
  auto orders = both->predicate_for("orders");
  EXPECT_EQ(orders.sql, "((region = 'North') OR (owner = ?))");
  ASSERT_EQ(orders.params.size(), 1u);
  EXPECT_EQ(both->predicate_for("customers").sql, "FALSE");  // no policy for north/owner
  EXPECT_EQ(both->predicate_for("anything_else").sql, "FALSE");
  EXPECT_FALSE(both->unrestricted());

  auto admin = scope_for(p, user_in({"admins", "sales-north"}));
  ASSERT_TRUE(admin);
  EXPECT_TRUE(admin->predicate_for("orders").empty()) << "all wins over a narrower role";
  EXPECT_TRUE(admin->predicate_for("customers").empty());

  auto nobody = scope_for(p, user_in({}));
  ASSERT_TRUE(nobody);
  EXPECT_EQ(nobody->predicate_for("orders").sql, "FALSE");
}

TEST(AuthPolicies, ScopeKeysDifferExactlyWhenGrantsDiffer) {
  auto p = project_with_policies();
  auto ann = scope_for(p, user_in({"owners"}, "ann@example.com"));
  auto ann_again = scope_for(p, user_in({"owners", "unrelated"}, "ann@example.com"));
  auto bob = scope_for(p, user_in({"owners"}, "bob@example.com"));
  ASSERT_TRUE(ann && ann_again && bob);
  EXPECT_EQ(ann->key(), ann_again->key());
  EXPECT_NE(ann->key(), bob->key());
  EXPECT_NE(ann->key(), query::Scope::local_development().key());
}

// Policies run against DuckDB: claims bind typed, so a numeric claim compares with a numeric column.
class AuthPoliciesOnDuckDB : public testing::DuckDBTest {
 protected:
  void SetUp() override {
    DuckDBTest::SetUp();
    ASSERT_TRUE(
        conn_->execute("CREATE TABLE orders AS SELECT range AS id, CAST(range * 100 AS DECIMAL(10, 2)) AS amount, "
                       "'r' || range AS region FROM range(1, 11)"));
  }
  // How many of the ten orders (amounts 100 .. 1000) the policy grants to `identity`.
  Result<int64_t> granted(const std::string& policy, const Identity& identity) {
    auto compiled = compile_policy(policy, identity);
    if (!compiled) return fail(compiled.error());
    auto st = conn_->prepare("SELECT count(*) AS n FROM orders WHERE " + compiled->sql);
    if (!st) return fail(st.error());
    auto out = st->execute(compiled->params, 1);
    if (!out) return fail(out.error());
    auto text = arrow::write_json_rows(out->table);
    if (!text) return fail(text.error());
    return nlohmann::json::parse(*text)["rows"][0][0].get<int64_t>();
  }
  static Identity with_claims(nlohmann::json claims) { return {"iss", "sub", "a@example.com", "A", {}, std::move(claims)}; }
};

TEST_F(AuthPoliciesOnDuckDB, NumericClaimsCompareWithNumericColumns) {
  auto capped = granted("amount <= {{ user.claims.max_amount }}", with_claims({{"max_amount", 450}}));
  ASSERT_TRUE(capped) << capped.error().message;
  EXPECT_EQ(*capped, 4);
  auto fractional = granted("amount <= {{ user.claims.max_amount }} * 2", with_claims({{"max_amount", 250.5}}));
  ASSERT_TRUE(fractional) << fractional.error().message;
  EXPECT_EQ(*fractional, 5);
}

TEST_F(AuthPoliciesOnDuckDB, AMissingClaimFitsAnyTypeAndGrantsNothing) {
  // `sightline check` runs every policy with a sample user who has no claims: the NULL must not
  // turn the comparison into number-versus-text.
  for (const char* policy : {"amount <= {{ user.claims.max_amount }}", "region = {{ user.claims.region }}",
                             "list_contains({{ user.claims.regions }}, region)"}) {
    auto none = granted(policy, with_claims(nlohmann::json::object()));
    ASSERT_TRUE(none) << policy << ": " << none.error().message;
    EXPECT_EQ(*none, 0) << policy;
  }
  auto text = granted("region = {{ user.claims.region }}", with_claims({{"region", "r3"}}));
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, 1);
}

}  // namespace
}  // namespace sightline::auth
