#pragma once
// The console's browser-facing safety rules, pure: response headers, the return-path check, the
// Origin check and the session cookie.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace connguard::coord::console {

using header_pairs = std::vector<std::pair<std::string, std::string>>;

inline constexpr const char* session_cookie_name = "__Host-connguard-session";
/// Binds a started sign-in to the browser that started it (login CSRF: a callback URL with someone
/// else's code and state, opened in a victim's browser, must not sign the victim in as them).
inline constexpr const char* sign_in_cookie_name = "__Host-connguard-signin";

/// The headers every response carries: CSP (default-src 'self', no inline script or style,
/// frame-ancestors 'none', form-action 'self' + the IdP's origin), X-Frame-Options DENY, nosniff,
/// no-referrer, Cache-Control no-store, and HSTS when served over https.
header_pairs security_headers(bool https, const std::string& idp_origin);

/// True for a path on this server that is safe to redirect to after sign-in: starts with one '/',
/// not "//" or "/\", no backslash, no control characters or spaces, at most 2048 characters.
bool is_local_path(std::string_view path);

/// "https://Host:443/x" -> "https://host" (scheme and host lowercased, default port dropped); "" when
/// it is not an http(s) URL.
std::string origin_of(std::string_view url);

/// Whether a state-changing request may proceed on Origin grounds: an Origin header must equal
/// `expected`; without one, Sec-Fetch-Site (when sent) must be "same-origin"; a request with
/// neither (a script, never a browser) passes to the CSRF token check.
bool origin_allowed(const std::string& origin_header, const std::string& sec_fetch_site, const std::string& expected);

/// The value of cookie `name` in a Cookie header; "" when absent.
std::string cookie_value(std::string_view cookie_header, std::string_view name);

/// Set-Cookie for the session: HttpOnly; Secure; SameSite=Strict; Path=/ (max_age_s < 0: no Max-Age;
/// 0: deletes it).
std::string session_cookie(const std::string& value, long long max_age_s);

/// Set-Cookie for the sign-in binding: HttpOnly; Secure; SameSite=Lax (it must come back on the
/// IdP's top-level redirect to /auth/callback, a cross-site navigation); Path=/ (0: deletes it).
std::string sign_in_cookie(const std::string& value, long long max_age_s);

/// Constant-time comparison of two tokens.
bool tokens_equal(std::string_view a, std::string_view b);

}  // namespace connguard::coord::console
