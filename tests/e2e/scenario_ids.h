#pragma once
// Ids from the shipped simulator scenarios (tools/graph-sim/scenarios/*.json) that the end-to-end
// tests name: one place, so a scenario edit breaks one definition, not several copies.

namespace connguard::e2e::ids {

// contoso-healthy.json
inline constexpr const char* contoso_domain = "contoso-healthy.onmicrosoft.com";
inline constexpr const char* contoso_account = "a1b2c3d4-0000-4000-8000-000000000011";
// fabrikam-mfa.json
inline constexpr const char* fabrikam_domain = "fabrikam-mfa.onmicrosoft.com";
inline constexpr const char* fabrikam_account = "a1b2c3d4-0000-4000-8000-000000000021";
inline constexpr const char* ca000 = "809741fe-fb1b-4746-9ff0-83a978a4c891";  ///< CA000 Require MFA for all users
// northwind-secdefaults.json
inline constexpr const char* northwind_domain = "northwind-secdefaults.onmicrosoft.com";
inline constexpr const char* northwind_upn = "svc-connguard@northwind-secdefaults.onmicrosoft.com";
inline constexpr const char* northwind_account = "a1b2c3d4-0000-4000-8000-000000000031";
// tailspin-managed.json
inline constexpr const char* tailspin_domain = "tailspin-managed.onmicrosoft.com";
inline constexpr const char* tailspin_account = "a1b2c3d4-0000-4000-8000-000000000041";

// Entra's well-known ids
inline constexpr const char* global_admin = "62e90394-69f5-4237-9190-012177145e10";  ///< role template

}  // namespace connguard::e2e::ids
