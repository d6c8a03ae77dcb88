// kmsctl's parity with the web console's additions (docs/console.md "kmsctl parity"): the real
// kmsctl against a real kmsd. principal disable and enable; audit list's server-side filters.
// Both together take about 1 s beside the cli program's kmsd.
#include "cli_fixture.hpp"

namespace kms::test {
namespace {

TEST_F(Cli, PrincipalDisableAndEnable) {
    const std::string name = unique("off");
    auto created = ctl({"--json", "principal", "create", name, "--role", "key-officer"});
    ASSERT_EQ(created.code, 0) << created.err;
    const std::string token = created.json()->getValue<std::string>("token");
    ASSERT_EQ(ctl_as(token, {"whoami"}).code, 0);

    auto off = ctl({"principal", "disable", name});
    ASSERT_EQ(off.code, 0) << off.err;
    EXPECT_EQ(label(off.out, "Disabled"), "yes") << off.out;
    auto refused = ctl_as(token, {"whoami"});
    EXPECT_EQ(refused.code, 3) << refused.err;  // 401
    EXPECT_NE(refused.err.find("is disabled"), std::string::npos) << refused.err;
    EXPECT_EQ(ctl({"principal", "disable", name}).code, 2);  // 409: already disabled

    auto on = ctl({"principal", "enable", name});
    ASSERT_EQ(on.code, 0) << on.err;
    EXPECT_EQ(label(on.out, "Disabled"), "no") << on.out;
    EXPECT_EQ(ctl_as(token, {"whoami"}).code, 0);

    EXPECT_EQ(ctl({"principal", "disable", "admin"}).code, 2);  // not oneself
    EXPECT_EQ(ctl({"principal", "enable", "no-such-principal"}).code, 4);
    EXPECT_EQ(ctl({"principal", "disable", "Bad Name"}).code, 1);  // refused before sending
}

TEST_F(Cli, AuditListFiltersByActorActionAndTime) {
    const std::string name = unique("aud-f");
    auto created = ctl({"--json", "principal", "create", name, "--role", "key-officer"});
    ASSERT_EQ(created.code, 0) << created.err;
    const std::string token = created.json()->getValue<std::string>("token");
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(ctl_as(token, {"key", "create", name + "-" + std::to_string(i), "--algorithm",
                                 "AES-128", "--usage", "mac"})
                      .code,
                  0);
    auto mine = ctl({"--json", "audit", "list", "--actor", name, "--action", "key.*"});
    ASSERT_EQ(mine.code, 0) << mine.err;
    auto recs = mine.json()->getArray("records");
    ASSERT_EQ(recs->size(), 3u) << mine.out;
    for (std::size_t i = 0; i < recs->size(); ++i)
        EXPECT_EQ(recs->getObject(static_cast<unsigned>(i))->getValue<std::string>("actor"), name);
    // One record per page, followed by --all: the same three.
    auto all = ctl({"--json", "audit", "list", "--actor", name, "--limit", "1", "--all"});
    ASSERT_EQ(all.code, 0) << all.err;
    EXPECT_EQ(all.json()->getArray("records")->size(), 3u) << all.out;
    auto table = ctl({"audit", "list", "--actor", name, "--outcome", "success", "--since",
                      "2020-01-01T00:00:00Z"});
    ASSERT_EQ(table.code, 0) << table.err;
    EXPECT_NE(table.out.find("key.create"), std::string::npos) << table.out;
    EXPECT_EQ(ctl({"audit", "list", "--actor", name, "--until", "2020-01-01T00:00:00Z"}).out,
              "No audit records.\n");
    EXPECT_EQ(ctl({"audit", "list", "--since", "yesterday"}).code, 1);  // refused by kmsctl
    EXPECT_EQ(ctl({"audit", "list", "--outcome", "maybe"}).code, 1);
    EXPECT_EQ(ctl({"audit", "list", "--actor", std::string(65, 'a')}).code, 2);  // by kmsd
}

}  // namespace
}  // namespace kms::test
