// kmsctl's parity with the web console's additions (docs/console.md "kmsctl parity"): the real
// kmsctl against a real kmsd. principal disable and enable; audit list's server-side filters.
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
    EXPECT_EQ(refused.code, 3) << refused.err;               // 401
    EXPECT_EQ(ctl({"principal", "disable", name}).code, 2);  // 409: already disabled

    auto on = ctl({"principal", "enable", name});
    ASSERT_EQ(on.code, 0) << on.err;
    EXPECT_EQ(label(on.out, "Disabled"), "no") << on.out;
    EXPECT_EQ(ctl_as(token, {"whoami"}).code, 0);

    EXPECT_EQ(ctl({"principal", "disable", "admin"}).code, 2);  // not oneself
    EXPECT_EQ(ctl({"principal", "enable", "no-such-principal"}).code, 4);
    EXPECT_EQ(ctl({"principal", "disable", "Bad Name"}).code, 1);  // refused before sending
}

}  // namespace
}  // namespace kms::test
