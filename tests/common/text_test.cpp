// Unit tests of common/text.h: ASCII case helpers, base64 / base64url, enum short names.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/text.h"
#include "connguard/v1/common.pb.h"

namespace connguard {
namespace {

TEST(Text, LowerCasesAsciiOnly) {
    EXPECT_EQ(to_lower("Contoso.ONMicrosoft.com"), "contoso.onmicrosoft.com");
    EXPECT_EQ(to_lower(""), "");
    EXPECT_EQ(to_lower("A-Z_0-9 \xc3\x84"), "a-z_0-9 \xc3\x84") << "bytes outside ASCII stay as they are";
}

TEST(Text, ComparesIgnoringAsciiCase) {
    EXPECT_TRUE(iequals("enabledForReportingButNotEnforced", "ENABLEDFORREPORTINGBUTNOTENFORCED"));
    EXPECT_TRUE(iequals("", ""));
    EXPECT_FALSE(iequals("All", "Al"));
    EXPECT_FALSE(iequals("guest", "guests"));
    EXPECT_FALSE(iequals("\xc3\x84", "\xc3\xa4")) << "no Unicode case folding";
}

const std::vector<std::string>& samples() {
    static const std::vector<std::string> s = {"", "f", "fo", "foo", "foob", "fooba", "foobar",
                                               std::string("\0\xff\x10", 3), std::string("\xfb\xff\xbf", 3)};
    return s;
}

TEST(Text, Base64IsRfc4648WithPadding) {
    EXPECT_EQ(base64_encode(""), "");
    EXPECT_EQ(base64_encode("f"), "Zg==");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64_encode("\xfb\xff\xbf"), "+/+/");
    for (const auto& s : samples()) {
        const auto d = base64_decode(base64_encode(s));
        ASSERT_TRUE(d.has_value()) << s;
        EXPECT_EQ(*d, s);
    }
}

TEST(Text, Base64DecodesOnlyStrictPaddedText) {
    EXPECT_FALSE(base64_decode("Zg").has_value()) << "unpadded";
    EXPECT_FALSE(base64_decode("abc").has_value());
    EXPECT_FALSE(base64_decode("a*cd").has_value());
    EXPECT_FALSE(base64_decode("-_-_").has_value()) << "base64url alphabet";
    EXPECT_FALSE(base64_decode("Z===").has_value());
    EXPECT_FALSE(base64_decode("Zg==Zg==").has_value()) << "padding in the middle";
    EXPECT_FALSE(base64_decode("Zm=v").has_value());
}

TEST(Text, Base64urlHasNoPaddingAndDecodesEitherAlphabet) {
    EXPECT_EQ(base64url_encode("f"), "Zg");
    EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
    EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");
    for (const auto& s : samples()) {
        const auto url = base64url_decode(base64url_encode(s));
        ASSERT_TRUE(url.has_value()) << s;
        EXPECT_EQ(*url, s);
        const auto standard = base64url_decode(base64_encode(s));
        ASSERT_TRUE(standard.has_value()) << "standard alphabet with padding is accepted too: " << s;
        EXPECT_EQ(*standard, s);
    }
    EXPECT_FALSE(base64url_decode("a*b").has_value());
    EXPECT_FALSE(base64url_decode("Zm9vY").has_value()) << "a final group of one character is truncated";
}

TEST(Text, EnumWordIsTheGeneratedNameWithoutItsPrefix) {
    EXPECT_EQ(enum_word(v1::CheckStatus_Name(v1::CHECK_STATUS_WARN), "CHECK_STATUS_"), "WARN");
    EXPECT_EQ(enum_word(v1::CheckStatus_Name(v1::CHECK_STATUS_UNSPECIFIED), "CHECK_STATUS_"), "UNSPECIFIED");
    EXPECT_EQ(enum_word(v1::RemediationKind_Name(v1::REMEDIATION_KIND_EXCLUDE_FROM_CA_POLICY), "REMEDIATION_KIND_"),
              "EXCLUDE_FROM_CA_POLICY");
    EXPECT_EQ(enum_word(v1::CheckStatus_Name(static_cast<v1::CheckStatus>(99)), "CHECK_STATUS_"), "UNSPECIFIED")
        << "a number the enum does not define";
    EXPECT_EQ(enum_word("OTHER_NAME", "CHECK_STATUS_"), "OTHER_NAME");
}

TEST(Text, DurationWordsPicksTheUnitAPersonWouldSay) {
    EXPECT_EQ(duration_words(-5), "0 ms");
    EXPECT_EQ(duration_words(750), "750 ms");
    EXPECT_EQ(duration_words(5'000), "5 s");
    EXPECT_EQ(duration_words(119'999), "119 s");
    EXPECT_EQ(duration_words(120'000), "2 min");
    EXPECT_EQ(duration_words(121'000), "2 min 1 s");
    EXPECT_EQ(duration_words(660'000), "11 min");
    EXPECT_EQ(duration_words(2LL * 3600'000), "2 h");
    EXPECT_EQ(duration_words(3LL * 3600'000 + 5 * 60'000 + 59'000), "3 h 5 min");
}

TEST(Text, HtmlEscapeLeavesNoMarkupAndNoWayOutOfAQuotedAttribute) {
    EXPECT_EQ(html_escape("<img src=x onerror=alert(1)>"), "&lt;img src=x onerror=alert(1)&gt;");
    EXPECT_EQ(html_escape(R"(a" onmouseover='x' & b)"), "a&quot; onmouseover=&#39;x&#39; &amp; b");
    EXPECT_EQ(html_escape("Contoso — Zürich"), "Contoso — Zürich") << "UTF-8 passes unchanged";
}

}  // namespace
}  // namespace connguard
